"""The README's first command, for real (issue #4): with no data flags, `train_kinetics` builds the
embedded synthetic_motion set from nothing and trains the reduced configuration to at least 90%
top-1 on the held-out split, for the flow and the RGB I3D alike. Minutes each, hence slow; the
two share one cache with the miniature's test, so the set is built once."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

REQUIRED_TOP1 = 0.90  # issue #4: "reaches at least 90% top-1 on its held-out split"
MODELS = ("i3d_flow", "i3d_rgb")  # also stand for these two in the miniature's test


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_readme_first_command_reaches_90_percent_held_out(model, synthetic_motion_cache, tmp_path):
  run = tmp_path / "run"
  env = dict(os.environ, I3D_TF_CACHE=str(synthetic_motion_cache))
  result = subprocess.run(
      [sys.executable, "-m", "experiments.train_kinetics", f"--model={model}",
       f"--model_dir={run}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
      timeout=1800, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "REDUCED configuration" in result.stdout
  metrics = json.loads((run / "metrics.json").read_text())
  assert metrics["eval"]["num_examples"] == 96  # the whole held-out split of synthetic_motion/small
  assert metrics["eval"]["top1"] >= REQUIRED_TOP1, (
      f"{model}: held-out top-1 {metrics['eval']['top1']:.3f} < {REQUIRED_TOP1}; "
      f"stdout tail: {result.stdout[-1500:]}")
  assert (run / "saved_model" / "saved_model.pb").exists()
