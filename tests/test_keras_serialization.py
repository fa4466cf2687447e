"""Every registered model as a Keras library object: get_config/from_config, `.keras` files loaded
in a fresh process without custom_objects, `.weights.h5`, mixed_bfloat16, tf.train.Checkpoint.

Small shapes and width 1/8 throughout; one subprocess loads the `.keras` files. The default run
checks an I3D stream and a baseline (C3D); the slow run the other registered models.
"""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.models import registry
from tests.conftest import REPO_ROOT

# Reduced options each model's builder accepts, and a small input for each.
SMALL = {
    "i3d_rgb": dict(width_multiplier=0.125, final_pool_padding="SAME"),
    "i3d_flow": dict(width_multiplier=0.125, final_pool_padding="SAME"),
    "i3d_two_stream": dict(width_multiplier=0.125, final_pool_padding="SAME"),
    "lstm": dict(width_multiplier=0.125, max_steps=3),
    "c3d": dict(width_multiplier=0.125, fc_units=64, clip_frames=4, crop_size=32),
    "two_stream": dict(width_multiplier=0.125),
    "fused_3d": dict(width_multiplier=0.125),
}
FRAMES = {  # model -> {stream: frames}
    "i3d_rgb": {"rgb": 4}, "i3d_flow": {"flow": 4}, "i3d_two_stream": {"rgb": 4, "flow": 4},
    "lstm": {"rgb": 3}, "c3d": {"rgb": 4}, "two_stream": {"rgb": 1, "flow": 10},
    "fused_3d": {"rgb": 2, "flow": 20},
}
CHANNELS = {"rgb": 3, "flow": 2}
NUM_CLASSES = 5
FAST = ("c3d", "i3d_flow")
REST = tuple(sorted(set(SMALL) - set(FAST)))
# Every registered model: FAST in the default run, the others marked slow.
ALL_MODELS = [*FAST, *(pytest.param(name, marks=pytest.mark.slow) for name in REST)]


def small_inputs(name, seed=0):
  rng = np.random.default_rng(seed)
  streams = {s: rng.uniform(-1, 1, (2, t, 32, 32, CHANNELS[s])).astype(np.float32)
             for s, t in FRAMES[name].items()}
  return streams if len(streams) > 1 else next(iter(streams.values()))


def small_model(name, **extra):
  model = registry.build_model(name, NUM_CLASSES, **SMALL[name], **extra)
  model(small_inputs(name), training=False)
  return model


def _randomise(model, seed=1):
  """Non-trivial weights and batch-norm statistics, so that a lost variable changes the logits."""
  rng = np.random.default_rng(seed)
  for v in model.variables:
    if "seed_generator" in v.path:
      continue
    value = rng.normal(0.0, 0.2, tuple(v.shape))
    if "moving_variance" in v.path:
      value = np.abs(value) + 0.5
    v.assign(value.astype(v.dtype.name if hasattr(v.dtype, "name") else v.dtype))


def test_every_model_is_covered():
  assert set(SMALL) == set(registry.names())


@pytest.mark.parametrize("name", ALL_MODELS)
def test_get_config_from_config_round_trip_gives_the_same_model(name):
  model = small_model(name)
  config = model.get_config()
  json.dumps(config)  # JSON-serialisable, as a .keras file stores it
  serialized = keras.saving.serialize_keras_object(model)
  assert serialized["registered_name"] == f"i3d_tf>{type(model).__name__}", serialized
  clone = keras.saving.deserialize_keras_object(serialized)  # no custom_objects
  assert type(clone) is type(model)
  assert clone.get_config() == config
  clone(small_inputs(name), training=False)
  assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in model.weights]


def test_unit3d_config_keeps_every_argument():
  from i3d_tf import layers  # pylint: disable=import-outside-toplevel
  unit = layers.Unit3D(8, (3, 1, 1), stride=(1, 2, 2), padding="valid", sync_batch_norm=True,
                       kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                       name="u")
  config = unit.get_config()
  assert config["padding"] == "valid" and config["sync_batch_norm"] is True
  assert config["kernel_initializer"]["config"]["stddev"] == 0.01
  clone = layers.Unit3D.from_config(config)
  assert clone.conv.padding == "valid" and clone.bn.synchronized
  assert clone.kernel_initializer.stddev == 0.01


@pytest.mark.parametrize("names", [pytest.param(FAST, id="fast"),
                                   pytest.param(REST, marks=pytest.mark.slow, id="rest")])
def test_keras_files_load_in_a_fresh_process_without_custom_objects(names, tmp_path):
  expected = {}
  for name in names:
    model = small_model(name)
    _randomise(model)
    inputs = small_inputs(name, seed=2)
    expected[name] = model(inputs, training=False).numpy()
    model.save(str(tmp_path / f"{name}.keras"))
    model.save_weights(str(tmp_path / f"{name}.weights.h5"))
    np.savez(str(tmp_path / f"{name}_inputs.npz"),
             **(inputs if isinstance(inputs, dict) else {"x": inputs}))
  script = textwrap.dedent(f"""
      import json, sys
      import numpy as np
      import keras
      import i3d_tf
      out = {{}}
      for name in {list(names)!r}:
        model = i3d_tf.load_model(r"{tmp_path}/" + name + ".keras")  # keras.saving.load_model
        arrays = dict(np.load(r"{tmp_path}/" + name + "_inputs.npz"))
        inputs = arrays["x"] if list(arrays) == ["x"] else arrays
        out[name] = [type(model).__module__ + "." + type(model).__name__,
                     np.asarray(model(inputs, training=False)).tolist()]
      json.dump(out, sys.stdout)
      """)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": REPO_ROOT},
                          timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  loaded = json.loads(result.stdout)
  for name in names:
    assert loaded[name][0].startswith("i3d_tf.models."), loaded[name][0]
    np.testing.assert_allclose(loaded[name][1], expected[name], rtol=1e-5, atol=1e-5,
                               err_msg=name)
    # .weights.h5 into a fresh model of the same configuration.
    fresh = small_model(name)
    fresh.load_weights(str(tmp_path / f"{name}.weights.h5"))
    arrays = dict(np.load(str(tmp_path / f"{name}_inputs.npz")))
    inputs = arrays["x"] if list(arrays) == ["x"] else arrays
    np.testing.assert_allclose(fresh(inputs, training=False).numpy(), expected[name],
                               rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_mixed_bfloat16_reaches_every_sub_layer(name):
  model = small_model(name, dtype="mixed_bfloat16")
  assert model.dtype_policy.name == "mixed_bfloat16"
  sub_layers = model._flatten_layers()  # pylint: disable=protected-access
  policies = {layer.dtype_policy.name for layer in sub_layers}
  assert policies == {"mixed_bfloat16"}, policies
  assert all(v.dtype == "float32" for v in model.variables if "seed_generator" not in v.path)
  logits = model(small_inputs(name), training=False)
  assert logits.dtype == tf.bfloat16 and logits.shape == (2, NUM_CLASSES)
  assert np.all(np.isfinite(tf.cast(logits, tf.float32).numpy()))
  assert keras.saving.deserialize_keras_object(
      keras.saving.serialize_keras_object(model)).dtype_policy.name == "mixed_bfloat16"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_tf_train_checkpoint_of_the_model_saves_every_variable_by_path(name, tmp_path):
  model = small_model(name)
  _randomise(model)
  prefix = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
  keys = [k for k, _ in tf.train.list_variables(prefix)
          if k.startswith("model/") and k.endswith("/.ATTRIBUTES/VARIABLE_VALUE")]
  variables = [v for v in model.variables if "seed_generator" not in v.path]
  assert len(keys) == len(variables), (len(keys), len(variables))
  assert not any("variable_" in k for k in keys)
  fresh = small_model(name)
  tf.train.Checkpoint(model=fresh).restore(prefix).assert_existing_objects_matched()
  for a, b in zip(model.variables, fresh.variables):
    if "seed_generator" not in a.path:
      np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
