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

from i3d_tf.data import pipeline
from i3d_tf.models import registry
from i3d_tf.training import distribute
from i3d_tf.training import init as init_lib
from i3d_tf.training import loop
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


def classifier_layers(model):
  """The layer(s) that map features to logits: what the paper's 'Fixed' fine-tuning trains.

  I3D and Inception-v1: the 'Logits' block; C3D, 3D-Fused: `logits`; ConvNet+LSTM: `classifier`;
  the two-stream models: each stream's.
  """
  blocks = getattr(model, "blocks", None)
  if isinstance(blocks, dict) and "Logits" in blocks:
    return [blocks["Logits"]]
  for attr in ("logits", "classifier"):
    layer = getattr(model, attr, None)
    if isinstance(layer, keras.layers.Layer):
      return [layer]
  streams = [getattr(model, a) for a in ("rgb", "flow", "rgb_net", "flow_net")
             if isinstance(getattr(model, a, None), keras.Model)]
  if streams:
    return [layer for stream in streams for layer in classifier_layers(stream)]
  raise ValueError(f"--mode=fixed: no classifier layer found in {model.name} (expected a "
                   f"'Logits' block, a `logits` or `classifier` layer, or per-stream models); "
                   f"use --mode=full")


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


def clip_spec(config):
  """The pipeline's ClipSpec: the registry's input spec with the config's overrides."""
  min_frames = 1
  if config.model.startswith("i3d") and config.final_pool_padding.upper() == "VALID":
    from i3d_tf.models import i3d  # pylint: disable=import-outside-toplevel
    min_frames = i3d.MIN_FRAMES_VALID
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


def run(config, data, echo=None):
  """Trains (or resumes) one run; returns (status, final eval metrics or None, the Trainer)."""
  echo = echo or (lambda message: print(message, flush=True))
  if config.finetune_mode not in FINETUNE_MODES:
    raise ValueError(f"finetune mode {config.finetune_mode!r} is not one of {FINETUNE_MODES}")
  registry.get(config.model)  # the error lists the valid --model values
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
    if config.seed is None:
      config.seed = 0
  if config.seed is not None:
    keras.utils.set_random_seed(config.seed)
  distribute.set_mixed_precision(config.mixed_precision)
  strategy = distribute.make_strategy(config.strategy)
  spec = clip_spec(config)
  global_batch = config.batch_size
  if global_batch % strategy.num_replicas_in_sync:
    raise ValueError(f"--batch_size={global_batch} (global) must be a multiple of the "
                     f"{strategy.num_replicas_in_sync} replicas")
  schedule = schedules.Schedule(config.lr_schedule, config.learning_rate, config.train_steps,
                                warmup_steps=config.warmup_steps)
  options = _model_options(config)

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
      lambda model: init_lib.initialize(model, config.init, config.imagenet_checkpoint))
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
