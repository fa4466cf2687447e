"""Prints or runs, in order, the steps that reproduce a table of the paper, one recipe per cell.

  python -m experiments.reproduce --table=2 --dry_run            # every cell's commands
  python -m experiments.reproduce --table=4 --cell=t4_ucf101_i3d_rgb_imagenet_full --data_dir=data/tfds
  python -m experiments.reproduce --table=synthetic              # the miniature, minutes on a CPU

Recipes: experiments/configs/recipes.py (Kinetics pre-training first where a cell fine-tunes). Each
training step is a registered experiment (experiments/configs/registry.py, named after its run
folder, e.g. kinetics400/i3d_rgb_imagenet), trained here in-process; evaluations run in-process too
(experiments/recipe_steps.py). The printed command lines are the same settings for the binaries,
as is `python -m experiments.train_kinetics --experiment=kinetics400/i3d_rgb_imagenet`. A step
already done is skipped (a run whose metrics.json has reached its train_steps, an evaluation whose
metrics.json exists), so rerunning continues where it stopped; training runs resume by themselves.
Then `python -m experiments.report` puts the figures beside the paper's.

Multi-worker recipes (64 or 16 replicas): run here, a step trains with the replicas that this
process's strategy finds (this machine, or the cluster of its TF_CONFIG); the paper's 64 replicas
are the printed command run on every machine (WORKSPACE.md, 'Training on many GPUs and machines').

--table=synthetic: every architecture that trains on the embedded synthetic_motion set (8 motion
classes, 16 frames of 64x64) at reduced size (experiments synthetic/<model>), then a comparison
table in the report's layout (runs/synthetic/REPORT.md). It builds the set first (into
$I3D_TF_CACHE or ~/.cache/i3d_tf/tfds).
"""
import logging as pylogging
import shlex
import sys
import time
import traceback

from absl import app
from absl import flags

from experiments import recipe_steps as steps
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

MULTI_WORKER_NOTE = ("# multi_worker commands: run the same command on every machine, each with its "
                     "TF_CONFIG (WORKSPACE.md, 'Training on many GPUs and machines').")
IN_PROCESS_NOTE = ("# multi_worker recipes run here with the replicas of this process's strategy; "
                   "the paper's 64 replicas are the printed command run on every machine, each "
                   "with its TF_CONFIG (WORKSPACE.md, 'Training on many GPUs and machines').")


# ------------------------------------------------------------------------------------ one step


def run_step(what, line, action):
  """Runs action() for the step printed as `line`; a failure stops reproduce, naming `what` (the
  cell) and the step."""
  print(f"running: {line}", flush=True)
  started = time.time()
  try:
    action()
  except steps.Preempted as e:  # as the binaries: a scheduler tells it from a finished run
    from i3d_tf.training import loop  # pylint: disable=import-outside-toplevel
    print(f"reproduce: {what}: {e}", file=sys.stderr, flush=True)
    sys.exit(loop.PREEMPTED_EXIT_CODE)
  except Exception as e:  # pylint: disable=broad-except
    if not isinstance(e, steps.user_errors()):
      traceback.print_exc()
    raise SystemExit(f"reproduce: {what}: command failed ({type(e).__name__}: {e}): "
                     f"{line}") from None
  minutes = (time.time() - started) / 60
  print(f"finished in {minutes:.1f} min", flush=True)
  return minutes


def run_command(recipe, command, paths):
  line = shlex.join(command.argv(**paths))
  if FLAGS.dry_run:
    print(line, flush=True)
    return
  if FLAGS.skip_done and steps.is_done(command, paths):
    print(f"done already, skipped: {line}", flush=True)
    return
  if command.experiment:
    config = steps.step_config(command, paths)
    run_step(recipe.cell, line, lambda: steps.train(config))
  else:
    run_step(recipe.cell, line, lambda: steps.evaluate(command.values(**paths)))


# ------------------------------------------------------------------------------------ tables


def describe(recipe):
  if not recipe.runnable:
    return f"# {recipe.cell} ({recipe.row} / {' / '.join(recipe.column)}): NOT RUNNABLE: {recipe.notes}"
  return (f"# {recipe.cell} ({recipe.row} / {' / '.join(recipe.column)}): {recipe.dataset}"
          f"{' split ' + str(recipe.split) if recipe.split else ''}, {recipe.model}, init "
          f"{recipe.init}, {recipe.schedule}, {recipe.replicas} replicas x {recipe.batch_per_replica}"
          f" = batch {recipe.global_batch}, {recipe.steps} steps"
          f"{'; ' + recipe.notes if recipe.notes else ''}")


def run_table(table):
  selected = recipes_lib.recipes(table)
  if FLAGS.cell:
    selected = [recipes_lib.recipe(table, cell) for cell in FLAGS.cell]
  if any(r.replicas > 8 for r in selected):
    print(MULTI_WORKER_NOTE if FLAGS.dry_run else IN_PROCESS_NOTE, flush=True)
  if not FLAGS.dry_run:
    pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  paths = dict(data_dir=FLAGS.data_dir, runs=FLAGS.runs_dir, imagenet=FLAGS.imagenet_checkpoint)
  seen = set()  # each distinct command once: shared runs (Kinetics pre-training) train once
  for recipe in selected:
    print(describe(recipe), flush=True)
    new = [c for c in recipe.commands if tuple(c.argv(**paths)) not in seen]
    if recipe.runnable and not new:
      print("#   (its commands are above: the runs are shared with an earlier cell)")
    for command in new:
      seen.add(tuple(command.argv(**paths)))
      run_command(recipe, command, paths)
  if not FLAGS.dry_run:
    print(f"Table {table}: all commands done; `python -m experiments.report --table={table} "
          f"--runs_dir={FLAGS.runs_dir}` writes the comparison.", flush=True)


def run_synthetic():
  """The miniature: each architecture's synthetic/<model> experiment, then REPORT.md."""
  data_dir = synthetic_lib.default_cache_dir(FLAGS.cache_dir)
  chosen = synthetic_lib.chosen_models(FLAGS.models)
  train_steps, runs_dir = FLAGS.synthetic_steps, FLAGS.runs_dir
  lines = {m: shlex.join(synthetic_lib.command(m, data_dir, runs_dir, train_steps))
           for _, m, _ in chosen}
  if FLAGS.dry_run:
    print("\n".join(lines.values()), flush=True)
    return None
  pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  synthetic_lib.build(data_dir)
  minutes = {}
  for _, model, _ in chosen:
    if FLAGS.skip_done and synthetic_lib.is_done(runs_dir, model, train_steps):
      print(f"done already, skipped: {model}", flush=True)
      continue
    config = steps.miniature_config(model, data_dir, runs_dir, train_steps)
    minutes[model] = run_step(f"--table=synthetic: {model}", lines[model],
                              lambda config=config: steps.train(config))
  return synthetic_lib.write_report(runs_dir, chosen, minutes)


def main(argv):
  del argv
  if FLAGS.table is None:
    raise app.UsageError("--table: one of 2, 3, 4, 5, synthetic")
  if FLAGS.table == "synthetic":
    run_synthetic()
    return
  run_table(FLAGS.table)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
