"""benchmarks/xla_export.py and xla_run.py: the XLA programs TensorFlow compiles, run by JAX alone
(as on the GPU machine, which has no TensorFlow), give TensorFlow's outputs."""
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

pytest.importorskip("jax", reason="jax is not installed: pip install '.[xla]'")

# xla_run.py as the GPU machine runs it, with TensorFlow made unimportable.
_WITHOUT_TF = ("import runpy, sys; sys.modules['tensorflow'] = None; sys.argv = sys.argv[1:]; "
               "runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """A small TV-L1 program (32x32, batch 2, few iterations) and a small I3D forward (quarter
  width, SAME final pool, a [1, 4, 32, 32, 3] clip), with TensorFlow's outputs."""
  from benchmarks import xla_export  # pylint: disable=import-outside-toplevel
  from i3d_tf.video import tvl1  # pylint: disable=import-outside-toplevel
  folder = tmp_path_factory.mktemp("xla_programs")
  params = tvl1.TVL1Params(scales=2, warps=1, outer_iterations=2, inner_iterations=3)
  entries = xla_export.export_tvl1(folder, [(32, 32)], [2], params=params, videos=[],
                                   num_pairs=2, check_pairs=1)
  entries += xla_export.export_i3d(folder, "rgb", "float32", programs=("forward",),
                                   check_width=0.25, check_clip=(4, 32, 32), check_batch=1,
                                   timed=False)
  xla_export.write_manifest(folder, entries)
  return folder


def test_jax_runs_tensorflows_programs_with_tensorflows_outputs(exported, tmp_path):
  results_path = tmp_path / "results.json"
  done = subprocess.run(
      [sys.executable, "-c", _WITHOUT_TF, str(REPO_ROOT / "benchmarks" / "xla_run.py"),
       str(exported), "--min_time_s=0", "--min_calls=1", f"--json={results_path}"],
      capture_output=True, text=True, timeout=300, check=False)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  results = {r["name"]: r for r in json.loads(results_path.read_text())["results"]}
  assert sorted(results) == ["i3d_rgb_float32_forward_b1_check", "tvl1_32x32_b2"]
  flow = results["tvl1_32x32_b2"]
  # Pair 0 has TensorFlow's flow; pair 1 does not and is not compared.
  assert flow["check_passed"] and flow["check_values"]["epe_mean"] <= 0.05, flow
  logits = results["i3d_rgb_float32_forward_b1_check"]
  assert logits["check_passed"] and logits["check_values"]["logits_max_rel"] <= 1e-4, logits
  assert all(r["ms_per_call"] > 0 and r["compile_s"] > 0 for r in results.values())
  assert "| tvl1_32x32_b2 |" in done.stdout  # the markdown table


def test_check_fails_on_outputs_that_are_not_tensorflows(exported):
  """The comparison is not vacuous: TensorFlow's own outputs pass it, shifted ones do not."""
  sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
  try:
    import xla_run  # pylint: disable=import-outside-toplevel
  finally:
    sys.path.pop(0)
  manifest = json.loads((exported / "manifest.json").read_text())
  arrays = xla_run._Arrays(str(exported))  # pylint: disable=protected-access
  for entry in manifest["programs"]:
    inputs = xla_run.make_inputs(arrays, entry)
    if entry["kind"] == "tvl1":
      reference = arrays.get(entry["data"], "flow")
      good = np.concatenate([reference, np.zeros_like(reference)])  # pair 1: not compared
      bad = good + np.float32(0.1)  # 0.14 px off
    else:
      good = arrays.get(*entry["check"]["outputs"][0])
      bad = good * np.float32(1.001)
    assert xla_run.check(arrays, entry, inputs, [good])[0], entry["name"]
    assert not xla_run.check(arrays, entry, inputs, [bad])[0], entry["name"]
