"""`--init`: scratch, ImageNet inflation, or the weights of an earlier checkpoint.

A checkpoint is either one of our training runs (a model_dir with run_config.json and ckpt-* files,
e.g. a Kinetics run to fine-tune from) or a checkpoint in DeepMind's release layout
('.../rgb_imagenet/model.ckpt'). Classifier variables whose shapes differ (the logits, when the
number of classes changes) keep their fresh initialisation and are reported. Any other shape
mismatch (a Flow checkpoint into an RGB model: the first conv takes 2 channels, not 3) is an error
naming the checkpoint and both streams, unless `allow_partial` (--allow_partial_init) keeps those
variables fresh too, with a warning.
"""
import json
import logging as pylogging
import os

import numpy as np
import tensorflow as tf

from i3d_tf.checkpoints import deepmind
from i3d_tf.checkpoints import files
from i3d_tf.training import trainable

log = pylogging.getLogger("i3d_tf.training")

INIT_CHOICES = ("scratch", "imagenet", "<checkpoint path>")


def _is_own_run(path):
  return os.path.isdir(path) and os.path.exists(os.path.join(path, "run_config.json"))


class StreamMismatchError(ValueError):
  """--init holds another stream's (or another architecture's) weights than the model's."""


def _stream(channels):
  return {3: "RGB", 2: "Flow"}.get(channels, f"{channels}-channel")


def _classifier_variable_ids(model):
  try:
    return {id(v) for layer in trainable.classifier_layers(model) for v in layer.weights}
  except ValueError:
    return set()


def check_mismatches(init, checkpoint, source, target, model, allow_partial, model_name=None):
  """Raises StreamMismatchError when variables outside the classifier differ in shape.

  The logits differ whenever the class count does (they stay fresh, as fine-tuning wants); any
  other difference means the checkpoint is of another stream or architecture.
  """
  classifier = _classifier_variable_ids(model)
  mismatched = [(name, tuple(np.shape(source[name])), tuple(variable.shape))
                for name, variable in target.items()
                if name in source and id(variable) not in classifier
                and np.size(source[name]) != np.prod(variable.shape)]
  if not mismatched:
    return []
  listed = "; ".join(f"{n}: checkpoint {list(a)}, model {list(b)}" for n, a, b in mismatched[:4])
  more = f" and {len(mismatched) - 4} more" if len(mismatched) > 4 else ""
  what = f"--model={model_name}" if model_name else f"the model ({model.name})"
  first = next(((n, a, b) for n, a, b in mismatched if len(a) == len(b) == 5 and a[-2] != b[-2]
                and a[-2] in (2, 3) and b[-2] in (2, 3)), None)
  if first:
    name, a, b = first
    summary = (f"--init={init}: {checkpoint} holds a {_stream(a[-2])} stream ({a[-2]} input "
               f"channels: {name} {list(a)}), but {what} takes {_stream(b[-2])} input ({b[-2]} "
               f"channels: {list(b)}).")
  else:
    summary = (f"--init={init}: {len(mismatched)} variables of {checkpoint} outside the classifier "
               f"do not fit {what}.")
  if not allow_partial:
    raise StreamMismatchError(
        f"{summary} Mismatched: {listed}{more}. Initialise from a checkpoint of the same stream "
        f"and architecture, or pass --allow_partial_init to load the variables that fit and keep "
        f"these at their random initialisation.")
  log.warning("%s --allow_partial_init: keeping at random initialisation: %s%s", summary, listed,
              more)
  return mismatched


def _copy_matching(source, target, skip_prefixes=()):
  """Assigns source[name] to target[name] where shapes agree; returns (copied, skipped names)."""
  copied, skipped = 0, []
  for name, variable in target.items():
    if any(name.startswith(p) for p in skip_prefixes):
      skipped.append(name)
      continue
    if name not in source:
      skipped.append(name)
      continue
    value = np.asarray(source[name])
    if value.shape != tuple(variable.shape):
      if value.size == np.prod(variable.shape) and "batch_norm" in name:
        value = value.reshape(variable.shape)  # Sonnet v1 kept [1, 1, 1, 1, C] statistics
      else:
        skipped.append(name)
        continue
    variable.assign(tf.cast(value, variable.dtype))
    copied += 1
  return copied, skipped


def _variables_by_name(model):
  if hasattr(model, "deepmind_variables"):
    return model.deepmind_variables()
  return {v.path: v for v in model.weights}


def init_from_run(model, run_dir, allow_partial=False, model_name=None):
  """Copies the weights of run_dir's newest readable checkpoint into `model` (logits only if
  shapes fit)."""
  from i3d_tf.models import registry  # pylint: disable=import-outside-toplevel
  with open(os.path.join(run_dir, "run_config.json")) as f:
    run = json.load(f)
  from i3d_tf.training import loop  # pylint: disable=import-outside-toplevel
  latest = loop.newest_readable_checkpoint(run_dir)
  if latest is None:
    raise ValueError(f"--init={run_dir}: the run has no ckpt-* checkpoint yet")
  source_model = registry.build_model(run["model"], run["num_classes"],
                                      **run.get("model_options", {}))
  shape = run["example_input_shape"]  # one stream: a shape; several: {stream: shape}
  example = ({name: tf.zeros(s) for name, s in shape.items()} if isinstance(shape, dict)
             else tf.zeros(shape))
  source_model(example, training=False)
  loop.restore_model(source_model, latest)  # either layout: by path, or the older map
  source = {k: v.numpy() for k, v in _variables_by_name(source_model).items()}
  target = _variables_by_name(model)
  check_mismatches(run_dir, f"{latest} ({run['model']} run)", source, target, model,
                   allow_partial, model_name)
  copied, skipped = _copy_matching(source, target)
  if copied == 0:
    raise ValueError(f"--init={run_dir}: no variable of {latest} matches the model "
                     f"(model {run['model']} there)")
  log.info("initialised %d variables from %s; kept fresh: %s", copied, latest, skipped)
  return copied, skipped


def init_from_deepmind(model, path, allow_partial=False, model_name=None):
  """Copies a release-layout checkpoint ('RGB/inception_i3d/...' or unscoped) into an I3D model.

  The checkpoint is read through the importer's checks (i3d_tf/checkpoints/files.py): a missing,
  random or cut-short file raises UnreadableCheckpointError naming it, before any weight is
  assigned, rather than TensorFlow's bare "Read less bytes than requested".
  """
  if not hasattr(model, "deepmind_variables"):
    raise ValueError(f"--init={path}: a DeepMind-layout checkpoint initialises I3D models only")
  prefix = deepmind.checkpoint_prefix(path)  # a prefix, its .index / .data-* file or its folder
  names = list(files.list_variables(prefix))
  target = model.deepmind_variables()
  chosen = {}
  for wanted in target:
    hits = [n for n in names if n == wanted or n.endswith("/" + wanted)]
    hits = [n for n in hits if "Momentum" not in n and "ExponentialMovingAverage" not in n]
    if len(hits) > 1:
      stream = "RGB" if getattr(model, "in_channels", 3) == 3 else "Flow"
      hits = [n for n in hits if n.startswith(stream + "/")] or hits[:1]
    if hits:
      chosen[wanted] = hits[0]
  values = files.read_tensors(prefix, sorted(set(chosen.values())))  # all read before any is used
  source = {wanted: values[name] for wanted, name in chosen.items()}
  check_mismatches(path, prefix, source, target, model, allow_partial, model_name)
  copied, skipped = _copy_matching(source, target)
  if copied == 0:
    raise ValueError(f"--init={path}: no variable of the checkpoint matches the model's "
                     f"DeepMind names (expected e.g. RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w)")
  log.info("initialised %d variables from %s; kept fresh: %s", copied, prefix, skipped)
  return copied, skipped


def initialize(model, init, imagenet_checkpoint=None, allow_partial=False, model_name=None):
  """Applies `--init` to a built model (only when the run starts; a resumed run restores instead).

  Returns (variables copied, names kept fresh) for a checkpoint, None for scratch / imagenet.

  allow_partial: --allow_partial_init (keep variables of another stream's shape fresh).
  """
  if init == "scratch":
    return
  if init == "imagenet":
    if not imagenet_checkpoint:
      raise ValueError("--init=imagenet needs --imagenet_checkpoint (slim's inception_v1.ckpt)")
    from i3d_tf.checkpoints import inflation  # pylint: disable=import-outside-toplevel
    inflation.init_from_imagenet(model, imagenet_checkpoint)
    return
  if _is_own_run(init):
    return init_from_run(model, init, allow_partial, model_name)
  if os.path.exists(init) or os.path.exists(init + ".index") or tf.io.gfile.glob(init + "*"):
    return init_from_deepmind(model, init, allow_partial, model_name)
  raise ValueError(f"--init={init!r}: expected one of {', '.join(INIT_CHOICES)} (a training "
                   f"run's model_dir or a DeepMind-layout checkpoint prefix); no such path")
