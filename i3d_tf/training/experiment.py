"""One training run from its settings: data, model, strategy, init, the loop, the SavedModel.

The binaries (experiments/train_kinetics.py, experiments/finetune.py) turn flags into an
ExperimentConfig and call `run`; tests call `run` directly, with in-memory or toy shards.
"""
import dataclasses
import json
import logging as pylogging
import os
from typing import Any, Callable, Optional, Sequence

import keras
import tensorflow as tf

from i3d_tf.checkpoints import files
from i3d_tf.checkpoints import run_checkpoints
from i3d_tf.data import pipeline
from i3d_tf.models import registry
from i3d_tf.models.classifier import classifier_layers
from i3d_tf.training import distribute
from i3d_tf.training import init as init_lib
from i3d_tf.training import loop
from i3d_tf.training import run_lock
from i3d_tf.training import schedules

log = pylogging.getLogger("i3d_tf.training")

FINETUNE_MODES = ("full", "fixed")


@dataclasses.dataclass
class DataSource:
  """Where the clips come from: shard files + how to parse and decode them, and the classes."""
  train_files: Sequence[str]
  eval_files: Sequence[str]
  num_classes: int
  class_names: Optional[Sequence[str]] = None
  record_format: str = "tfds"
  parse_fn: Optional[Callable] = None     # overrides record_format's parser (tests, toy shards)
  decoders: Optional[dict] = None         # overrides records.decode_rgb / decode_flow


@dataclasses.dataclass
class ExperimentConfig:
  model: str
  model_dir: str
  init: str = "scratch"
  imagenet_checkpoint: Optional[str] = None
  batch_size: int = 8                      # global
  train_steps: int = 115_000
  learning_rate: float = 0.1
  lr_schedule: str = "release_rgb"
  warmup_steps: int = 0
  momentum: float = 0.9
  weight_decay: float = 1e-7
  dropout_rate: float = 0.5
  strategy: str = "default"
  mixed_precision: str = "none"
  sync_batch_norm: bool = False
  eval_every: int = 0
  checkpoint_every: int = 1000
  log_every: int = 10
  # Clip geometry; None keeps the registry's (64 frames, 224 px, whole videos up to 250 frames).
  train_frames: Optional[int] = None
  test_frames: Optional[int] = None
  frame_stride: Optional[int] = None       # frames between sampled frames (registry's: Table 1's)
  crop_size: Optional[int] = None
  max_test_frames: Optional[int] = None
  final_pool_padding: str = "VALID"
  random_flip: bool = True
  width_multiplier: float = 1.0            # every model's channels x this (1.0: the paper's)
  lstm_gamma_init: Optional[float] = None  # ConvNet+LSTM only; None keeps Cooijmans et al.'s 0.1
  batch_norm_decay: Optional[float] = None  # None keeps the release's 0.999
  eval_batch_size: int = 1
  eval_max_videos: Optional[int] = None
  seed: Optional[int] = None
  deterministic: bool = False
  finetune_mode: str = "full"
  # --init: load what fits and keep mismatched variables (another stream's first conv) fresh.
  allow_partial_init: bool = False
  cluster_wait_seconds: float = distribute.DEFAULT_CLUSTER_WAIT_S
  export_saved_model: bool = True
  progress_bar: bool = True
  inject_nan_at_step: int = -1


def set_batch_norm_decay(model, decay):
  """Sets the moving-average decay of every batch norm of `model` (the release: 0.999)."""
  count = 0
  for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.momentum = decay
      count += 1
  return count


def freeze_all_but_logits(model):
  """The paper's 'Fixed' fine-tuning: only the last layer trains; batch norm stays in inference."""
  classifiers = classifier_layers(model)
  inside = {id(l) for c in classifiers for l in c._flatten_layers(include_self=True)}  # pylint: disable=protected-access
  for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
    holds_classifier = any(id(l) in inside for l in layer._flatten_layers(include_self=True))  # pylint: disable=protected-access
    if not holds_classifier:
      layer.trainable = False  # a frozen batch norm also runs in inference mode
  return [v for c in classifiers for v in c.trainable_variables]


def _model_options(config):
  options = {"dropout_rate": config.dropout_rate}
  if config.final_pool_padding.upper() != "VALID":
    options["final_pool_padding"] = config.final_pool_padding
  if config.sync_batch_norm:
    options["sync_batch_norm"] = True
  if config.width_multiplier != 1.0:
    options["width_multiplier"] = config.width_multiplier
  if config.lstm_gamma_init is not None:
    if config.model != "lstm":
      raise ValueError(f"--lstm_gamma_init applies to --model=lstm only, not --model={config.model}")
    options["lstm_gamma_init"] = config.lstm_gamma_init
  if config.model == "c3d":  # its first fully connected layer is sized by the clip geometry
    if config.crop_size:
      options["crop_size"] = config.crop_size
    if config.train_frames:
      options["clip_frames"] = config.train_frames
  return options


def check_clip_geometry(model, final_pool_padding, crop_size=None, train_frames=None):
  """A ValueError naming --crop_size / --train_frames when the clip is too small for `model`."""
  spec = registry.get(model).input_spec
  min_frames, min_crop = registry.minimum_clip(model, final_pool_padding)
  crop = crop_size or spec.crop_size
  if crop < min_crop:
    raise ValueError(
        f"--crop_size={crop} is too small for --model={model} with the release's VALID final "
        f"pool (--final_pool_padding=VALID): its 2x7x7 pool needs crops of at least {min_crop} "
        f"px (registry's {spec.crop_size}). Pass --final_pool_padding=SAME for small crops, or "
        f"--crop_size>={min_crop}.")
  frames = [train_frames] if train_frames else [s.train_frames for s in spec.streams]
  if min(frames) < min_frames:
    raise ValueError(
        f"--train_frames={min(frames)} is too short for --model={model} with the release's VALID "
        f"final pool (--final_pool_padding=VALID): it needs clips of at least {min_frames} "
        f"frames. Pass --final_pool_padding=SAME for short clips, or --train_frames>="
        f"{min_frames}.")


def clip_spec(config):
  """The pipeline's ClipSpec: the registry's input spec with the config's overrides."""
  min_frames = registry.minimum_clip(config.model, config.final_pool_padding)[0]
  return pipeline.ClipSpec.for_model(
      config.model, train_frames=config.train_frames, test_frames=config.test_frames,
      frame_stride=config.frame_stride,
      crop_size=config.crop_size, max_test_frames=config.max_test_frames, min_frames=min_frames,
      random_flip=config.random_flip)


def export_input_spec(config, spec):
  """The registry InputSpec as trained (crop size), for the SavedModel's signature."""
  return dataclasses.replace(registry.get(config.model).input_spec, crop_size=spec.crop_size)


def example_inputs(spec, frames=None):
  """A batch-1 zero input of the training clip's shape, to create the model's variables."""
  shapes = {s.name: (1, frames or s.train_frames, spec.crop_size, spec.crop_size, s.channels)
            for s in spec.streams}
  if len(spec.streams) == 1:
    return tf.zeros(next(iter(shapes.values())))
  return {name: tf.zeros(shape) for name, shape in shapes.items()}


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
USER_ERRORS = (ModelDirMismatchError, run_lock.ModelDirInUseError,
               run_checkpoints.NoReadableCheckpointError,
               init_lib.StreamMismatchError, distribute.PeerLostError,
               files.UnreadableCheckpointError)


def run(config, data, echo=None):
  """Trains (or resumes) one run; returns (status, final eval metrics or None, the Trainer).

  Before anything is built: the clip geometry is checked, model_dir's lock is taken (a second
  run on it is refused; see run_lock), leftovers of killed runs are removed, and model_dir's
  run_config.json must describe the same model.
  """
  echo = echo or (lambda message: print(message, flush=True))
  if config.finetune_mode not in FINETUNE_MODES:
    raise ValueError(f"finetune mode {config.finetune_mode!r} is not one of {FINETUNE_MODES}")
  registry.get(config.model)  # the error lists the valid --model values
  check_clip_geometry(config.model, config.final_pool_padding, config.crop_size,
                      config.train_frames)
  options = _model_options(config)
  task_type, task_id, chief = (distribute.tf_config_task() if config.strategy == "multi_worker"
                               else (None, 0, True))
  if tf.io.gfile.exists(config.model_dir) and not tf.io.gfile.isdir(config.model_dir):
    raise ModelDirMismatchError(
        f"--model_dir={config.model_dir} is a file, not a folder: a run's model_dir is the folder "
        f"that holds its checkpoints, run_config.json and saved_model/ (an existing run to "
        f"resume, or a new path); to start from a checkpoint file use --init={config.model_dir}")
  lock = run_lock.RunLock(config.model_dir, run_lock.lock_name(task_type, task_id, chief))
  with lock:
    for path in run_lock.remove_leftovers(config.model_dir, task_type, task_id, chief):
      log.info("removed %s, left by a killed run", path)
    check_model_dir(config.model_dir, config.model, data.num_classes, options)
    warning = check_flow_data(config.model, data)
    if warning:
      log.warning("%s", warning)
      echo(warning)
    return _run_locked(config, data, echo, options)


def _run_locked(config, data, echo, options):
  """run() once model_dir is locked and checked."""
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
    if config.seed is None:
      config.seed = 0
  if config.seed is not None:
    keras.utils.set_random_seed(config.seed)
  distribute.set_mixed_precision(config.mixed_precision)
  strategy = distribute.make_strategy(config.strategy,
                                     cluster_wait_seconds=config.cluster_wait_seconds)
  spec = clip_spec(config)
  global_batch = config.batch_size
  if global_batch % strategy.num_replicas_in_sync:
    raise ValueError(f"--batch_size={global_batch} (global) must be a multiple of the "
                     f"{strategy.num_replicas_in_sync} replicas")
  schedule = schedules.Schedule(config.lr_schedule, config.learning_rate, config.train_steps,
                                warmup_steps=config.warmup_steps)

  def model_fn():
    model = registry.build_model(config.model, data.num_classes, **options)
    return model

  def after_build(model):
    if config.batch_norm_decay is not None:
      set_batch_norm_decay(model, config.batch_norm_decay)

  def train_dataset_fn(ctx, seed):
    per_replica = ctx.get_per_replica_batch_size(global_batch) if ctx else global_batch
    return pipeline.train_dataset(
        data.train_files, spec, per_replica, data.record_format, input_context=ctx, seed=seed,
        deterministic=config.deterministic, decoders=data.decoders, parse_fn=data.parse_fn)

  eval_fn = None
  if data.eval_files:
    def eval_fn():
      ds = pipeline.test_dataset(data.eval_files, spec, config.eval_batch_size,
                                 data.record_format, decoders=data.decoders,
                                 parse_fn=data.parse_fn)
      if config.eval_max_videos:
        ds = ds.unbatch().take(config.eval_max_videos).batch(1) if config.eval_batch_size == 1 \
            else ds.take(max(config.eval_max_videos // config.eval_batch_size, 1))
      return ds

  input_spec = export_input_spec(config, spec)

  def export_fn(model, export_dir):
    from i3d_tf import export  # pylint: disable=import-outside-toplevel
    export.export_saved_model(model, export_dir, input_spec,
                              list(data.class_names) if data.class_names else None)

  example = example_inputs(spec)
  run_info = {"model": config.model, "num_classes": data.num_classes,
              "model_options": options, "class_names": list(data.class_names or []),
              "example_input_shape": list(example.shape) if not isinstance(example, dict)
              else {k: list(v.shape) for k, v in example.items()},
              "clip": {"train_frames": [s.train_frames for s in spec.streams],
                       "crop_size": spec.crop_size, "max_test_frames": spec.max_test_frames,
                       # The overrides evaluation must repeat (None: the registry's).
                       "test_frames": config.test_frames, "frame_stride": config.frame_stride},
              "config": dataclasses.asdict(config)}
  trainer_config = loop.TrainConfig(
      model_dir=config.model_dir, train_steps=config.train_steps, global_batch_size=global_batch,
      momentum=config.momentum, weight_decay=config.weight_decay,
      checkpoint_every=config.checkpoint_every, eval_every=config.eval_every,
      log_every=config.log_every, seed=config.seed, mixed_precision=config.mixed_precision,
      export_saved_model=config.export_saved_model, progress_bar=config.progress_bar,
      inject_nan_at_step=config.inject_nan_at_step)

  def build():
    model = model_fn()
    return model

  trainable_filter = freeze_all_but_logits if config.finetune_mode == "fixed" else None
  trainer = loop.Trainer(trainer_config, strategy, build, lambda: example, schedule,
                         train_dataset_fn, eval_fn, export_fn, trainable_filter, run_info)
  after_build(trainer.model)
  start = trainer.restore_or_initialize(
      lambda model: init_lib.initialize(model, config.init, config.imagenet_checkpoint,
                                        allow_partial=config.allow_partial_init,
                                        model_name=config.model))
  if start:
    echo(f"Resuming {config.model_dir} at step {start} of {config.train_steps}.")
  if start >= config.train_steps:
    echo(f"{config.model_dir} has already reached step {start}; nothing to train.")
  status = trainer.train()
  final = None
  metrics_path = os.path.join(config.model_dir, "metrics.json")
  if status == "done" and tf.io.gfile.exists(metrics_path):
    with tf.io.gfile.GFile(metrics_path) as f:
      final = json.load(f).get("eval")
  return status, final, trainer
