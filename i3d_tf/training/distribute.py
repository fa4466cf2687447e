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

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("none", "bfloat16", "mixed_float16")


def make_strategy(name, tpu_address=None):
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
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)
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
  task_type, task_id = task_info(strategy)
  if task_type is None:
    return True
  cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
  if "chief" in cluster:
    return task_type == "chief"
  return task_type == "worker" and task_id == 0


def write_dir(directory, strategy):
  """Where this worker writes `directory`: itself on the chief, a temporary folder elsewhere."""
  if is_chief(strategy):
    return directory
  task_type, task_id = task_info(strategy)
  return os.path.join(directory, ".worker_tmp", f"{task_type}_{task_id}")


def cleanup_write_dir(directory, strategy):
  if not is_chief(strategy):
    shutil.rmtree(write_dir(directory, strategy), ignore_errors=True)
