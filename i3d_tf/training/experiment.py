"""One training run from its ExperimentConfig: model_dir checks and lock, strategy, the Task, the loop.

The binaries (experiments/train_kinetics.py, experiments/finetune.py) turn flags into an
i3d_tf.config.ExperimentConfig and call `run`; tests call `run` directly, with in-memory or toy
shards.
"""
import json
import logging as pylogging
import os

import keras
import tensorflow as tf

from i3d_tf import config as config_lib
from i3d_tf.checkpoints import files
from i3d_tf.checkpoints import run_checkpoints
from i3d_tf.models import registry
from i3d_tf.training import distribute
from i3d_tf.training import init as init_lib
from i3d_tf.training import loop
from i3d_tf.training import run_lock
from i3d_tf.training import task as task_lib

log = pylogging.getLogger("i3d_tf.training")

DataSource = task_lib.DataSource  # where the clips come from (the binaries resolve it)


class ModelDirMismatchError(ValueError):
  """model_dir holds the run of another model, class count or width than the command's."""


# Model options that change the variables' shapes: a run cannot resume under other values.
STRUCTURAL_OPTIONS = ("width_multiplier", "crop_size", "clip_frames")


def _describe_run(model, num_classes, options):
  streams = ", ".join(f"{s.name} {s.channels} channels"
                      for s in registry.get(model).input_spec.streams) if model in \
      registry.names() else "?"
  shaped = {k: options[k] for k in STRUCTURAL_OPTIONS if k in options}
  extra = "".join(f", {k} {v}" for k, v in sorted(shaped.items()))
  return f"{model} run with {num_classes} classes ({streams}{extra})"


def check_model_dir(model_dir, model, num_classes, options):
  """Refuses a model_dir whose checkpoints belong to another model, class count or width.

  Compares model_dir/run_config.json with this command before anything is built, so the error
  names both runs instead of a tensor shape deep in a checkpoint restore.
  """
  path = os.path.join(model_dir, "run_config.json")
  if not tf.io.gfile.exists(path) or not run_checkpoints.checkpoint_candidates(model_dir):
    return
  with tf.io.gfile.GFile(path) as f:
    stored = json.load(f)
  stored_options = stored.get("model_options", {})
  differs = (stored.get("model") != model or int(stored.get("num_classes", -1)) != num_classes
             or any(stored_options.get(k) != options.get(k) for k in STRUCTURAL_OPTIONS))
  if differs:
    raise ModelDirMismatchError(
        f"model_dir {model_dir} holds an "
        f"{_describe_run(stored.get('model'), stored.get('num_classes'), stored_options)}; this "
        f"command builds {_describe_run(model, num_classes, options).replace(' run with', ' with')}"
        f". Its checkpoints cannot resume this model: pass another --model_dir (or --init="
        f"{model_dir} to start from its weights), or remove {model_dir} to start over.")


def dataset_flow_method(data):
  """The flow method the training shards were built with (their metadata.json), or None."""
  if getattr(data, "flow_method", None):
    return data.flow_method
  if not data.train_files:
    return None
  path = os.path.join(os.path.dirname(data.train_files[0]), "metadata.json")
  try:
    with tf.io.gfile.GFile(path) as f:
      return json.load(f).get("flow_method")
  except (tf.errors.OpError, ValueError):
    return None


def check_flow_data(model, data):
  """A warning (returned) when a model reads flow from a set built with --flow_method=none."""
  streams = registry.get(model).input_spec.stream_names
  method = dataset_flow_method(data)
  if "flow" not in streams or method != "none":
    return None
  where = os.path.dirname(data.train_files[0])
  return (f"WARNING: --model={model} reads the flow stream, but the dataset in {where} was built "
          f"with --flow_method=none (metadata.json): its flow is all zeros, so the flow stream "
          f"learns nothing. Rebuild the set with --flow_method=tvl1 (or tvl1_fast) and --overwrite "
          f"for flow models.")


# Errors whose message says all (which run, file or flag, and what to do): the binaries print
# them without a traceback.
USER_ERRORS = (ModelDirMismatchError, run_lock.ModelDirInUseError, run_checkpoints.NoReadableCheckpointError,
               init_lib.StreamMismatchError, distribute.PeerLostError,
               files.UnreadableCheckpointError)


def _seeded(config):
  """--deterministic without --seed runs with seed 0 (recorded in run_config.json)."""
  if config.trainer.deterministic and config.trainer.seed is None:
    return config_lib.replace(config, {"trainer.seed": 0})
  return config


def run(config, data, echo=None):
  """Trains (or resumes) one run; returns (status, final eval metrics or None, the Trainer).

  Before anything is built: the config is validated (the clip geometry too), model_dir's lock is
  taken (a second run on it is refused; see run_lock), leftovers of killed runs are removed, and
  model_dir's run_config.json must describe the same model.
  """
  echo = echo or (lambda message: print(message, flush=True))
  config = _seeded(config_lib.validate(config))
  model_dir, strategy = config.runtime.model_dir, config.runtime.strategy
  if not model_dir:
    raise ValueError("--model_dir: a run needs the folder of its checkpoints")
  task = task_lib.Task(config, data)
  task_type, task_id, chief = (distribute.tf_config_task() if strategy == "multi_worker"
                               else (None, 0, True))
  if tf.io.gfile.exists(model_dir) and not tf.io.gfile.isdir(model_dir):
    raise ModelDirMismatchError(
        f"--model_dir={model_dir} is a file, not a folder: a run's model_dir is the folder "
        f"that holds its checkpoints, run_config.json and saved_model/ (an existing run to "
        f"resume, or a new path); to start from a checkpoint file use --init={model_dir}")
  with run_lock.RunLock(model_dir, run_lock.lock_name(task_type, task_id, chief)):
    for path in run_lock.remove_leftovers(model_dir, task_type, task_id, chief):
      log.info("removed %s, left by a killed run", path)
    check_model_dir(model_dir, config.model.name, data.num_classes, task.model_options)
    warning = check_flow_data(config.model.name, data)
    if warning:
      log.warning("%s", warning)
      echo(warning)
    return _run_locked(task, echo)


def make_strategy(config):
  """The tf.distribute strategy of config.runtime (--strategy, --tpu, --cluster_wait_seconds),
  after the process-wide settings (determinism, seed, mixed precision)."""
  trainer, runtime = config.trainer, config.runtime
  if trainer.deterministic:
    tf.config.experimental.enable_op_determinism()
  if trainer.seed is not None:
    keras.utils.set_random_seed(trainer.seed)
  distribute.set_mixed_precision(trainer.mixed_precision)
  strategy = distribute.make_strategy(runtime.strategy, tpu_address=runtime.tpu,
                                      cluster_wait_seconds=runtime.cluster_wait_seconds)
  if trainer.batch_size % strategy.num_replicas_in_sync:
    raise ValueError(f"--batch_size={trainer.batch_size} (global) must be a multiple of the "
                     f"{strategy.num_replicas_in_sync} replicas")
  return strategy


def _run_locked(task, echo):
  """run() once model_dir is locked and checked."""
  config = task.config
  model_dir, steps = config.runtime.model_dir, config.trainer.train_steps
  trainer = loop.Trainer(task, config.trainer, config.runtime, make_strategy(config))
  start = trainer.restore_or_initialize(task.initialize)
  if start:
    echo(f"Resuming {model_dir} at step {start} of {steps}.")
  if start >= steps:
    echo(f"{model_dir} has already reached step {start}; nothing to train.")
  status = trainer.train()
  final = None
  metrics_path = os.path.join(model_dir, "metrics.json")
  if status == "done" and tf.io.gfile.exists(metrics_path):
    with tf.io.gfile.GFile(metrics_path) as f:
      final = json.load(f).get("eval")
  return status, final, trainer
