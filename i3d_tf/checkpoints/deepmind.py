"""DeepMind kinetics-i3d checkpoints: layout detection, import into InceptionI3D, export back.

The release has five checkpoints in two layouts:
  - rgb_scratch, rgb_imagenet, flow_scratch, flow_imagenet: names under `RGB/inception_i3d/` or
    `Flow/inception_i3d/`, batch-norm tensors shaped [C], 230 variables;
  - rgb_scratch_kin600: no scope (names start at `Conv3d_1a_7x7/...`), batch-norm tensors shaped
    [1, 1, 1, 1, C] (an older Sonnet), a `/Momentum` optimizer slot beside every trainable variable.
Classes and input channels are read from the shapes of `Logits/Conv3d_0c_1x1/conv_3d/w` and
`Conv3d_1a_7x7/conv_3d/w`. Every checkpoint variable is used or knowingly ignored (optimizer slots,
global step, another stream's scope) and every model variable is assigned; otherwise
CheckpointMismatchError lists the missing, unexpected and mis-shaped names and nothing is assigned.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf

from i3d_tf.checkpoints.files import UnreadableCheckpointError  # pylint: disable=unused-import
from i3d_tf.checkpoints.files import list_variables as _list_variables
from i3d_tf.checkpoints.files import read_tensors
from i3d_tf.models import i3d
from i3d_tf.models.two_stream_i3d import STREAM_CHANNELS, STREAM_SCOPES, TwoStreamI3D

FIRST_CONV = "Conv3d_1a_7x7/conv_3d/w"       # [7, 7, 7, in_channels, 64]
LOGITS_KERNEL = "Logits/Conv3d_0c_1x1/conv_3d/w"  # [1, 1, 1, 1024, num_classes]
# Checkpoint entries that are not model weights: optimizer slots and training counters.
IGNORED_SUFFIXES = ("/Momentum", "/Adam", "/Adam_1", "/RMSProp", "/RMSProp_1",
                    "/ExponentialMovingAverage")
IGNORED_NAMES = ("global_step", "beta1_power", "beta2_power")
_CHANNELS_TO_STREAM = {3: "rgb", 2: "flow"}


class CheckpointMismatchError(ValueError):
  """A checkpoint whose variables do not match the model one to one; lists every bad name."""

  def __init__(self, path, missing=(), unexpected=(), misshaped=()):
    self.path, self.missing, self.unexpected, self.misshaped = (
        path, sorted(missing), sorted(unexpected), sorted(misshaped))
    lines = [f"checkpoint {path} does not match the model:"]
    if self.missing:
      lines.append(f"  missing ({len(self.missing)}, the model has them, the checkpoint does not):")
      lines += [f"    {name}" for name in self.missing]
    if self.unexpected:
      lines.append(f"  unexpected ({len(self.unexpected)}, in the checkpoint, not in the model):")
      lines += [f"    {name}" for name in self.unexpected]
    if self.misshaped:
      lines.append(f"  mis-shaped ({len(self.misshaped)}):")
      lines += [f"    {name}: checkpoint {ckpt}, model expects {model}"
                for name, ckpt, model in self.misshaped]
    super().__init__("\n".join(lines))


@dataclasses.dataclass
class CheckpointLayout:
  """What a DeepMind-style checkpoint holds for one I3D stream."""
  path: str                 # the checkpoint prefix (".../model.ckpt")
  scope: str                # 'RGB/inception_i3d', 'Flow/inception_i3d' or '' (Kinetics-600)
  stream: str               # 'rgb' or 'flow'
  in_channels: int
  num_classes: int
  variables: dict           # full checkpoint name -> shape, for this stream's weights
  ignored: list             # names knowingly not loaded (optimizer slots, counters, other streams)
  sonnet_v1_batch_norm: bool  # batch-norm tensors shaped [1, 1, 1, 1, C]

  def full_name(self, key):
    """'Mixed_4b/.../conv_3d/w' -> the name in this checkpoint."""
    return full_name(self.scope, key)


def full_name(scope, key):
  """The release's name of `key` (a model's name without scope) under `scope` ('' for none)."""
  return f"{scope}/{key}" if scope else key


def checkpoint_prefix(path):
  """Accepts 'DIR/model.ckpt', its '.index' / '.data-*' files, or a directory holding one."""
  path = os.fspath(path)
  if os.path.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None and os.path.exists(os.path.join(path, "model.ckpt.index")):
      latest = os.path.join(path, "model.ckpt")
    if latest is None:
      raise FileNotFoundError(f"no checkpoint in directory {path}: expected model.ckpt.index "
                              f"(pass the prefix, e.g. {os.path.join(path, 'model.ckpt')})")
    return latest
  if path.endswith(".index"):
    return path[:-len(".index")]
  if ".data-" in os.path.basename(path):
    return path[:path.rindex(".data-")]
  return path


def _is_ignored(name):
  return name.endswith(IGNORED_SUFFIXES) or name.split("/")[-1] in IGNORED_NAMES


def i3d_scopes(shapes):
  """The scopes of the I3Ds in a checkpoint's {name: shape}, sorted ('' for an unscoped one)."""
  return sorted(name[:-len(FIRST_CONV)].rstrip("/") for name in shapes
                if (name == FIRST_CONV or name.endswith("/" + FIRST_CONV))
                and not _is_ignored(name))


def inspect_checkpoint(path, stream=None, scope=None):
  """Reads a checkpoint's index (not its data) and returns its CheckpointLayout for one stream.

  Args:
    path: checkpoint prefix (or its .index file, or its directory).
    stream: 'rgb' or 'flow', to choose a stream in a checkpoint holding both, or to check.
    scope: the variable scope to read ('' for none), when it cannot be inferred.
  """
  path = checkpoint_prefix(path)
  shapes = _list_variables(path)
  scopes = i3d_scopes(shapes)
  if stream is not None and stream not in STREAM_SCOPES:
    raise ValueError(f"stream={stream!r}: expected 'rgb' or 'flow'")
  scope = _choose_scope(path, shapes, scopes, stream, scope)
  prefix = f"{scope}/" if scope else ""
  in_channels = int(shapes[prefix + FIRST_CONV][3])
  logits_shape = shapes.get(prefix + LOGITS_KERNEL)
  if logits_shape is None:
    raise CheckpointMismatchError(path, missing=[prefix + LOGITS_KERNEL])
  num_classes = int(logits_shape[-1])
  stream = _check_stream(path, shapes, scope, stream, in_channels)

  other_scopes = [s for s in scopes if s != scope and s]
  variables, ignored = {}, []
  for name, shape in sorted(shapes.items()):
    if _is_ignored(name) or any(name.startswith(s + "/") for s in other_scopes):
      ignored.append(name)
    else:
      variables[name] = shape  # names outside the scope are reported as unexpected when loading
  sonnet_v1 = any(len(shape) == 5 for name, shape in variables.items() if "/batch_norm/" in name)
  return CheckpointLayout(path=path, scope=scope, stream=stream, in_channels=in_channels,
                          num_classes=num_classes, variables=variables, ignored=ignored,
                          sonnet_v1_batch_norm=sonnet_v1)


def _choose_scope(path, shapes, scopes, stream, scope):
  """The I3D scope to read: the one asked, the only one, or the asked stream's of several."""
  if scope is not None:
    scope = scope.strip("/")
    if scope not in scopes:
      raise ValueError(f"checkpoint {path} has no I3D under scope {scope!r}; I3D scopes found: "
                       f"{scopes or 'none'}")
    return scope
  if not scopes:
    raise ValueError(f"checkpoint {path} holds no I3D: no variable is named "
                     f"'[SCOPE/]{FIRST_CONV}' ({len(shapes)} variables, e.g. "
                     f"{sorted(shapes)[:3]})")
  if len(scopes) == 1:
    return scopes[0]
  if stream is not None and STREAM_SCOPES[stream] in scopes:
    return STREAM_SCOPES[stream]
  raise ValueError(f"checkpoint {path} holds several I3D streams (scopes {scopes}); choose one "
                   f"with stream='rgb'|'flow' (--stream) or scope=... (--scope)")


def _check_stream(path, shapes, scope, stream, in_channels):
  """The stream of `scope` (asked, else inferred from its name or its first conv's channels); a
  ValueError when the asked stream takes other channels than the checkpoint's."""
  prefix = f"{scope}/" if scope else ""
  inferred = {"RGB": "rgb", "Flow": "flow"}.get(scope.split("/")[0]) if scope else None
  inferred = inferred or _CHANNELS_TO_STREAM.get(in_channels)
  if stream is None:
    stream = inferred
  if stream is None:
    raise ValueError(f"checkpoint {path}: cannot tell the stream of scope {scope!r} with "
                     f"{in_channels} input channels; pass stream='rgb'|'flow' (--stream)")
  if in_channels != STREAM_CHANNELS[stream]:
    held = inferred or f"{in_channels}-channel"
    raise ValueError(f"checkpoint {path} holds a {held} stream ({prefix + FIRST_CONV} has shape "
                     f"{list(shapes[prefix + FIRST_CONV])}: {in_channels} input channels); it was "
                     f"asked as {stream!r}, which takes {STREAM_CHANNELS[stream]} channels")
  return stream



def _shape_matches(name, ckpt_shape, model_shape):
  ckpt_shape, model_shape = tuple(ckpt_shape), tuple(model_shape)
  if ckpt_shape == model_shape:
    return True
  # Older Sonnet kept the reduced axes of batch-norm statistics: [1, 1, 1, 1, C] for [C].
  extra = len(ckpt_shape) - len(model_shape)
  return ("/batch_norm/" in name and extra > 0 and ckpt_shape[:extra] == (1,) * extra
          and ckpt_shape[extra:] == model_shape)


def restore_into(variables, layout, skip_endpoints=()):
  """Assigns the checkpoint's tensors to `variables` ({release name without scope: variable}).

  Checks everything before assigning anything: raises CheckpointMismatchError listing missing,
  unexpected and mis-shaped names. Checkpoint variables of `skip_endpoints` (e.g. 'Logits' for a
  model truncated before it) are knowingly not loaded. Returns the number of variables assigned.
  """
  missing, misshaped, plan = [], [], []
  for key, var in sorted(variables.items()):
    name = layout.full_name(key)
    if name not in layout.variables:
      missing.append(name)
    elif not _shape_matches(name, layout.variables[name], var.shape):
      misshaped.append((name, list(layout.variables[name]), list(var.shape)))
    else:
      plan.append((name, var))
  used = {layout.full_name(key) for key in variables}
  skipped = {layout.full_name(f"{endpoint}/") for endpoint in skip_endpoints}
  unexpected = [name for name in layout.variables
                if name not in used and not name.startswith(tuple(skipped))]
  if missing or unexpected or misshaped:
    raise CheckpointMismatchError(layout.path, missing, unexpected, misshaped)
  tensors = read_tensors(layout.path, [name for name, _ in plan])
  values = [(var, tensors[name]) for name, var in plan]
  for var, value in values:
    var.assign(np.reshape(value, tuple(var.shape)))
  return len(values)


def load_deepmind_checkpoint(path, stream=None, scope=None, model=None, **model_options):
  """An InceptionI3D holding the weights of a DeepMind-layout checkpoint.

  Args:
    path: checkpoint prefix, e.g. 'data/checkpoints/rgb_imagenet/model.ckpt'.
    stream, scope: see inspect_checkpoint (needed only for checkpoints holding both streams).
    model: an InceptionI3D to load into (built here if needed); by default one is built with the
      checkpoint's classes and input channels and `model_options` (e.g. final_pool_padding, or
      final_endpoint='Mixed_5c' for a feature extractor: the later endpoints are not loaded).
  Returns:
    the model, every variable assigned (inspect_checkpoint tells what was read and ignored).
  """
  layout = inspect_checkpoint(path, stream=stream, scope=scope)
  if model is None:
    model = i3d.InceptionI3D(layout.num_classes, in_channels=layout.in_channels, **model_options)
  if model.in_channels not in (None, layout.in_channels):
    raise ValueError(f"checkpoint {layout.path} is a {layout.in_channels}-channel "
                     f"{layout.stream} stream; the model takes {model.in_channels} channels")
  if not model.built:
    model.build((None, None, 224, 224, layout.in_channels))
  # A model built up to an earlier endpoint (a feature extractor) leaves the later ones unloaded.
  after = i3d.VALID_ENDPOINTS[i3d.VALID_ENDPOINTS.index(model.final_endpoint) + 1:]
  restore_into(model.deepmind_variables(), layout, skip_endpoints=after)
  return model


def load_two_stream_checkpoints(rgb_path, flow_path=None, **model_options):
  """TwoStreamI3D from the release's RGB and Flow checkpoints (or one checkpoint holding both)."""
  flow_path = rgb_path if flow_path is None else flow_path
  rgb = inspect_checkpoint(rgb_path, stream="rgb")
  flow = inspect_checkpoint(flow_path, stream="flow")
  if rgb.num_classes != flow.num_classes:
    raise ValueError(f"the RGB checkpoint {rgb.path} has {rgb.num_classes} classes, the Flow "
                     f"checkpoint {flow.path} {flow.num_classes}; both streams need the same")
  model = TwoStreamI3D(rgb.num_classes, **model_options)
  model.build()
  restore_into(model.rgb.deepmind_variables(), rgb)
  restore_into(model.flow.deepmind_variables(), flow)
  return model


def save_deepmind_checkpoint(model, path, scope="RGB/inception_i3d", sonnet_v1_batch_norm=False):
  """Writes `model`'s weights as a TF1 name-based checkpoint in the release's layout.

  The result (`path`.index + `path`.data-00000-of-00001, and a `checkpoint` state file where the
  directory has none) loads with
  the release's evaluate_sample.py (tf.compat.v1.train.Saver over its variable map) and with the
  PyTorch ports that read the release's checkpoints.

  Args:
    model: an InceptionI3D (written under `scope`) or a TwoStreamI3D (written under both
      'RGB/inception_i3d' and 'Flow/inception_i3d'; `scope` is then not used).
    path: the checkpoint prefix, e.g. 'checkpoints/mine/model.ckpt'.
    scope: 'RGB/inception_i3d', 'Flow/inception_i3d', or '' (the Kinetics-600 release's layout).
    sonnet_v1_batch_norm: write batch-norm tensors as [1, 1, 1, 1, C] (the Kinetics-600 release).
  Returns:
    the list of names written.
  """
  path = os.fspath(path)
  if isinstance(model, TwoStreamI3D):
    named = model.deepmind_variables()
  else:
    scope = scope.strip("/")
    named = {f"{scope}/{key}" if scope else key: var
             for key, var in model.deepmind_variables().items()}
  if not named:
    raise ValueError("the model has no variables yet: build it before saving")
  names, tensors = [], []
  for name, var in sorted(named.items()):
    value = tf.cast(tf.convert_to_tensor(var), tf.float32)
    if sonnet_v1_batch_norm and "/batch_norm/" in name:
      value = tf.reshape(value, [1, 1, 1, 1, -1])
    names.append(name)
    tensors.append(value)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tf.raw_ops.SaveV2(prefix=path, tensor_names=names, shape_and_slices=[""] * len(names),
                    tensors=tensors)
  # A `checkpoint` state file, as the release has, unless one exists for other checkpoints (e.g. a
  # training run's CheckpointManager): that one is left alone.
  base = os.path.basename(path)
  state = os.path.join(directory, "checkpoint")
  if not os.path.exists(state):
    with open(state, "w", encoding="utf-8") as f:
      f.write(f'model_checkpoint_path: "{base}"\nall_model_checkpoint_paths: "{base}"\n')
  return names
