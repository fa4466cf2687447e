"""Inflation (paper, Sec. 2.4): an I3D initialised from a 2D Inception-v1, e.g. slim's ImageNet one.

Each 2D kernel [kh, kw, C_in, C_out] is repeated N times along time and divided by N, N being the
I3D layer's temporal taps (7 for Conv3d_1a_7x7, 1 for 1x1 convs, 3 for 3x3 convs), so that a
'boring' video of one repeated image gives the 2D network's activations. Batch-norm statistics
and offsets are copied. When the input channels differ (flow: 2, stacked flow: 20), the first
layer's RGB filters are averaged over colour and repeated for every input channel. The 2D
logits (slim: 1001 classes) are never inflated: the I3D logits are new.
"""
import numpy as np

from i3d_tf.checkpoints import slim
from i3d_tf.models import i3d
from i3d_tf.models import inception_v1

_I3D_TO_SLIM = (("Conv3d", "Conv2d"), ("conv_3d/w", "weights"), ("conv_3d/b", "biases"),
                ("batch_norm/", "BatchNorm/"))


class InflationError(ValueError):
  """The 2D and 3D models do not correspond: lists the names that do not match."""


def i3d_name_to_slim(name):
  """'Mixed_4b/Branch_1/Conv3d_0b_3x3/conv_3d/w' -> 'Mixed_4b/Branch_1/Conv2d_0b_3x3/weights'."""
  for old, new in _I3D_TO_SLIM:
    name = name.replace(old, new)
  return name


def adapt_input_channels(kernel, in_channels):
  """[..., C_rgb, C_out] -> [..., in_channels, C_out]: filters averaged over colour, repeated."""
  kernel = np.asarray(kernel)
  if kernel.shape[-2] == in_channels:
    return kernel
  mean = kernel.mean(axis=-2, keepdims=True)
  return np.repeat(mean, in_channels, axis=-2)


def inflate_kernel(kernel_2d, time_taps):
  """[kh, kw, C_in, C_out] -> [time_taps, kh, kw, C_in, C_out], repeated and divided by time_taps."""
  kernel_2d = np.asarray(kernel_2d)
  return np.repeat(kernel_2d[np.newaxis], time_taps, axis=0) / float(time_taps)


def _ensure_built(model, channels, what):
  if model.built:
    return
  channels = channels if channels is not None else getattr(model, "in_channels", None)
  if channels is None:
    raise ValueError(f"{what} is not built and has no in_channels; build it first")
  model.build((None,) * (3 if what == "2D model" else 4) + (channels,))  # [B, (T,) H, W, C]


def inflate_i3d_from_2d(i3d_model, inception_v1_2d_model, include_logits=False):
  """Assigns every variable of an InceptionI3D (but its logits) from a 2D InceptionV1.

  Both models are built if needed. Returns the sorted I3D names assigned. Raises InflationError
  naming any I3D variable whose 2D counterpart is missing or has the wrong shape.
  """
  _ensure_built(inception_v1_2d_model, None, "2D model")
  _ensure_built(i3d_model, None, "I3D model")
  source = inception_v1_2d_model.slim_variables()
  targets = {name: var for name, var in i3d_model.deepmind_variables().items()
             if include_logits or not name.startswith("Logits/")}
  missing, mis_shaped, values = [], [], {}
  for name, var in sorted(targets.items()):
    name_2d = i3d_name_to_slim(name)
    if name_2d not in source:
      missing.append(f"{name} (2D {name_2d})")
      continue
    value = source[name_2d].numpy()
    shape_3d = tuple(var.shape)
    if name.endswith("conv_3d/w"):
      if value.ndim != 4 or len(shape_3d) != 5:
        mis_shaped.append(f"{name}: 2D {name_2d} {list(value.shape)} is not a 2D kernel")
        continue
      value = adapt_input_channels(value, shape_3d[3])
      value = inflate_kernel(value, shape_3d[0])
    if tuple(value.shape) != shape_3d:
      mis_shaped.append(f"{name}: inflated from {name_2d} gives {list(value.shape)}, "
                        f"I3D has {list(shape_3d)}")
      continue
    values[name] = value
  if missing or mis_shaped:
    lines = [f"cannot inflate {i3d_model.name} from {inception_v1_2d_model.name}:"]
    if missing:
      lines.append(f"  no 2D counterpart ({len(missing)}): " + ", ".join(missing))
    if mis_shaped:
      lines.append(f"  wrong shape ({len(mis_shaped)}): " + "; ".join(mis_shaped))
    raise InflationError("\n".join(lines))
  for name, value in values.items():
    targets[name].assign(value.astype(targets[name].dtype))
  return sorted(values)


def copy_2d_into_2d(target_2d, source_2d, include_logits=False):
  """Copies a 2D InceptionV1 into another (e.g. a 20-channel flow one); first layer adapted."""
  _ensure_built(source_2d, None, "2D model")
  _ensure_built(target_2d, None, "2D model")
  source = source_2d.slim_variables()
  problems = []
  for name, var in sorted(target_2d.slim_variables().items()):
    if name.startswith("Logits/") and not include_logits:
      continue
    if name not in source:
      problems.append(f"{name}: not in {source_2d.name}")
      continue
    value = source[name].numpy()
    if name.endswith("/weights") and value.ndim == 4:
      value = adapt_input_channels(value, var.shape[2])
    if tuple(value.shape) != tuple(var.shape):
      problems.append(f"{name}: source {list(value.shape)}, target {list(var.shape)}")
      continue
    var.assign(value)
  if problems:
    raise InflationError(f"cannot copy {source_2d.name} into {target_2d.name}: " +
                         "; ".join(problems))


def check_imagenet_width(model):
  """slim's ImageNet Inception-v1 has the full width: a narrower model cannot take its weights."""
  multiplier = getattr(model, "width_multiplier", 1.0)
  if multiplier != 1.0:
    raise ValueError(f"--init=imagenet needs --width_multiplier=1.0: {model.name} was built with "
                     f"width_multiplier={multiplier}, and slim's ImageNet Inception-v1 checkpoint "
                     f"only fits the full-width network (its shapes cannot match); use "
                     f"--init=scratch or drop --width_multiplier")


def imagenet_inception_v1(slim_checkpoint_path):
  """A 2D InceptionV1 up to Mixed_5c holding a slim ImageNet checkpoint (its logits unused)."""
  model_2d = inception_v1.InceptionV1(in_channels=3, final_endpoint="Mixed_5c",
                                      name="imagenet_inception_v1")
  model_2d.build((None, None, None, 3))
  slim.load_slim_checkpoint(model_2d, slim_checkpoint_path)
  return model_2d


def init_i3d_from_imagenet(i3d_model, slim_checkpoint_path):
  """`--init=imagenet`: loads slim's Inception-v1 checkpoint and inflates it into `i3d_model`."""
  check_imagenet_width(i3d_model)
  return inflate_i3d_from_2d(i3d_model, imagenet_inception_v1(slim_checkpoint_path))


def init_from_imagenet(model, slim_checkpoint_path):
  """`--init=imagenet` for any registered model: I3D streams are inflated, 2D baselines copied.

  Models built on 2D Inception-v1s name them (`imagenet_parts()`), each then copied from the
  checkpoint's network; the two-stream I3D is handled stream by stream. C3D, trained from scratch in the paper, has no ImageNet initialisation.
  Only width_multiplier 1.0 fits the checkpoint: any other width is a clear error, before reading.
  """
  if isinstance(model, i3d.InceptionI3D):
    return init_i3d_from_imagenet(model, slim_checkpoint_path)
  if hasattr(model, "imagenet_parts"):
    parts = model.imagenet_parts()
    for part in [model] + parts:  # the model named first, then each Inception-v1
      check_imagenet_width(part)
    source = imagenet_inception_v1(slim_checkpoint_path)
    for part in parts:
      copy_2d_into_2d(part, source)
    return None
  streams = [getattr(model, attr) for attr in ("rgb", "flow", "rgb_model", "flow_model")
             if isinstance(getattr(model, attr, None), i3d.InceptionI3D)]
  if streams:
    for part in [model] + streams:
      check_imagenet_width(part)
    model_2d = imagenet_inception_v1(slim_checkpoint_path)
    return [inflate_i3d_from_2d(stream, model_2d) for stream in streams]
  raise ValueError(f"model {model.name} ({type(model).__name__}) has no ImageNet "
                   f"initialisation; use --init=scratch")
