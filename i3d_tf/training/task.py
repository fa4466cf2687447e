"""A Task: what one experiment trains, from its ExperimentConfig and its data.

It owns building the model (the registry, with the config's options), the inputs (the pipeline's
training and evaluation datasets), the initialisation (--init, init.py), which variables train
(--mode), the learning-rate schedule, the SavedModel export and what run_config.json records.
`loop.Trainer(task, trainer_config, runtime_config, strategy)` runs it.
"""
import dataclasses
from typing import Callable, Optional, Sequence

import keras
import tensorflow as tf

from i3d_tf import config as config_lib
from i3d_tf import export
from i3d_tf.data import pipeline
from i3d_tf.models import registry
from i3d_tf.training import init as init_lib
from i3d_tf.training import schedules
from i3d_tf.training import trainable


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


def set_batch_norm_decay(model, decay):
  """Sets the moving-average decay of every batch norm of `model` (the release: 0.999)."""
  count = 0
  for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.momentum = decay
      count += 1
  return count


def model_options(config):
  """The registry builder's options of config.model (only those that differ from the builder's
  defaults, so that run_config.json names what was changed)."""
  model, clip = config.model, config.clip
  options = {"dropout_rate": model.dropout_rate}
  if model.final_pool_padding.upper() != "VALID":
    options["final_pool_padding"] = model.final_pool_padding
  if model.sync_batch_norm:
    options["sync_batch_norm"] = True
  if model.width_multiplier != 1.0:
    options["width_multiplier"] = model.width_multiplier
  if model.lstm_gamma_init is not None:  # the ConvNet+LSTM's only (config.validate)
    options["lstm_gamma_init"] = model.lstm_gamma_init
  if model.name == "c3d":  # its first fully connected layer is sized by the clip geometry
    if clip.crop_size:
      options["crop_size"] = clip.crop_size
    if clip.train_frames:
      options["clip_frames"] = clip.train_frames
  return options


def clip_spec(config):
  """The pipeline's ClipSpec: the registry's input spec with the config's overrides."""
  model, clip = config.model, config.clip
  min_frames = registry.minimum_clip(model.name, model.final_pool_padding)[0]
  return pipeline.ClipSpec.for_model(
      model.name, train_frames=clip.train_frames, test_frames=clip.test_frames,
      frame_stride=clip.frame_stride, crop_size=clip.crop_size,
      max_test_frames=clip.max_test_frames, min_frames=min_frames, random_flip=clip.random_flip)


def example_inputs(spec, frames=None):
  """A batch-1 zero input of the training clip's shape, to create the model's variables."""
  shapes = {s.name: (1, frames or s.train_frames, spec.crop_size, spec.crop_size, s.channels)
            for s in spec.streams}
  if len(spec.streams) == 1:
    return tf.zeros(next(iter(shapes.values())))
  return {name: tf.zeros(shape) for name, shape in shapes.items()}


def _shape_of(example):
  if isinstance(example, dict):
    return {k: list(v.shape) for k, v in example.items()}
  return list(example.shape)


class Task:
  """One experiment's model, inputs, initialisation, trainable variables and export."""

  def __init__(self, config, data):
    self.config = config
    self.data = data
    self.spec = clip_spec(config)
    self.model_options = model_options(config)

  @property
  def has_eval(self):
    return bool(self.data.eval_files)

  def example_inputs(self):
    return example_inputs(self.spec)

  def build_model(self):
    """The registry's model with its variables created (call it under the strategy's scope)."""
    model = registry.build_model(self.config.model.name, self.data.num_classes,
                                 **self.model_options)
    model(self.example_inputs(), training=False)  # creates every variable
    if self.config.model.batch_norm_decay is not None:
      set_batch_norm_decay(model, self.config.model.batch_norm_decay)
    return model

  def trainable_variables(self, model):
    """--mode=fixed: the classifier's only (the rest frozen); full: every trainable variable."""
    if self.config.init.finetune_mode == "fixed":
      return trainable.freeze_all_but_logits(model)
    return list(model.trainable_variables)

  def initialize(self, model):
    """--init on a built model (a new run only; a resumed run restores its checkpoint)."""
    init = self.config.init
    return init_lib.initialize(model, init.source or "scratch", init.imagenet_checkpoint,
                               allow_partial=init.allow_partial_init,
                               model_name=self.config.model.name)

  def schedule(self):
    trainer = self.config.trainer
    return schedules.Schedule(config_lib.lr_schedule(self.config), trainer.learning_rate,
                              trainer.train_steps, warmup_steps=trainer.warmup_steps)

  def train_dataset(self, input_context, seed):
    """Per-replica (inputs, label) batches of the training clips."""
    trainer = self.config.trainer
    per_replica = (input_context.get_per_replica_batch_size(trainer.batch_size) if input_context
                   else trainer.batch_size)
    return pipeline.train_dataset(
        self.data.train_files, self.spec, per_replica, self.data.record_format,
        input_context=input_context, seed=seed, deterministic=trainer.deterministic,
        decoders=self.data.decoders, parse_fn=self.data.parse_fn)

  def eval_dataset(self):
    """(inputs, label) batches of whole held-out videos (at most --eval_max_videos)."""
    trainer = self.config.trainer
    ds = pipeline.test_dataset(self.data.eval_files, self.spec, trainer.eval_batch_size,
                               self.data.record_format, decoders=self.data.decoders,
                               parse_fn=self.data.parse_fn)
    if trainer.eval_max_videos:
      if trainer.eval_batch_size == 1:
        return ds.unbatch().take(trainer.eval_max_videos).batch(1)
      return ds.take(max(trainer.eval_max_videos // trainer.eval_batch_size, 1))
    return ds

  def export(self, model, export_dir):
    """The SavedModel, its signature the registry's input spec at the trained crop size."""
    input_spec = dataclasses.replace(registry.get(self.config.model.name).input_spec,
                                     crop_size=self.spec.crop_size)
    export.export_saved_model(model, export_dir, input_spec,
                              list(self.data.class_names) if self.data.class_names else None)

  def run_info(self):
    """What run_config.json records: the model folder's keys (evaluation rebuilds the model from
    them) and the whole config (config_lib.to_dict)."""
    spec = self.spec
    return {"model": self.config.model.name, "num_classes": self.data.num_classes,
            "model_options": self.model_options,
            "class_names": list(self.data.class_names or []),
            "example_input_shape": _shape_of(self.example_inputs()),
            "clip": {"train_frames": [s.train_frames for s in spec.streams],
                     "crop_size": spec.crop_size, "max_test_frames": spec.max_test_frames,
                     # The overrides evaluation must repeat (None: the registry's).
                     "test_frames": self.config.clip.test_frames,
                     "frame_stride": self.config.clip.frame_stride},
            "config": config_lib.to_dict(self.config)}
