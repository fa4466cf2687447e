"""Prints or runs, in order, the commands that reproduce a table of the paper, one recipe per cell.

  python -m experiments.reproduce --table=2 --dry_run            # every cell's commands
  python -m experiments.reproduce --table=4 --cell=t4_ucf101_i3d_rgb_imagenet_full --data_dir=data/tfds
  python -m experiments.reproduce --table=synthetic              # the miniature, minutes on a CPU

Recipes: experiments/configs/recipes.py (Kinetics pre-training first where a cell fine-tunes).
A command already done is skipped (a run whose metrics.json has reached its --train_steps, an
evaluation whose metrics.json exists), so rerunning continues where it stopped; training runs
resume by themselves. Then `python -m experiments.report` puts the figures beside the paper's.

--table=synthetic: every architecture that trains on the embedded synthetic_motion set (8 motion
classes, 16 frames of 64x64) at reduced size, then a comparison table in the report's layout
(runs/synthetic/REPORT.md). It builds the set first (into $I3D_TF_CACHE or ~/.cache/i3d_tf/tfds).
"""
import json
import os
import shlex
import subprocess
import sys
import time

from absl import app
from absl import flags

from experiments.configs import recipes as recipes_lib
from experiments.configs import synthetic as synthetic_lib
from i3d_tf import entry

FLAGS = flags.FLAGS
flags.DEFINE_enum("table", None, ["2", "3", "4", "5", "synthetic"], "The paper's table to reproduce.")
flags.DEFINE_list("cell", None, "Only these cells (names as in experiments/configs/); default all.")
flags.DEFINE_bool("dry_run", False, "Print the commands, run nothing.")
flags.DEFINE_string("data_dir", "data/tfds", "TFDS data_dir of the built datasets.")
flags.DEFINE_string("runs_dir", "runs", "Root of all runs.")
flags.DEFINE_string("imagenet_checkpoint", "checkpoints/inception_v1/inception_v1.ckpt",
                    "slim's Inception-v1 ImageNet checkpoint (for --init=imagenet).")
flags.DEFINE_bool("skip_done", True, "Skip commands whose run or evaluation is finished.")
flags.DEFINE_list("models", None, "--table=synthetic: only these models (default: all that fit).")
flags.DEFINE_integer("synthetic_steps", synthetic_lib.DEFAULT_STEPS,
                     "--table=synthetic: training steps per architecture (RGB-I3D and the "
                     "ConvNet+LSTM train twice as many: synthetic.MINIATURE_STEP_FACTOR).")
flags.DEFINE_string("cache_dir", None, "--table=synthetic: where the synthetic set is built "
                    "(default $I3D_TF_CACHE or ~/.cache/i3d_tf/tfds).")


def _flag(argv, name):
  prefix = f"--{name}="
  for arg in argv:
    if arg.startswith(prefix):
      return arg[len(prefix):]
  return None


def is_done(argv):
  """True when the command's output is already complete (so a rerun can skip it)."""
  binary = argv[2].rsplit(".", 1)[-1]
  if binary == "evaluate":
    return os.path.exists(os.path.join(_flag(argv, "output_dir"), "metrics.json"))
  model_dir = _flag(argv, "model_dir")
  path = os.path.join(model_dir or "", "metrics.json")
  if not model_dir or not os.path.exists(path):
    return False
  with open(path) as f:
    step = json.load(f).get("step", 0)
  return step >= int(_flag(argv, "train_steps") or 0)


def describe(recipe):
  if not recipe.runnable:
    return f"# {recipe.cell} ({recipe.row} / {' / '.join(recipe.column)}): NOT RUNNABLE: {recipe.notes}"
  return (f"# {recipe.cell} ({recipe.row} / {' / '.join(recipe.column)}): {recipe.dataset}"
          f"{' split ' + str(recipe.split) if recipe.split else ''}, {recipe.model}, init "
          f"{recipe.init}, {recipe.schedule}, {recipe.replicas} replicas x {recipe.batch_per_replica}"
          f" = batch {recipe.global_batch}, {recipe.steps} steps"
          f"{'; ' + recipe.notes if recipe.notes else ''}")


def run_command(recipe, argv):
  line = shlex.join(argv)
  if FLAGS.dry_run:
    print(line, flush=True)
    return
  if FLAGS.skip_done and is_done(argv):
    print(f"done already, skipped: {line}", flush=True)
    return
  print(f"running: {line}", flush=True)
  started = time.time()
  result = subprocess.run([sys.executable] + argv[1:], check=False)
  if result.returncode:
    raise SystemExit(f"reproduce: {recipe.cell}: command failed with status "
                     f"{result.returncode}: {line}")
  print(f"finished in {(time.time() - started) / 60:.1f} min", flush=True)


def run_table(table):
  selected = recipes_lib.recipes(table)
  if FLAGS.cell:
    selected = [recipes_lib.recipe(table, cell) for cell in FLAGS.cell]
  if any(r.replicas > 8 for r in selected) and FLAGS.dry_run:
    print("# multi_worker commands: run the same command on every machine, each with its "
          "TF_CONFIG (WORKSPACE.md, 'Training on many GPUs and machines').")
  seen = set()  # each distinct command once: shared runs (Kinetics pre-training) train once
  for recipe in selected:
    print(describe(recipe), flush=True)
    new = [a for a in recipe.argvs(FLAGS.data_dir, FLAGS.runs_dir, FLAGS.imagenet_checkpoint)
           if tuple(a) not in seen]
    if recipe.runnable and not new:
      print("#   (its commands are above: the runs are shared with an earlier cell)")
    for argv in new:
      seen.add(tuple(argv))
      run_command(recipe, argv)
  if not FLAGS.dry_run:
    print(f"Table {table}: all commands done; `python -m experiments.report --table={table} "
          f"--runs_dir={FLAGS.runs_dir}` writes the comparison.", flush=True)


def main(argv):
  del argv
  if FLAGS.table is None:
    raise app.UsageError("--table: one of 2, 3, 4, 5, synthetic")
  if FLAGS.table == "synthetic":
    synthetic_lib.run(FLAGS.runs_dir, FLAGS.cache_dir, FLAGS.models, FLAGS.synthetic_steps,
                      FLAGS.dry_run, FLAGS.skip_done)
    return
  run_table(FLAGS.table)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
