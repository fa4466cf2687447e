"""Writes the paper's tables as Markdown, our figure beside the paper's, with the gap.

  python -m experiments.report [--table=2,3,4,5] [--runs_dir=runs] [--output=runs/REPORT.md]

Reads the metrics.json of finished runs where experiments/configs/recipes.py says each cell's
figure lies: a training run's final evaluation ({"eval": {"top1", "top5"}}) or an evaluation of
experiments/evaluate.py ({"splits": [...], "mean_over_splits": {...}}, for two-stream fusion and
the mean over 3 splits). A cell reads 'ours / paper (gap)' in percent; '—' where a figure is
missing: our run is not finished, or the paper prints no figure for the cell (the 20 Table 4 cells
of paper_tables.NOT_IN_THE_PAPER, listed under the table with the reason). Every other cell's paper
figure is sourced; a cell in neither would be listed as 'unsourced' (tests/test_paper_tables.py
checks that there is none).
"""
import json
import os

from absl import app
from absl import flags

from experiments.configs import paper_tables
from experiments.configs import recipes as recipes_lib
from i3d_tf import entry

DASH = "—"


def read_result(result_dir, metric="top1"):
  """(top1, top5) in percent from result_dir/metrics.json, or None when absent/unfinished."""
  path = os.path.join(result_dir, "metrics.json")
  if not result_dir or not os.path.exists(path):
    return None
  with open(path) as f:
    data = json.load(f)
  if "splits" in data:  # experiments/evaluate.py
    values = data.get("mean_over_splits") if metric == "mean_top1" else data["splits"][0]
    if metric == "mean_top1" and not values:
      return None
  else:  # a training run's last evaluation
    if metric == "mean_top1":
      return None
    values = data.get("eval")
  if not values or values.get("top1") is None:
    return None
  top5 = values.get("top5")
  return 100.0 * values["top1"], (None if top5 is None else 100.0 * top5)


def _number(top1, top5, with_top5):
  text = f"{top1:.1f}"
  if with_top5 and top5 is not None:
    text += f" ({top5:.1f})"
  return text


def cell_text(ours, paper, with_top5=False):
  """'ours / paper (gap)' with '—' for a missing side."""
  ours_text = _number(*ours, with_top5) if ours else DASH
  paper_text = _number(paper.top1, paper.top5, with_top5) if paper else DASH
  gap = f" ({ours[0] - paper.top1:+.1f})" if ours and paper else ""
  return f"{ours_text} / {paper_text}{gap}"


def render_grid(title, rows, columns, cells, caption):
  """A Markdown table: rows x columns (column labels are tuples, joined by a space)."""
  lines = [f"## {title}", "", caption, "",
           "| | " + " | ".join(" ".join(c) for c in columns) + " |",
           "|---|" + "---|" * len(columns)]
  for row in rows:
    lines.append(f"| {row} | " + " | ".join(cells.get((row, c), "") for c in columns) + " |")
  return lines


TITLES = {
    "2": "Table 2: architectures (UCF-101 split 1, HMDB-51 split 1, Kinetics)",
    "3": "Table 3: Kinetics, without and with ImageNet pre-training: top-1 (top-5)",
    "4": "Table 4: UCF-101 / HMDB-51 split 1: Original, Fixed, Full-FT after Kinetics pre-training",
    "5": "Table 5: UCF-101 / HMDB-51, mean over the 3 splits (our rows of the state-of-the-art table)",
}


def table_report(table, recipes, runs_dir, title=None, caption=None, figure_fn=None,
                 not_in_the_paper=None):
  """Markdown lines of one table + the lists of the cells without a paper figure (not in the paper,
  with why; or unsourced) and of the not-runnable cells."""
  figure_fn = figure_fn or (lambda r: paper_tables.figure(table, r.cell))
  if not_in_the_paper is None:
    not_in_the_paper = paper_tables.NOT_IN_THE_PAPER.get(str(table), {})
  rows, columns, cells = [], [], {}
  unsourced, absent, not_runnable, missing = [], {}, [], []
  with_top5 = str(table) == "3"
  for r in recipes:
    if r.row not in rows:
      rows.append(r.row)
    if r.column not in columns:
      columns.append(r.column)
    paper = figure_fn(r)
    if paper is None:
      if r.cell in not_in_the_paper:
        absent.setdefault(not_in_the_paper[r.cell], []).append(r.cell)
      else:
        unsourced.append(r.cell)
    if not r.runnable:
      not_runnable.append(f"{r.cell}: {r.notes}")
      cells[(r.row, r.column)] = f"n/a / {_number(paper.top1, paper.top5, with_top5) if paper else DASH}"
      continue
    ours = read_result(r.result_dir(runs_dir), r.metric)
    if ours is None:
      missing.append(r.cell)
    cells[(r.row, r.column)] = cell_text(ours, paper, with_top5)
  lines = render_grid(title or TITLES[str(table)], rows, columns, cells,
                      caption or "Each cell: ours / paper (ours - paper), accuracy in %.")
  sources = sorted({figure_fn(r).source for r in recipes if figure_fn(r)})
  lines.append("")
  if sources:
    lines.append("Paper figures from: " + "; ".join(sources) + ".")
  if absent:
    count = sum(len(cells) for cells in absent.values())
    lines.append(f"Not in the paper ({count}, shown as {DASH}): " + "; ".join(
        f"{', '.join(cells)} ({why})" for why, cells in absent.items()) + ".")
  if unsourced:
    lines.append(f"Unsourced paper figures ({len(unsourced)}, shown as {DASH}): "
                 + ", ".join(unsourced) + ".")
  if missing:
    lines.append(f"No finished run yet ({len(missing)}): " + ", ".join(missing) + ".")
  if not_runnable:
    lines.append("Not runnable with this codebase: " + "; ".join(not_runnable) + ".")
  lines.append("")
  return lines


def report(tables, runs_dir):
  lines = ["# Reproduction of Carreira & Zisserman (CVPR 2017)", "",
           f"Runs read from `{runs_dir}`; recipes in `experiments/configs/recipes.py`, paper "
           "figures with their sources in `experiments/configs/paper_tables.py`.", ""]
  for table in tables:
    lines += table_report(table, recipes_lib.recipes(table), runs_dir)
  return "\n".join(lines) + "\n"


FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a binary, so that other binaries can import this module."""
  flags.DEFINE_list("table", ["2", "3", "4", "5"], "Tables to report.")
  flags.DEFINE_string("runs_dir", "runs", "Root of the runs (as given to experiments.reproduce).")
  flags.DEFINE_string("output", None, "Markdown file to write (default <runs_dir>/REPORT.md).")


def main(argv):
  del argv
  for table in FLAGS.table:
    if table not in recipes_lib.TABLES:
      raise app.UsageError(f"--table={table}: one of {', '.join(recipes_lib.TABLES)}")
  text = report(FLAGS.table, FLAGS.runs_dir)
  output = FLAGS.output or os.path.join(FLAGS.runs_dir, "REPORT.md")
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, "w") as f:
    f.write(text)
  print(text)
  print(f"Written to {output}")


if __name__ == "__main__":
  define_flags()
  entry.run(main)  # absl's app.run, with --help exiting 0
