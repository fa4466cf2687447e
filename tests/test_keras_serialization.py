"""Keras library objects beyond the shared model test (i3d_tf/models/testing.py, which checks
get_config/from_config, `.keras` and `.weights.h5` files, mixed_bfloat16 and tf.train.Checkpoint
for every registered model in-process): `.keras` files load in a fresh process without
custom_objects, and Unit3D keeps every argument in its config.

The default run loads C3D in a fresh process (the shared test checks that every model's module is
one that `i3d_tf.load_model` imports); the slow run loads the other registered models so.
"""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from i3d_tf.models import registry
from i3d_tf.models import testing
from tests.conftest import REPO_ROOT

FAST = ("c3d",)
REST = tuple(sorted(set(registry.names()) - set(FAST)))


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
    model = testing.built_model(name)
    inputs = testing.small_inputs(name, seed=2)
    expected[name] = model(inputs, training=False).numpy()
    model.save(str(tmp_path / f"{name}.keras"))
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
