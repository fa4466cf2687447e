"""Issue #11 end to end: synthetic_motion built with the TensorFlow TV-L1 (`python -m datasets.build
--flow_method=tvl1_tf`), then `python -m experiments.train_kinetics --model=i3d_flow` on that build
with the embedded default's reduced configuration: at least 90% top-1 held out.

Sized for CI (BENCHMARKS.md, 'synthetic_motion built with `tvl1_tf`'): config `mini`, the first
160 train / 48 test clips of `small` (the build: ~2 min on 2 cores with the flow compiled by XLA,
was 6-8 min without), and 1200 steps instead of the embedded default's 1800. Measured before
choosing: 160 clips and 600 steps reached 93.8% and 97.9%, 96 clips and 1200 steps 95.8% and
97.9%, 160 clips and 1200 steps 100% twice; with the compiled flow, 95.8%."""
import json
import os
import subprocess
import sys
import time

import pytest

tfds = pytest.importorskip("tensorflow_datasets")
cv2 = pytest.importorskip("cv2")

from datasets import synthetic_motion  # noqa: E402
from experiments.configs import synthetic as synthetic_lib  # noqa: E402
from i3d_tf.data import records  # noqa: E402
from i3d_tf.video import flow as flow_lib  # noqa: E402
from tests.conftest import REPO_ROOT  # noqa: E402

REQUIRED_TOP1 = 0.90  # issue #11: "train_kinetics --model=i3d_flow on it still reaches 90%"
CONFIG = "mini"
STEPS = 1200


def _run(args, timeout):
  started = time.perf_counter()
  result = subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)
  return result, time.perf_counter() - started


@pytest.mark.slow
def test_flow_i3d_reaches_90_percent_on_synthetic_motion_built_with_tvl1_tf(tmp_path):
  config = next(c for c in synthetic_motion.Builder.BUILDER_CONFIGS if c.name == CONFIG)
  data_dir = tmp_path / "tfds"

  build, build_s = _run(["datasets.build", f"--dataset=synthetic_motion/{CONFIG}",
                         "--flow_method=tvl1_tf", f"--data_dir={data_dir}"], timeout=1800)
  assert build.returncode == 0, build.stderr[-3000:]
  name = f"synthetic_motion/{CONFIG}_tvl1_tf"  # a registered name takes the method (building.py)
  version_dir = data_dir / name / str(synthetic_motion.Builder.VERSION)
  metadata = json.loads((version_dir / "metadata.json").read_text())
  assert metadata["flow_method"] == "tvl1_tf"
  # The TensorFlow TV-L1 with OpenCV's default parameters (not tvl1_fast's looser ones), as this
  # process describes it on this machine.
  assert metadata["flow_settings"] == flow_lib.method_settings("tvl1_tf"), metadata
  assert "epsilon=0.01" in metadata["flow_settings"]
  assert "inner_iterations=30" in metadata["flow_settings"]
  assert metadata["shorter_side"] == 64 and metadata["fps"] == 25.0
  assert records.num_examples(str(data_dir), name, "train") == config.num_train
  assert records.num_examples(str(data_dir), name, "test") == config.num_test
  assert "0 skipped" in build.stdout, build.stdout

  run = tmp_path / "run"
  reduced = synthetic_lib.reduced_config("i3d_flow", STEPS)
  reduced["eval_every"] = 0  # one evaluation, at the end
  train, train_s = _run(["experiments.train_kinetics", "--model=i3d_flow",
                         f"--dataset={name}", f"--data_dir={data_dir}", f"--model_dir={run}",
                         "--init=scratch"] + synthetic_lib.flag_args(reduced), timeout=1800)
  assert train.returncode == 0, train.stderr[-3000:]
  metrics = json.loads((run / "metrics.json").read_text())
  print(f"\n{name}: build {build_s:.1f} s, training {train_s:.1f} s, held-out top-1 "
        f"{metrics['eval']['top1']:.4f} on {metrics['eval']['num_examples']} videos "
        f"(load {os.getloadavg()[0]:.1f})")
  assert metrics["step"] == STEPS
  assert metrics["run"]["model"] == "i3d_flow"
  assert metrics["run"]["config"]["clip"]["crop_size"] == 56  # sectioned config (issue 18)
  assert metrics["eval"]["num_examples"] == config.num_test  # the whole held-out split
  assert metrics["eval"]["top1"] >= REQUIRED_TOP1, (
      f"held-out top-1 {metrics['eval']['top1']:.3f} < {REQUIRED_TOP1}; "
      f"stdout tail: {train.stdout[-1500:]}")
