"""benchmarks/synthetic_online_training.py: the fresh-clips diagnostic runs, reports per class."""
import re
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_fresh_clip_training_runs_and_reports_held_out_top1_per_class():
  result = subprocess.run(
      # 4 of the 16 rendered frames (--frame_stride=4): the LSTM's steps, the per-step loss and
      # the report are the same at any length.
      [sys.executable, "-m", "benchmarks.synthetic_online_training", "--model=lstm", "--steps=2",
       "--eval_every=1", "--num_test=16", "--frame_stride=4", "--lstm_gamma_init=1.0"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [l for l in result.stdout.splitlines() if l.startswith("step ")]
  assert [l.split()[1] for l in lines] == ["1", "2"]
  for line in lines:
    top1 = float(re.search(r"held-out top-1 ([0-9.]+)", line).group(1))
    per_class = [float(v) for v in line.split("per class ")[1].split()]
    assert len(per_class) == 8 and all(0.0 <= v <= 1.0 for v in per_class)
    # 16 clips, 2 per class: top-1 is the mean of the per-class figures (printed to 3 decimals).
    assert abs(top1 - sum(per_class) / 8) <= 0.0005 + 1e-9
    assert 0.0 < float(re.search(r"training loss ([0-9.]+)", line).group(1)) < 10
