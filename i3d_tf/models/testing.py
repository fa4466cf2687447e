"""The test every registered model passes: `run_model_test(name, tmp_dir)` (KerasHub's
`run_backbone_test` idea, written for this library).

It builds the model at the small settings its registry entry declares
(`registry.ModelSpec.test_settings`) and checks what the library promises of every model: the
calling convention, Keras serialisation (get_config/from_config, `.keras` and `.weights.h5` files),
mixed_bfloat16, tf.train.Checkpoint tracking, a frame count of None (exported signatures) and
width_multiplier. Registering a model with its test settings is all it takes to be tested
(tests/test_models_shared.py runs this for every name in the registry). Each check is also a
function of its own, so a test can run one and a failure names the check and the model.
"""
import json
import os

import keras
import numpy as np
import tensorflow as tf

from i3d_tf import models
from i3d_tf.models import registry
from i3d_tf.models import width as width_lib

CHANNELS = {"rgb": 3, "flow": 2}
BATCH = 2
TOLERANCE = dict(rtol=1e-5, atol=1e-5)


def settings(name):
  return registry.get(name).test_settings


def small_inputs(name, seed=0, frames=None):
  """Random inputs in [-1, 1] of the test settings' shape: a tensor [B, T, crop, crop, C] for one
  stream, else {stream: tensor}; `frames` ({stream: T}) overrides the settings' frame counts."""
  small = settings(name)
  rng = np.random.default_rng(seed)
  streams = {s: tf.constant(rng.uniform(
      -1, 1, (BATCH, t, small.crop, small.crop, CHANNELS[s])).astype(np.float32))
             for s, t in (frames or small.frames).items()}
  return streams if len(streams) > 1 else next(iter(streams.values()))


def small_model(name, **overrides):
  """Model `name` built at its test settings (unbuilt: call it or `.build(None)`)."""
  small = settings(name)
  options = {"width_multiplier": small.width, **small.options, **overrides}
  return registry.build_model(name, small.classes, **options)


def built_model(name, seed=1, **overrides):
  """small_model, called once and given random non-trivial weights (`randomise`)."""
  model = small_model(name, **overrides)
  model(small_inputs(name), training=False)
  randomise(model, seed)
  return model


def randomise(model, seed=1):
  """Random weights and batch-norm statistics, so that a variable lost on the way changes the
  logits (a fresh model's zero biases and 0/1 statistics could hide it)."""
  rng = np.random.default_rng(seed)
  for v in _model_variables(model):
    value = rng.normal(0.0, 0.2, tuple(v.shape))
    if "moving_variance" in v.path:
      value = np.abs(value) + 0.5
    v.assign(value.astype(np.float32))


def _model_variables(model):
  """The model's own variables: not the dropout layers' seed generators' states."""
  return [v for v in model.variables if "seed_generator" not in v.path]


def _logits(model, inputs):
  return np.asarray(tf.cast(model(inputs, training=False), tf.float32))


def _assert_same_logits(got, expected, what):
  np.testing.assert_allclose(got, expected, err_msg=what, **TOLERANCE)


def check_forward(name, model, inputs):
  """Logits [B, classes], finite and not all equal (training=False); returns them."""
  logits = _logits(model, inputs)
  assert logits.shape == (BATCH, settings(name).classes), (name, logits.shape)
  assert np.all(np.isfinite(logits)), f"{name}: non-finite logits"
  assert np.ptp(logits) > 0, f"{name}: every logit equal {logits.flat[0]}"
  assert type(model).__module__ in models.MODEL_MODULES, (
      f"{name}: {type(model).__module__} is missing from i3d_tf.models.MODEL_MODULES, so "
      f"i3d_tf.load_model cannot find the class in a fresh process")
  return logits


def check_keras_file(name, model, inputs, expected, tmp_dir):
  """get_config is JSON and a `.keras` file (from_config, then the weights) loads without
  custom_objects: the same class, config and logits. Returns the loaded model (a fresh model of
  the same config for the checks below)."""
  config = model.get_config()
  json.dumps(config)  # as the .keras file stores it
  serialized = keras.saving.serialize_keras_object(model)
  assert serialized["registered_name"] == f"i3d_tf>{type(model).__name__}", (name, serialized)
  path = os.path.join(tmp_dir, f"{name}.keras")
  model.save(path)
  loaded = keras.saving.load_model(path)
  assert type(loaded) is type(model), (name, type(loaded))
  assert loaded.get_config() == config, name
  assert [tuple(v.shape) for v in loaded.weights] == [tuple(v.shape) for v in model.weights], name
  _assert_same_logits(_logits(loaded, inputs), expected, f"{name}: .keras file")
  return loaded


def check_weights_file(name, model, fresh, inputs, expected, tmp_dir):
  """`.weights.h5` restores every weight into `fresh` (a built model of the same config)."""
  path = os.path.join(tmp_dir, f"{name}.weights.h5")
  model.save_weights(path)
  randomise(fresh, seed=7)
  fresh.load_weights(path)
  _assert_same_logits(_logits(fresh, inputs), expected, f"{name}: .weights.h5")


def check_checkpoint(name, model, fresh, inputs, expected, tmp_dir):
  """tf.train.Checkpoint saves every variable by its attribute path (Keras does not track layers
  held in plain dicts: a lost one is missing here) and restores them into `fresh`."""
  prefix = tf.train.Checkpoint(model=model).save(os.path.join(tmp_dir, f"{name}_ckpt"))
  keys = [k for k, _ in tf.train.list_variables(prefix)
          if k.startswith("model/") and k.endswith("/.ATTRIBUTES/VARIABLE_VALUE")]
  assert len(keys) == len(_model_variables(model)), (
      f"{name}: the checkpoint holds {len(keys)} variables, the model has "
      f"{len(_model_variables(model))}")
  assert not any("variable_" in k for k in keys), [k for k in keys if "variable_" in k][:3]
  randomise(fresh, seed=8)
  tf.train.Checkpoint(model=fresh).restore(prefix).assert_existing_objects_matched()
  _assert_same_logits(_logits(fresh, inputs), expected, f"{name}: checkpoint")


def check_unknown_frame_count(name, model, inputs, expected):
  """Traced with a frame count of None, as export's serving signatures are: the same logits."""
  spec = tf.nest.map_structure(
      lambda x: tf.TensorSpec([None, None] + x.shape[2:].as_list(), x.dtype), inputs)
  traced = tf.function(lambda x: model(x, training=False), input_signature=[spec])
  _assert_same_logits(np.asarray(traced(inputs)), expected, f"{name}: frame count None")


def check_mixed_bfloat16(name):
  """dtype='mixed_bfloat16' reaches every sub-layer: float32 variables, finite bfloat16 logits.
  (bfloat16: TensorFlow has no CPU kernel for a float16 MaxPool3D.) Built at the default width
  (1.0, the paper's network); returns the model."""
  small = settings(name)
  options = {k: v for k, v in small.options.items() if k != "width_multiplier"}
  model = registry.build_model(name, small.classes, dtype="mixed_bfloat16", **options)
  logits = model(small_inputs(name), training=False)
  policies = {layer.dtype_policy.name for layer in model._flatten_layers()}  # pylint: disable=protected-access
  assert policies == {"mixed_bfloat16"}, (name, policies)
  assert all(v.dtype == "float32" for v in _model_variables(model)), name
  assert logits.dtype == tf.bfloat16, (name, logits.dtype)
  assert logits.shape == (BATCH, small.classes), (name, logits.shape)
  assert np.all(np.isfinite(np.asarray(tf.cast(logits, tf.float32)))), name
  clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
  assert clone.dtype_policy.name == "mixed_bfloat16", name
  return model


def check_width(name, model, full):
  """`model` at the settings' width_multiplier m against `full`, built without one (the default,
  1.0: the paper's network), variable by variable: every layer's channels are round(c * m), the
  logits' stay the classes."""
  small = settings(name)
  assert full.width_multiplier == 1.0 and model.width_multiplier == small.width, name
  full_vars, narrow_vars = _model_variables(full), _model_variables(model)
  assert len(full_vars) == len(narrow_vars), (name, len(full_vars), len(narrow_vars))
  logits = 0
  for a, b in zip(full_vars, narrow_vars):
    channels = a.shape[-1]
    if channels == small.classes:
      logits += 1
      expected = channels
    else:
      expected = width_lib.scaled(channels, small.width)
    assert b.shape[-1] == expected, (
        f"{name}: {b.path} has {b.shape[-1]} channels at width {small.width}; expected "
        f"{expected} (from {channels} at 1.0)")
  assert logits, f"{name}: no variable has the {small.classes} classes"


def run_model_test(name, tmp_dir):
  """Every check above for registered model `name`; files go to `tmp_dir`."""
  model = built_model(name)
  inputs = small_inputs(name, seed=2)
  expected = check_forward(name, model, inputs)
  fresh = check_keras_file(name, model, inputs, expected, tmp_dir)
  check_weights_file(name, model, fresh, inputs, expected, tmp_dir)
  check_checkpoint(name, model, fresh, inputs, expected, tmp_dir)
  check_unknown_frame_count(name, model, inputs, expected)
  full = check_mixed_bfloat16(name)
  check_width(name, model, full)
