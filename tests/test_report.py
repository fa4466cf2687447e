"""experiments.report: the paper's tables laid out with our figure beside the paper's and the gap,
read from metrics.json files in the formats the training loop and experiments/evaluate.py write."""
import json
import os
import subprocess
import sys

from experiments import report
from experiments.configs import paper_tables
from experiments.configs import recipes as recipes_lib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, data):
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "metrics.json"), "w") as f:
    json.dump(data, f)


def _training_run(top1, top5, step=115000):
  # The training loop's metrics.json (i3d_tf/training/loop.py, _write_metrics).
  return {"step": step, "eval": {"top1": top1, "top5": top5, "loss": 1.0, "num_examples": 10},
          "train": {"loss": 1.2}, "run": {"model": "i3d_rgb"}, "history": []}


def test_report_puts_ours_beside_the_paper_with_the_gap(tmp_path):
  runs = str(tmp_path / "runs")
  rgb = recipes_lib.recipe("3", "t3_i3d_rgb_imagenet").result_dir(runs)
  _write(rgb, _training_run(0.702, 0.885))
  fused = recipes_lib.recipe("3", "t3_i3d_two_stream_scratch").result_dir(runs)
  _write(fused, {"dataset": "kinetics400", "splits": [  # experiments/evaluate.py's metrics.json
      {"top1": 0.75, "top5": 0.92, "run": "rgb+flow", "split": 1}]})
  t5 = recipes_lib.recipe("5", "t5_hmdb51_i3d_two_stream_imagenet").result_dir(runs)
  _write(t5, {"dataset": "hmdb51", "splits": [{"top1": 0.7}, {"top1": 0.8}, {"top1": 0.9}],
              "mean_over_splits": {"top1": 0.8, "top5": 0.95}})
  output = str(tmp_path / "REPORT.md")
  result = subprocess.run([sys.executable, "-m", "experiments.report", "--table=2,3,4,5",
                           f"--runs_dir={runs}", f"--output={output}"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  text = open(output).read()
  lines = text.splitlines()
  assert "| | Kinetics | ImageNet + Kinetics |" in text
  rgb_row = next(l for l in lines if l.startswith("| RGB-I3D |"))  # Table 3 (Table 2 has none)
  assert "70.2 (88.5) / 71.1 (89.3) (-0.9)" in rgb_row       # ours / paper (gap), top-5 in brackets
  assert "— / 68.4 (88.0)" in rgb_row                         # no run yet: paper figure alone
  table3 = lines[lines.index(next(l for l in lines if l.startswith("## Table 3"))):]
  two_row = next(l for l in table3 if l.startswith("| Two-Stream I3D |"))
  assert "75.0 (92.0) / 71.6 (90.0) (+3.4)" in two_row
  t5_row = next(l for l in lines if l.startswith("| Two-Stream I3D, ImageNet + Kinetics pre-trained |"))
  assert "80.0 / 80.7 (-0.7)" in t5_row                       # mean over the 3 splits
  # Table 2 shares Table 3's ImageNet I3D run.
  t2_kinetics = next(l for l in lines if l.startswith("| Two-Stream I3D |") and "UCF" not in l
                     and "71.1" in l)
  assert "70.2 / 71.1 (-0.9)" in t2_kinetics
  # Cells without a paper figure (Table 4 has no per-stream I3D rows) are listed as not in the
  # paper, with why, and shown with a dash; every other cell is sourced: nothing 'unsourced'.
  absent = next(l for l in lines if l.startswith("Not in the paper ("))
  assert absent.startswith("Not in the paper (20, shown as —): ")
  assert "t4_ucf101_i3d_rgb_imagenet_full" in absent and "t4_hmdb51_i3d_flow_scratch_original" in absent
  assert "t4_ucf101_i3d_rgb_imagenet_original" not in absent     # Table 2's figure: sourced
  assert paper_tables.NOT_IN_THE_PAPER["4"]["t4_ucf101_i3d_rgb_imagenet_full"] in absent
  assert "nsourced" not in text
  table4 = lines[lines.index(next(l for l in lines if l.startswith("## Table 4"))):]
  rgb4 = next(l for l in table4 if l.startswith("| RGB-I3D, ImageNet + Kinetics |"))
  assert "— / 84.5 | — / — | — / — |" in rgb4                 # Original: Table 2's figure
  assert "| ConvNet+LSTM | — / 53.9 | — / 63.3 |" in text     # runs not made: paper figure alone


def test_read_result_ignores_missing_and_reads_both_formats(tmp_path):
  assert report.read_result(str(tmp_path / "none")) is None
  _write(str(tmp_path / "a"), _training_run(0.5, 0.9))
  assert report.read_result(str(tmp_path / "a")) == (50.0, 90.0)
  assert report.read_result(str(tmp_path / "a"), "mean_top1") is None
  _write(str(tmp_path / "b"), {"splits": [{"top1": 0.25, "top5": 0.5}]})
  assert report.read_result(str(tmp_path / "b")) == (25.0, 50.0)


def test_a_cell_neither_sourced_nor_listed_is_unsourced(tmp_path):
  recipes = recipes_lib.recipes("3")[:3]  # t3_lstm_scratch, t3_lstm_imagenet, t3_two_stream_scratch
  figures = {recipes[0].cell: paper_tables.PaperFigure(53.9, None, "somewhere/file.md")}
  lines = report.table_report(
      "3", recipes, str(tmp_path), figure_fn=lambda r: figures.get(r.cell),
      not_in_the_paper={recipes[1].cell: "no such row in the paper"})
  assert (f"Not in the paper (1, shown as —): {recipes[1].cell} (no such row in the paper)."
          in lines)
  assert f"Unsourced paper figures (1, shown as —): {recipes[2].cell}." in lines
  assert "| ConvNet+LSTM | — / 53.9 | — / — |" in lines
