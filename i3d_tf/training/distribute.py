"""`--strategy` and `--mixed_precision` by name, and which worker writes what.

default: tf.distribute's default strategy (one device); mirrored: MirroredStrategy over the local
GPUs (or the logical CPUs, for tests); multi_worker: MultiWorkerMirroredStrategy, cluster from
TF_CONFIG; tpu: TPUStrategy (cluster from TPU_NAME / the TPU VM). Every worker of a multi-worker run
runs the same program; only the chief writes summaries, metrics and the final checkpoint directory,
the others save into temporary folders that they delete (TF requires every worker to save).
"""
import json
import os
import shutil
import subprocess
import sys

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("none", "bfloat16", "mixed_float16")
# How long a multi-worker task waits for its peers to start (--cluster_wait_seconds).
DEFAULT_CLUSTER_WAIT_S = 600


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
  """The strategy called `name`; a multi-worker start gives up after cluster_wait_seconds."""
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
    communication = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
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
