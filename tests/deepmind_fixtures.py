"""Test fixtures: random-valued checkpoints in the release's exact layouts, written with SaveV2."""
import functools
import os

import numpy as np
import tensorflow as tf

from i3d_tf.models import i3d
from tests.conftest import shared_path

RELEASE_LAYOUTS = ("rgb_imagenet", "rgb_scratch", "flow_imagenet", "flow_scratch")


def release_layout(name):
  """{name: shape} of a released checkpoint, read from its real index in ../shared."""
  index = shared_path("reference", "kinetics_i3d", "checkpoint_layouts", name, "model.ckpt.index")
  prefix = str(index)[:-len(".index")]
  return {n: tuple(s) for n, s in tf.train.list_variables(prefix)}


def random_values(shapes, seed=0):
  """Random weights a forward pass can run on: He-scaled kernels, non-trivial batch-norm stats."""
  rng = np.random.default_rng(seed)
  values = {}
  for name, shape in sorted(shapes.items()):
    leaf = name.split("/")[-1]
    if leaf == "w":
      fan_in = int(np.prod(shape[:-1]))
      value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    elif leaf == "b":
      value = rng.normal(0.0, 0.5, shape)
    elif leaf == "beta":
      value = rng.normal(0.0, 0.2, shape)
    elif leaf == "moving_mean":
      value = rng.normal(0.0, 0.3, shape)
    elif leaf == "moving_variance":
      value = rng.uniform(0.3, 3.0, shape)
    else:
      value = rng.normal(0.0, 1.0, shape)
    values[name] = value.astype(np.float32)
  return values


def write_checkpoint(prefix, tensors):
  """A real TF V2 bundle at `prefix` holding `tensors` ({name: array}) under exactly those names."""
  os.makedirs(os.path.dirname(os.path.abspath(str(prefix))), exist_ok=True)
  names = sorted(tensors)
  tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                    tensors=[tf.convert_to_tensor(tensors[n]) for n in names])
  return str(prefix)


def kinetics600_layout(unscoped_shapes, num_classes=600):
  """The Kinetics-600 release's layout from the 400-class names without scope: no scope, batch
  norm [1, 1, 1, 1, C], logits for `num_classes`, a /Momentum slot beside every trainable
  variable, and a global step."""
  shapes = {}
  for name, shape in unscoped_shapes.items():
    if "/batch_norm/" in name:
      shape = (1, 1, 1, 1) + tuple(shape)
    if name.startswith("Logits/"):
      shape = tuple(shape[:-1]) + (num_classes,)
    shapes[name] = tuple(shape)
    if not name.endswith(("moving_mean", "moving_variance")):
      shapes[name + "/Momentum"] = tuple(shape)
  return shapes


@functools.lru_cache(maxsize=None)
def _unscoped_model_shapes(channels):
  model = i3d.InceptionI3D(400, in_channels=channels)
  model.build((None, None, 224, 224, channels))
  return tuple((k, tuple(v.shape)) for k, v in model.deepmind_variables().items())


def model_layout(channels, num_classes=400, scope=""):
  """{release name under `scope`: shape} of our InceptionI3D (built once per channel count)."""
  prefix = f"{scope}/" if scope else ""
  return {prefix + k: (s[:-1] + (num_classes,) if k.startswith("Logits/") else s)
          for k, s in _unscoped_model_shapes(channels)}
