"""SavedModel export: the serving signature, and the same logits reloaded in a process that never
imports i3d_tf."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from i3d_tf import export
from i3d_tf.models import registry

_RELOAD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    export_dir, inputs_path, outputs_path = sys.argv[1:]
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]
    inputs = dict(np.load(inputs_path))
    outputs = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    np.savez(outputs_path, **{k: v.numpy() for k, v in outputs.items()})
    _, kwargs = serve.structured_input_signature
    print(json.dumps({
        "imported_i3d_tf": sorted(m for m in sys.modules if m.split(".")[0] == "i3d_tf"),
        "inputs": {k: [v.shape.as_list(), v.dtype.name] for k, v in kwargs.items()},
        "label_map": (open(loaded.label_map.asset_path.numpy().decode()).read()
                      if hasattr(loaded, "label_map") else None)}))
""")


def _randomize(model, seed):
  """Non-trivial weights, moving statistics included (a fresh model's are 0 and 1)."""
  rng = np.random.default_rng(seed)
  for var in model.variables:
    if "moving_variance" in var.path:  # Keras 3 variable path
      var.assign(rng.uniform(0.5, 2.0, var.shape).astype(np.float32))
    else:
      var.assign(rng.normal(0.0, 0.05, var.shape).astype(np.float32))


def _reload_in_fresh_process(tmp_path, export_dir, inputs):
  np.savez(tmp_path / "inputs.npz", **inputs)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # i3d_tf not importable
  result = subprocess.run(
      [sys.executable, "-c", _RELOAD, str(export_dir), str(tmp_path / "inputs.npz"),
       str(tmp_path / "outputs.npz")],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  info = json.loads(result.stdout.strip().splitlines()[-1])
  return info, dict(np.load(tmp_path / "outputs.npz"))


@pytest.mark.slow
def test_single_stream_saved_model_reloads_in_fresh_process(tmp_path):
  spec = registry.get("i3d_rgb").input_spec
  model = registry.build_model("i3d_rgb", 6)
  model.build((None, None, 224, 224, 3))
  _randomize(model, seed=1)
  classes = [f"class {i}" for i in range(6)]
  export_dir = export.export_saved_model(model, str(tmp_path / "saved_model"), spec,
                                         label_map=classes)
  video = np.random.default_rng(2).uniform(-1, 1, (2, 12, 224, 224, 3)).astype(np.float32)
  expected = model(video, training=False).numpy()

  info, outputs = _reload_in_fresh_process(tmp_path, export_dir, {"video": video})
  assert info["imported_i3d_tf"] == []
  assert info["inputs"] == {"video": [[None, None, 224, 224, 3], "float32"]}
  assert info["label_map"] == "".join(f"{c}\n" for c in classes)
  assert np.abs(expected).max() > 1e-2
  np.testing.assert_allclose(outputs["logits"], expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(outputs["probabilities"], tf.nn.softmax(expected).numpy(),
                             rtol=1e-5, atol=1e-6)


def test_label_map_must_match_classes(tmp_path):
  spec = registry.get("i3d_flow").input_spec
  model = registry.build_model("i3d_flow", 3)
  try:
    export.export_saved_model(model, str(tmp_path / "sm"), spec, label_map=["a", "b"])
  except ValueError as e:
    assert "2 classes; the model has 3" in str(e)
  else:
    raise AssertionError("a 2-class label map was accepted for a 3-class model")


def test_two_stream_has_both_streams_parameters():
  model = registry.build_model("i3d_two_stream", 400)
  model.build()
  count = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
  assert count == 12_689_984 + 12_668_032
  names = model.deepmind_variables()
  assert len(names) == 460
  assert sum(n.startswith("RGB/inception_i3d/") for n in names) == 230
