"""Loading a finished (or running) training run for evaluation and feature extraction.

A run's model_dir holds run_config.json (model, classes, model options, clip geometry) and ckpt-*
checkpoints (variables by attribute path; older runs by `loop.checkpoint_variables`' names: both
read by `loop.restore_model`); `load_run` rebuilds the model and restores the latest (or a given)
checkpoint, checking that every model variable was restored.
"""
import json
import os

import tensorflow as tf

from i3d_tf.data import pipeline
from i3d_tf.models import registry
from i3d_tf.training import loop


def read_run_config(run_dir):
  path = os.path.join(run_dir, "run_config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist: --run_dir must be a training run's model_dir")
  with open(path) as f:
    return json.load(f)


def clip_spec_of_run(run, max_test_frames=None):
  """The evaluation ClipSpec the run was trained for (its crop size, the model's minimum length)."""
  clip = run.get("clip", {})
  options = run.get("model_options", {})
  min_frames = 1
  if run["model"].startswith("i3d") and options.get("final_pool_padding", "VALID") == "VALID":
    from i3d_tf.models import i3d  # pylint: disable=import-outside-toplevel
    min_frames = i3d.MIN_FRAMES_VALID
  return pipeline.ClipSpec.for_model(
      run["model"], crop_size=clip.get("crop_size"),
      max_test_frames=max_test_frames or clip.get("max_test_frames"), min_frames=min_frames,
      test_frames=clip.get("test_frames"), frame_stride=clip.get("frame_stride"))


def load_run(run_dir, checkpoint=None, **model_overrides):
  """(model with the run's weights, run config dict). `model_overrides` e.g. final_endpoint."""
  run = read_run_config(run_dir)
  options = dict(run.get("model_options", {}))
  options.update(model_overrides)
  model = registry.build_model(run["model"], run["num_classes"], **options)
  shape = run["example_input_shape"]
  example = ({k: tf.zeros(v) for k, v in shape.items()} if isinstance(shape, dict)
             else tf.zeros(shape))
  model(example, training=False)
  checkpoint = checkpoint or tf.train.latest_checkpoint(run_dir)
  if checkpoint is None:
    raise FileNotFoundError(f"{run_dir} holds no ckpt-* checkpoint")
  loop.restore_model(model, checkpoint)  # either layout: variables by path, or the older map
  return model, run
