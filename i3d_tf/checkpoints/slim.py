"""TF-slim Inception-v1 checkpoints (e.g. ImageNet `inception_v1.ckpt`) into models.inception_v1.

Names are slim's: 'InceptionV1/Conv2d_1a_7x7/weights', '.../BatchNorm/{beta,moving_mean,
moving_variance}', 'InceptionV1/Logits/Conv2d_0c_1x1/{weights,biases}' (1001 classes). Every
variable of the model must be found with its exact shape; anything wrong is named in the error.
A file that cannot be read (cut short, random, missing) is UnreadableCheckpointError naming it.
"""
import numpy as np
import tensorflow as tf

from i3d_tf.checkpoints import files

SCOPE = "InceptionV1"
# Training-time extras a slim checkpoint may hold beside each variable; never model weights.
_IGNORED_SUFFIXES = ("/ExponentialMovingAverage", "/RMSProp", "/RMSProp_1", "/Momentum",
                     "/Adam", "/Adam_1")


class SlimCheckpointError(ValueError):
  """The checkpoint does not match the model: lists missing, unexpected and mis-shaped names."""


def expected_variables(model, scope=SCOPE, include_logits=True):
  """{full slim name: variable} for a built InceptionV1."""
  if not model.built:
    raise ValueError("build the InceptionV1 model (model.build(...)) before loading a checkpoint")
  return {f"{scope}/{name}": var for name, var in model.slim_variables().items()
          if include_logits or not name.startswith("Logits/")}


def load_slim_checkpoint(model, checkpoint_path, scope=SCOPE, include_logits=True):
  """Assigns every slim variable of `model` (an InceptionV1) from the checkpoint at `checkpoint_path`.

  Checkpoint entries under `scope` for endpoints the model does not build (e.g. the 1001-way
  logits when `include_logits=False` or final_endpoint='Mixed_5c') are left unused; any other
  unknown name under `scope` is an error, as is a missing name or a shape mismatch.
  Returns the sorted list of names loaded.
  """
  ckpt_shapes = files.list_variables(checkpoint_path, single_file=True)
  expected = expected_variables(model, scope, include_logits)
  built_scopes = {name.split("/")[1] for name in expected}  # endpoints with variables
  missing = sorted(set(expected) - set(ckpt_shapes))
  unexpected = []
  for name in sorted(ckpt_shapes):
    if not name.startswith(scope + "/") or name in expected:
      continue
    if name.endswith(_IGNORED_SUFFIXES):
      continue
    if name.split("/")[1] in built_scopes:
      unexpected.append(name)
  mis_shaped = [
      f"{name}: checkpoint {list(ckpt_shapes[name])}, model {list(var.shape)}"
      for name, var in sorted(expected.items())
      if name in ckpt_shapes and list(ckpt_shapes[name]) != list(var.shape)]
  if missing or unexpected or mis_shaped:
    lines = [f"slim checkpoint {checkpoint_path} does not match {model.name} (scope {scope!r}):"]
    if missing:
      lines.append(f"  missing from the checkpoint ({len(missing)}): " + ", ".join(missing))
    if unexpected:
      lines.append(f"  unexpected in the checkpoint ({len(unexpected)}): " + ", ".join(unexpected))
    if mis_shaped:
      lines.append(f"  wrong shape ({len(mis_shaped)}): " + "; ".join(mis_shaped))
      multiplier = getattr(model, "width_multiplier", 1.0)
      if multiplier != 1.0:
        lines.append(f"  the model has width_multiplier={multiplier} (--width_multiplier); a "
                     f"checkpoint of the full network (e.g. ImageNet) fits only 1.0")
    raise SlimCheckpointError("\n".join(lines))
  values = files.read_tensors(checkpoint_path, sorted(expected))  # all read, then assigned
  for name, var in expected.items():
    var.assign(values[name].astype(var.dtype))
  return sorted(expected)


def write_checkpoint(prefix, arrays):
  """Writes {name: np.ndarray} as a TF checkpoint with exactly these names (tests, conversions)."""
  names = sorted(arrays)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                    tensors=[tf.constant(np.asarray(arrays[n])) for n in names])
  return prefix


def save_slim_checkpoint(model, prefix, scope=SCOPE):
  """Writes an InceptionV1's variables under slim's names (the inverse of load_slim_checkpoint)."""
  return write_checkpoint(prefix, {name: var.numpy()
                                   for name, var in expected_variables(model, scope).items()})
