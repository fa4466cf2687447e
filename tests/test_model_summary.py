"""`python -m experiments.model_summary`: parameter count and input spec of a registered model."""
import json
import subprocess
import sys

import pytest

from experiments import model_summary
from tests.conftest import REPO_ROOT


def _run(*args):
  return subprocess.run([sys.executable, "-m", "experiments.model_summary", *args],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_json_for_c3d():
  result = _run("--model=c3d", "--num_classes=101", "--json")
  assert result.returncode == 0, result.stderr
  summary = json.loads(result.stdout)
  assert summary["model"] == "c3d" and summary["num_classes"] == 101
  # 79.6M with 400 classes; 101 classes remove 299 * 4097 logits parameters.
  assert 77e6 < summary["trainable_params"] < 80e6
  assert summary["total_params"] > summary["trainable_params"]  # batch-norm statistics
  assert summary["paper_params_millions"] == 79.0
  (stream,) = summary["input_spec"]["streams"]
  assert (stream["train_frames"], stream["test_frames"]) == (16, 240)
  assert stream["train_footprint_s"] == pytest.approx(0.64)
  assert stream["test_footprint_s"] == pytest.approx(9.6)
  assert summary["input_spec"]["crop_size"] == 112


def test_summary_of_two_stream_lists_both_streams():
  summary = model_summary.summarize("two_stream", 400)
  assert [s["name"] for s in summary["input_spec"]["streams"]] == ["rgb", "flow"]
  flow = summary["input_spec"]["streams"][1]
  assert (flow["train_frames"], flow["test_frames"], flow["channels"]) == (10, 250, 2)
  assert abs(summary["trainable_params"] / 1e6 - 12.0) < 0.15 * 12.0


def test_i3d_rgb_count_is_the_releases():
  summary = model_summary.summarize("i3d_rgb", 400)
  assert summary["trainable_params"] == 12_689_984
  assert summary["input_spec"]["streams"][0]["test_footprint_s"] is None  # whole video


def test_unknown_model_names_the_valid_ones():
  result = _run("--model=c3d_typo", "--json")
  assert result.returncode != 0
  assert "unknown model 'c3d_typo'" in result.stderr and "fused_3d" in result.stderr
