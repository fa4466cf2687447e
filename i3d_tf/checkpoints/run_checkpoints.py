"""A training run's ckpt-* checkpoints: which one is readable, their two layouts, restoring a model.

Below training and evaluation: the trainer resumes through it, and the run folders
(checkpoints/runs.py), `--init` and evaluation restore a model through it. A run checkpoint holds
the model under its attribute paths (`model=model`) and the optimizer's own state
(`optimizer_state`); runs made before variables had paths hold `checkpoint_variables`' map, which
`model_checkpoint` / `restore_model` still read.
"""
import logging as pylogging
import os

import tensorflow as tf

log = pylogging.getLogger("i3d_tf.training")  # its warnings are about resuming a run


class NoReadableCheckpointError(RuntimeError):
  """model_dir has checkpoints, and none of them can be read."""


def checkpoint_candidates(model_dir):
  """model_dir's checkpoint prefixes, newest first: every ckpt-N with an index, and the one the
  `checkpoint` state file names (also when its files are gone)."""
  prefixes = {}
  for index in tf.io.gfile.glob(os.path.join(model_dir, "ckpt-*.index")):
    prefix = index[:-len(".index")]
    step = prefix.rsplit("-", 1)[1]
    if step.isdigit():
      prefixes[prefix] = int(step)
  latest = tf.train.latest_checkpoint(model_dir)
  if latest and latest not in prefixes:
    step = latest.rsplit("-", 1)[-1]
    prefixes[latest] = int(step) if step.isdigit() else -1
  return sorted(prefixes, key=lambda p: prefixes[p], reverse=True)


def checkpoint_problem(prefix):
  """None if every tensor of the checkpoint at `prefix` reads back; else what is wrong with it.

  A checkpoint cut short (a full disk, an interrupted copy) has an intact index and a short .data
  file: only reading the tensors finds it ("Read less bytes than requested").
  """
  try:
    reader = tf.train.load_checkpoint(prefix)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except (tf.errors.OpError, IndexError, ValueError, OSError) as e:
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
  return None


def newest_readable_checkpoint(model_dir):
  """The newest checkpoint of model_dir whose tensors all read back, or None when it has none.

  Each unreadable newer one is logged as a warning naming it; when every checkpoint is
  unreadable a NoReadableCheckpointError names them all.
  """
  candidates = checkpoint_candidates(model_dir)
  bad = []
  for prefix in candidates:
    problem = checkpoint_problem(prefix)
    if problem is None:
      return prefix
    bad.append(f"{prefix} ({problem})")
    log.warning("checkpoint %s is unreadable (%s); falling back to the previous checkpoint",
                prefix, problem)
  if bad:
    raise NoReadableCheckpointError(
        f"model_dir {model_dir}: no checkpoint can be read: {'; '.join(bad)}. Move these files "
        f"aside (or pass another --model_dir) to start the run over.")
  return None


def checkpoint_variables(model):
  """{name: variable}: the model part of run checkpoints written before variables had paths.

  Those runs held this explicit map (their models kept layers in dicts and lists, which
  tf.train.Checkpoint does not follow): the release's names where the model has them, otherwise
  the variable's position in `model.variables` ('variable_0000', ...). Runs now hold the model
  itself (`model=model`: every variable under its attribute path, e.g.
  'model/Mixed_3b/b0_0a_1x1/conv/_kernel'); this map is kept to read the older runs
  (`model_checkpoint`, `restore_model`). Dropout's random generator state is left out.
  """
  named = {}
  if hasattr(model, "deepmind_variables"):
    named.update(model.deepmind_variables())
  listed = {id(v) for v in named.values()}
  others = [v for v in model.variables
            if id(v) not in listed and "seed_generator" not in v.path]
  for i, v in enumerate(others):
    named[f"variable_{i:04d}"] = v
  return named


def is_legacy_checkpoint(checkpoint_prefix):
  """Whether a run checkpoint has the layout of `checkpoint_variables` (runs made before paths).

  That layout's model keys are the map's names: 'model/variable_0000/...' or a release name, whose
  '/' tf.train.Checkpoint escapes as '.S' ('model/Conv3d_1a_7x7.Sconv_3d.Sw/...'); attribute
  paths contain neither.
  """
  for key, _ in tf.train.list_variables(checkpoint_prefix):
    parts = key.split("/")
    if parts[0] == "model" and len(parts) > 1 and (
        parts[1].startswith("variable_") or ".S" in parts[1]):
      return True
  return False


def model_checkpoint(model, checkpoint_prefix=None, **others):
  """tf.train.Checkpoint of `model` (and `others`) in the layout of `checkpoint_prefix`.

  The layout today is `model=model`; a checkpoint of a run made before that gets the older map
  (`checkpoint_variables`), so old runs still resume and load.
  """
  if checkpoint_prefix is not None and is_legacy_checkpoint(checkpoint_prefix):
    return tf.train.Checkpoint(model=checkpoint_variables(model), **others)
  return tf.train.Checkpoint(model=model, **others)


def restore_model(model, checkpoint_prefix):
  """Restores a built model's variables from a run checkpoint of either layout.

  Raises if a model variable is not in the checkpoint (the optimizer's slots are ignored).
  """
  status = model_checkpoint(model, checkpoint_prefix).restore(checkpoint_prefix)
  status.expect_partial().assert_existing_objects_matched()
  return status


def optimizer_state(optimizer):
  """{name: variable} of an optimizer's own state, for run checkpoints.

  Iterations, learning rate, loss scale, and the slots (momentum), which Keras names after their
  model variable's path ('inception_i3d_Conv3d_1a_7x7_conv_3d_kernel_momentum'). The optimizer's
  list of the model's trainable variables is left out: in the checkpoint it would name them by
  position ('optimizer/_trainable_variables/0'), ahead of their paths under 'model/'.
  """
  inner = getattr(optimizer, "inner_optimizer", None)  # LossScaleOptimizer
  inner_ids = {id(v) for v in inner.variables} if inner is not None else set()
  named = {}
  for v in optimizer.variables:
    name = v.name if inner is None or id(v) in inner_ids else f"loss_scale_{v.name}"
    if name in named:
      raise ValueError(f"optimizer variables {named[name].path} and {v.path} share the "
                       f"checkpoint name {name!r}")
    named[name] = v
  return named
