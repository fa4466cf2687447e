"""`--strategy` and `--mixed_precision` by name, and which worker writes what.

default: tf.distribute's default strategy (one device); mirrored: MirroredStrategy over the local
GPUs (or the logical CPUs, for tests); multi_worker: MultiWorkerMirroredStrategy, cluster from
TF_CONFIG; tpu: TPUStrategy (cluster from TPU_NAME / the TPU VM). Every worker of a multi-worker run
runs the same program; only the chief writes summaries, metrics and the final checkpoint directory,
the others save into temporary folders that they delete (TF requires every worker to save).
"""
import json
import os
import re
import shutil
import subprocess
import sys

import keras
import tensorflow as tf
from tensorflow.python.eager import context

from i3d_tf import config

STRATEGIES = config.STRATEGIES  # --strategy's choices, declared with the setting
PRECISIONS = config.PRECISIONS
# How long a multi-worker task waits for its peers (--cluster_wait_seconds): for the cluster to
# connect at the start, and in each collective (all-reduce) for the other tasks to join it.
DEFAULT_CLUSTER_WAIT_S = config.DEFAULT_CLUSTER_WAIT_S
# A coordination-service wait with no bound of its own (the chief's evaluation and export, which
# take what they take): a dead or stopped peer still ends it through the service's heartbeats.
_UNBOUNDED_BARRIER_MS = 7 * 24 * 3600 * 1000


class PeerLostError(RuntimeError):
  """A multi-worker collective or barrier failed: a task stopped, died or did not join in time."""


def cluster_tasks():
  """{(job, index): address} of TF_CONFIG's cluster; {} without one."""
  config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
  return {(job, index): address for job, addresses in config.get("cluster", {}).items()
          for index, address in enumerate(addresses)}


def coordination_leader():
  """(job, index) of the task that runs TF's coordination service: the chief, else worker 0."""
  jobs = {job for job, _ in cluster_tasks()}
  return ("chief", 0) if "chief" in jobs else ("worker", 0)


def lost_tasks(error):
  """The tasks a multi-worker error is about, as 'worker 1 (host:port)': the ones TF's message
  names by task (a peer whose heartbeats stopped) or by address (a dead peer's refused
  connection), the coordination leader when this task's own heartbeat to it timed out, else
  every other task (a collective none of them joined in time)."""
  text = str(error)
  tasks = cluster_tasks()
  me = tf_config_task()[:2]
  named = sorted({(job, int(index)) for job, index in
                  re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", text)} - {me})
  if not named:  # a connection refused: TF names the peer's address
    named = sorted(key for key, address in tasks.items()
                   if key != me and re.search(re.escape(address) + r"(?!\d)", text))
  if not named and "CoordinationService/Heartbeat" in text:
    named = [coordination_leader()]
  if not named:
    named = sorted(key for key in tasks if key != me)
  return [f"{job} {index} ({tasks.get((job, index), '?')})" for job, index in named]


def peer_lost_error(error, step, last_saved_step, seconds):
  """The PeerLostError for a failed collective at `step`: which tasks, what to do."""
  task_type, task_id, _ = tf_config_task()
  lines = str(error).strip().splitlines()
  cause = next((line for line in lines if "aborted by" in line or "unhealthy" in line
                or "Deadline" in line or "timed out" in line), lines[0] if lines else "")
  saved = f"step {last_saved_step}" if last_saved_step is not None else "none"
  return PeerLostError(
      f"multi-worker run: {task_type} {task_id} stopped at step {step}: lost "
      f"{', '.join(lost_tasks(error)) or 'a peer'} (it stopped, died or did not join the "
      f"collective within {seconds:g} s, --cluster_wait_seconds; TensorFlow: "
      f"{type(error).__name__}: {cause.strip()}). The last checkpoint is {saved}; restart every "
      f"task of TF_CONFIG with the same command to resume there.")


def collective_timeout(strategy):
  """Seconds a collective of `strategy` waits for the other tasks (0: unbounded)."""
  options = getattr(strategy.extended, "_communication_options", None)
  return getattr(options, "timeout_seconds", None) or 0


def wait_for_all_tasks(name):
  """A barrier of every task through TF's coordination service, not a collective: its wait is
  unbounded (the chief's evaluation takes what it takes) but ends with an error when a task's
  heartbeats stop."""
  context.context().wait_at_barrier(name, _UNBOUNDED_BARRIER_MS)


def tf_config_task():
  """(task_type, task_id, is_chief) from TF_CONFIG, before any strategy exists; (None, 0, True)
  without one."""
  config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
  task = config.get("task", {})
  task_type, task_id = task.get("type"), int(task.get("index", 0) or 0)
  if not task_type:
    return None, 0, True
  cluster = config.get("cluster", {})
  chief = task_type == "chief" if "chief" in cluster else (task_type == "worker" and task_id == 0)
  return task_type, task_id, chief


class _ClusterWatchdog:
  """Ends this process when the cluster has not formed after `seconds`, naming the missing tasks.

  TensorFlow's multi-worker start blocks in C++ ("Waiting for 1/2 tasks to connect") holding the
  GIL, with no timeout that reaches it, so neither a Python thread nor a signal handler can run:
  a small stdlib-only process (i3d_tf.training.cluster_watchdog) waits on a pipe from this one and,
  when the bound passes first, names the tasks whose servers do not answer and kills this process.
  Nothing has been written then (the strategy is made before the model is built).
  """

  def __init__(self, seconds):
    self.seconds = seconds
    self._process = None

  def __enter__(self):
    if self.seconds and self.seconds > 0:
      self._process = subprocess.Popen(
          [sys.executable, "-m", "i3d_tf.training.cluster_watchdog", str(os.getpid()),
           str(self.seconds)], stdin=subprocess.PIPE,
          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return self

  def __exit__(self, *exc):
    if self._process is not None:
      self._process.stdin.close()  # EOF: the watchdog exits quietly
      self._process.wait()


def make_strategy(name, tpu_address=None, cluster_wait_seconds=DEFAULT_CLUSTER_WAIT_S):
  """The strategy called `name`; a multi-worker start and each of its collectives give up after
  cluster_wait_seconds."""
  if name not in STRATEGIES:
    raise ValueError(f"--strategy={name!r} is not one of: {', '.join(STRATEGIES)}")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--strategy=multi_worker needs TF_CONFIG (see WORKSPACE.md, 'Training on "
                       "many GPUs and machines')")
    # Every all-reduce waits at most cluster_wait_seconds for the other tasks to join it (a peer
    # alive but stuck); a stopped or dead peer ends it sooner through the heartbeats of TF's
    # coordination service (~10 s). Either ends in a PeerLostError (loop.Trainer.train).
    communication = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO,
        timeout_seconds=float(cluster_wait_seconds) if cluster_wait_seconds else None)
    with _ClusterWatchdog(cluster_wait_seconds):
      # Blocks until every task of the cluster has registered with the coordination service.
      strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)
    return strategy
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


def set_mixed_precision(name):
  """Sets Keras's global dtype policy; call before building the model."""
  if name not in PRECISIONS:
    raise ValueError(f"--mixed_precision={name!r} is not one of: {', '.join(PRECISIONS)}")
  policies = {"none": "float32", "bfloat16": "mixed_bfloat16", "mixed_float16": "mixed_float16"}
  keras.mixed_precision.set_global_policy(policies[name])


def task_info(strategy):
  """(task_type, task_id) of this process; ('chief'/'worker', 0) for single-process runs."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not getattr(resolver, "task_type", None):
    return None, 0
  return resolver.task_type, resolver.task_id or 0


def is_chief(strategy):
  task_type, _ = task_info(strategy)
  if task_type is None:
    return True
  return tf_config_task()[2]


def write_dir(directory, strategy):
  """Where this worker writes `directory`: itself on the chief, a temporary folder elsewhere."""
  if is_chief(strategy):
    return directory
  task_type, task_id = task_info(strategy)
  return os.path.join(directory, ".worker_tmp", f"{task_type}_{task_id}")


def cleanup_write_dir(directory, strategy):
  if not is_chief(strategy):
    shutil.rmtree(write_dir(directory, strategy), ignore_errors=True)
