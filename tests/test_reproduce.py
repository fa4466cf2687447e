"""experiments.reproduce: every table's dry run prints today's text (tests/data/reproduce_dry_run,
main's output before the recipes became registered experiments) with each cell's commands in a
runnable order; every training step is a registered experiment whose config is the one its printed
flags give the binary; every command's flags are accepted by its binary; reproduce trains and
evaluates a tiny cell in-process, and one tiny run per binary/flag combination works."""
import json
import os
import shlex
import subprocess
import sys

from absl import flags
import pytest

from experiments.configs import paper_tables
from experiments.configs import recipes as recipes_lib
from experiments.configs import registry as experiments

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = ("2", "3", "4", "5")
# `python -m experiments.reproduce --table=N --dry_run` as main printed it (commit 62c4557), and
# --table=synthetic's with its cache folder as {cache_dir}.
DRY_RUN_DIR = os.path.join(REPO_ROOT, "tests", "data", "reproduce_dry_run")


def todays_dry_run(table, cache_dir=None):
  """Today's dry-run text of --table=`table`; synthetic's with `cache_dir` for {cache_dir}."""
  name = f"table{table}.txt" if table in TABLES else f"{table}.txt"
  with open(os.path.join(DRY_RUN_DIR, name)) as f:
    text = f.read()
  return text.replace("{cache_dir}", cache_dir) if cache_dir else text


def _run(args, timeout=600, **kwargs):
  return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                        timeout=timeout, **kwargs)


def _value(argv, name):
  for arg in argv:
    if arg.startswith(f"--{name}="):
      return arg.split("=", 1)[1]
  return None


@pytest.mark.parametrize("table", TABLES)
def test_dry_run_prints_every_cell_in_dependency_order(table):
  result = _run(["-m", "experiments.reproduce", f"--table={table}", "--dry_run"])
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout == todays_dry_run(table)  # the same cells, the same flags, the same order
  lines = result.stdout.splitlines()
  commands = [shlex.split(line) for line in lines if line.startswith("python -m experiments.")]
  headers = [line for line in lines if line.startswith("# t")]
  recipes = recipes_lib.recipes(table)
  # One header per cell, and every command of every runnable cell printed.
  assert len(headers) == len(recipes)
  printed = {tuple(c) for c in commands}
  for recipe in recipes:
    assert any(h.startswith(f"# {recipe.cell} ") for h in headers), recipe.cell
    if recipe.runnable:
      assert recipe.commands, recipe.cell
      for argv in recipe.argvs():
        assert tuple(argv) in printed, (recipe.cell, argv)
  assert len(printed) == len(commands)  # shared runs (e.g. Kinetics pre-training) appear once
  # A run is produced before any command reads it (fine-tuning after pre-training; fusion last).
  produced = set()
  for argv in commands:
    inputs = []
    if _value(argv, "init") not in (None, "scratch", "imagenet"):
      inputs.append(_value(argv, "init"))
    for name in ("run_dirs", "fuse_run_dirs"):
      inputs += (_value(argv, name) or "").split(",") if _value(argv, name) else []
    for path in inputs:
      assert path in produced, f"{shlex.join(argv)} reads {path} before it is trained"
    if _value(argv, "model_dir"):
      produced.add(_value(argv, "model_dir"))


def _command_lines(text):
  return [shlex.split(l) for l in text.splitlines() if l.startswith("python -m experiments.")]


def _parser(binary):
  """A FlagValues with `binary`'s training flags (derived from the config's fields)."""
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  flag_values = flags.FlagValues()
  training_flags.define_flags(binary, flag_values=flag_values)
  return flag_values


def test_registered_experiments_are_the_settings_of_todays_flag_strings():
  """Each training line main printed, parsed by its binary's flags, is the config of the
  registered experiment named after its --model_dir: the settings did not change."""
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  parsers = {b: _parser(b) for b in recipes_lib.TRAINING_BINARIES}
  checked = set()
  for table in TABLES:
    for argv in _command_lines(todays_dry_run(table)):
      binary = argv[2].split(".")[-1]
      if binary not in parsers:
        continue
      name = recipes_lib.experiment_name("{runs}/" + _value(argv, "model_dir")[len("runs/"):])
      if name in checked:
        continue
      parser = parsers[binary]
      parser.unparse_flags()
      parser([binary] + argv[3:])
      assert experiments.get(name) == training_flags.config_from_flags(parser, binary), name
      # --experiment=<name> alone gives the same config as the flag line.
      parser.unparse_flags()
      parser([binary, f"--experiment={name}"])
      assert training_flags.config_from_flags(parser, binary) == experiments.get(name), name
      checked.add(name)
  recipe_names = {n for t in TABLES for r in recipes_lib.recipes(t) for n in r.experiments}
  assert checked == recipe_names  # every recipe experiment is one of today's lines, and back


def test_every_recipe_experiment_is_registered_valid_and_listed_once():
  names = experiments.names()
  assert len(names) == len(set(names))
  listing = experiments.help_text().splitlines()
  for name in names:  # --experiment=help lists every name, once
    assert listing.count(f"    {name}") == 1, name
  grouped = [n for members in experiments.groups().values() for n in members]
  assert sorted(grouped) == sorted(names)
  for table in TABLES:
    for recipe in recipes_lib.recipes(table):
      trained = [c for c in recipe.commands if c.binary in recipes_lib.TRAINING_BINARIES]
      assert [c.experiment for c in trained] == list(recipe.experiments), recipe.cell
      assert len(recipe.experiments) == len(trained)
      for name in recipe.experiments:
        config = experiments.get(name)  # validates
        assert config.runtime.model_dir == f"runs/{name}", name
  assert experiments.get("kinetics400/i3d_rgb_imagenet").trainer.batch_size == 384
  assert experiments.get(
      "ucf101_split2/i3d_flow_from_kinetics_scratch_full").data.split == 2


def test_recipes_follow_the_release_on_kinetics():
  r = recipes_lib.recipe("3", "t3_i3d_rgb_imagenet")
  assert (r.replicas, r.batch_per_replica, r.global_batch, r.steps) == (64, 6, 384, 115_000)
  flow = recipes_lib.recipe("3", "t3_i3d_flow_scratch")
  assert flow.steps == 155_000 and flow.schedule == "release_flow"
  # Table 2's Kinetics I3D is Table 3's ImageNet I3D: the same run, trained once.
  assert recipes_lib.recipe("2", "t2_kinetics400_i3d_rgb").result == r.result
  # Table 5 averages three splits, fine-tuned after pre-training.
  t5 = recipes_lib.recipe("5", "t5_hmdb51_i3d_two_stream_scratch")
  binaries = [c.binary for c in t5.commands]
  assert binaries == ["train_kinetics"] * 2 + ["finetune"] * 6 + ["evaluate"]
  assert t5.metric == "mean_top1"


def test_table4_original_is_with_or_without_imagenet_as_the_paper_prints_it():
  # The paper's Table 4 prints 'with ImageNet / without ImageNet' for each cell: Original with
  # ImageNet is Table 2's run; without, a run of its own from scratch on split 1 alone.
  for dataset in ("ucf101", "hmdb51"):
    for model in ("lstm", "two_stream", "fused_3d", "i3d_rgb", "i3d_flow"):
      with_imagenet = recipes_lib.recipe("4", f"t4_{dataset}_{model}_imagenet_original")
      without = recipes_lib.recipe("4", f"t4_{dataset}_{model}_scratch_original")
      table2 = recipes_lib.recipe("2", f"t2_{dataset}_{model}")
      assert with_imagenet.commands == table2.commands, (dataset, model)
      assert with_imagenet.result == table2.result and with_imagenet.init == "imagenet"
      (command,) = without.commands
      assert command.flag("init") == "scratch" and command.flag("imagenet_checkpoint") is None
      assert command.flag("dataset") == dataset and without.init == "scratch"
      assert without.result == command.flag("model_dir") != table2.result
      assert without.result.endswith(f"/{dataset}_split1/{model}_scratch")
      assert "without ImageNet" in without.notes and "with ImageNet" in with_imagenet.notes
    # 3D-ConvNet has no ImageNet row: its Original is Table 2's run, from scratch in both.
    c3d = recipes_lib.recipe("4", f"t4_{dataset}_c3d_scratch_original")
    assert c3d.commands == recipes_lib.recipe("2", f"t2_{dataset}_c3d").commands
    assert c3d.commands[0].flag("init") == "scratch"
    # Two-Stream I3D: both streams from scratch, fused; with ImageNet, Table 2's fusion.
    two = recipes_lib.recipe("4", f"t4_{dataset}_i3d_two_stream_scratch_original")
    assert [c.flag("init") for c in two.commands[:2]] == ["scratch", "scratch"]
    assert two.commands[2].flag("run_dirs").endswith("i3d_rgb_scratch")
    assert (recipes_lib.recipe("4", f"t4_{dataset}_i3d_two_stream_imagenet_original").commands
            == recipes_lib.recipe("2", f"t2_{dataset}_i3d_two_stream").commands)


def test_unknown_cell_lists_the_valid_ones():
  result = _run(["-m", "experiments.reproduce", "--table=3", "--cell=t3_nope", "--dry_run"])
  assert result.returncode != 0
  assert "t3_i3d_rgb_imagenet" in result.stderr


def test_paper_figures_name_existing_cells_and_a_source():
  cells = {t: {r.cell for r in recipes_lib.recipes(t)} for t in TABLES}
  for table, figures in paper_tables.FIGURES.items():
    for cell, figure in figures.items():
      assert cell in cells.get(table, set()), (table, cell)
      assert figure.source and 0 < figure.top1 <= 100


_PARSE_SCRIPT = """
import importlib, json, sys
from absl import flags
importlib.import_module("experiments." + sys.argv[1])
argvs = json.load(sys.stdin)
for argv in argvs:
  flags.FLAGS.unparse_flags()
  flags.FLAGS([argv[2]] + argv[3:])
print("PARSED", len(argvs))
"""


@pytest.mark.parametrize("binary", ["train_kinetics", "finetune", "evaluate"])
def test_every_cell_command_parses_with_its_binary_flags(binary):
  argvs = {tuple(a) for t in TABLES for r in recipes_lib.recipes(t) for a in r.argvs()
           if a[2] == f"experiments.{binary}"}
  assert argvs
  if binary == "evaluate":  # its flags are its module's: imported in a process of its own
    result = _run(["-c", _PARSE_SCRIPT, binary], input=json.dumps(sorted(argvs)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"PARSED {len(argvs)}" in result.stdout
    return
  # The training binaries' flags are training_flags.define_flags(binary) (train_kinetics adds
  # --cache_dir, which no cell passes): parsed here, with flag values of their own, instead of
  # a TensorFlow process per binary.
  with open(os.path.join(REPO_ROOT, "experiments", f"{binary}.py")) as f:
    assert f'training_flags.define_flags("{binary}")' in f.read(), binary
  for argv in sorted(argvs):
    assert not any(a.startswith("--cache_dir") for a in argv), argv
    parser = _parser(binary)
    parser([argv[2]] + list(argv[3:]))  # raises absl's error naming the flag, if refused


# ------------------------------------------------------------------------------ tiny real runs

TINY = {
    "train_kinetics": ["--batch_size=2", "--train_steps=1", "--train_frames=8", "--crop_size=32",
                       "--final_pool_padding=SAME", "--strategy=default", "--eval_every=0",
                       "--checkpoint_every=1", "--eval_max_videos=2", "--max_test_frames=12",
                       "--batch_norm_decay=0.9", "--seed=0"],
    "evaluate": ["--max_videos=2", "--max_test_frames=12"],
}
TINY["finetune"] = TINY["train_kinetics"]


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
  """TFDS-like builds of Kinetics-400 and UCF-101 splits 1-3 (4 classes), and a random slim
  Inception-v1 checkpoint for --init=imagenet."""
  from i3d_tf.checkpoints import slim  # pylint: disable=import-outside-toplevel
  from i3d_tf.models import inception_v1  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import testing  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  root = tmp_path_factory.mktemp("tiny_world")
  data_dir = str(root / "tfds")
  classes = ["right", "down", "left", "up"]
  layouts = [("i3d_kinetics/400", "validation")] + [
      (f"i3d_ucf101/split{s}", "test") for s in (1, 2, 3)]
  for i, (name, eval_split) in enumerate(layouts):
    testing.write_tfds_layout(
        data_dir, name, class_names=classes,
        splits={"train": testing.moving_square_examples(6, (9, 12), 36, 4, seed=2 * i),
                eval_split: testing.moving_square_examples(4, (9, 12), 36, 4, seed=2 * i + 1)})
  model = inception_v1.InceptionV1(num_classes=1001)
  model(tf.zeros([1, 224, 224, 3]))  # the 7x7 VALID logits pool needs 224 px
  imagenet = slim.save_slim_checkpoint(model, str(root / "inception_v1.ckpt"))
  return data_dir, str(root / "runs"), imagenet


def _tiny(argv):
  binary = argv[2].split(".")[-1]
  return [sys.executable] + argv[1:] + TINY[binary]


# The same tiny settings as config overrides, for a step run in-process.
TINY_OVERRIDES = (
    "trainer.batch_size=2", "trainer.train_steps=1", "clip.train_frames=8", "clip.crop_size=32",
    "model.final_pool_padding=SAME", "runtime.strategy=default", "trainer.eval_every=0",
    "trainer.checkpoint_every=1", "trainer.eval_max_videos=2", "clip.max_test_frames=12",
    "model.batch_norm_decay=0.9", "trainer.seed=0", "model.width_multiplier=0.25",
    "runtime.export_saved_model=false", "runtime.progress_bar=false")


def _tiny_ucf101(tmp_path):
  """reproduce's folders (data_dir, runs, imagenet) with a 4-class UCF-101 split 1 build."""
  from i3d_tf.training import testing  # pylint: disable=import-outside-toplevel
  data_dir = str(tmp_path / "tfds")
  testing.write_tfds_layout(
      data_dir, "i3d_ucf101/split1", class_names=["right", "down", "left", "up"],
      splits={"train": testing.moving_square_examples(4, (9, 12), 32, 4, seed=0),
              "test": testing.moving_square_examples(2, (9, 12), 32, 4, seed=1)})
  return dict(data_dir=data_dir, runs=str(tmp_path / "runs"), imagenet="unused")


def test_a_step_runs_its_registered_experiment_on_reproduces_folders(tmp_path):
  """What reproduce trains for a step: the registered experiment with --data_dir, --runs_dir and
  --imagenet_checkpoint's folders, nothing else changed; done once metrics.json reaches its
  train_steps (the training itself: test_a_two_stream_cell_trains_and_fuses_in_process)."""
  from experiments import recipe_steps  # pylint: disable=import-outside-toplevel
  from i3d_tf import config as config_lib  # pylint: disable=import-outside-toplevel
  paths = dict(data_dir=str(tmp_path / "tfds"), runs=str(tmp_path / "runs"),
               imagenet=str(tmp_path / "inception_v1.ckpt"))
  command = recipes_lib.recipe("3", "t3_i3d_rgb_imagenet").commands[0]
  config = recipe_steps.step_config(command, paths)
  model_dir = f"{paths['runs']}/kinetics400/i3d_rgb_imagenet"
  assert config == config_lib.replace(experiments.get("kinetics400/i3d_rgb_imagenet"), {
      "data_dir": paths["data_dir"], "imagenet_checkpoint": paths["imagenet"],
      "model_dir": model_dir})
  finetune = recipes_lib.recipe("4", "t4_ucf101_i3d_rgb_imagenet_full").commands[-1]
  assert recipe_steps.step_config(finetune, paths).init.source == model_dir  # --init=<the run>
  assert not recipe_steps.is_done(command, paths)
  os.makedirs(model_dir)
  for step, done in ((114_999, False), (115_000, True)):
    with open(os.path.join(model_dir, "metrics.json"), "w") as f:
      json.dump({"step": step}, f)
    assert recipe_steps.is_done(command, paths) == done


@pytest.mark.slow  # ~100 s on 2 loaded cores: two networks traced, trained and fused
def test_a_two_stream_cell_trains_and_fuses_in_process(tmp_path):
  """Table 4's Two-Stream I3D 'Original' from scratch, as reproduce runs it: each stream's
  registered experiment trained by experiment.run in this process, then the fusion evaluated by
  evaluate_runs (tiny clips and one step instead of the recipe's)."""
  from experiments import recipe_steps  # pylint: disable=import-outside-toplevel
  from i3d_tf import config as config_lib  # pylint: disable=import-outside-toplevel
  paths = _tiny_ucf101(tmp_path)
  recipe = recipes_lib.recipe("4", "t4_ucf101_i3d_two_stream_scratch_original")
  rgb, flow, fusion = recipe.commands
  assert recipe.experiments == ("ucf101_split1/i3d_rgb_scratch", "ucf101_split1/i3d_flow_scratch")
  for command in (rgb, flow):
    config = recipe_steps.step_config(command, paths)
    assert config.data.data_dir == paths["data_dir"] and config.trainer.train_steps == 10_000
    assert config.runtime.model_dir == command.values(**paths)["model_dir"]
    assert not recipe_steps.is_done(command, paths)
    recipe_steps.train(config_lib.override(config, *TINY_OVERRIDES))
    assert recipe_steps.run_reached(config.runtime.model_dir, 1)
    assert not recipe_steps.is_done(command, paths)  # 1 step of the recipe's 10k: not done
  assert not recipe_steps.is_done(fusion, paths)
  recipe_steps.evaluate(fusion.values(**paths))
  assert recipe_steps.is_done(fusion, paths)
  with open(os.path.join(fusion.values(**paths)["output_dir"], "metrics.json")) as f:
    (split,) = json.load(f)["splits"]
  assert split["run"] == "i3d_rgb_scratch+i3d_flow_scratch" and split["num_examples"] == 2
  assert split["fuse_run_dir"] == os.path.abspath(flow.values(**paths)["model_dir"])


@pytest.mark.slow
def test_each_binary_flag_combination_runs_tiny_and_report_reads_it(tiny_world):
  data_dir, runs, imagenet = tiny_world
  kw = dict(data_dir=data_dir, runs=runs, imagenet=imagenet)
  # The distinct (binary, flags) combinations of the tables' recipes, taken from real cells:
  rgb_imagenet = recipes_lib.recipe("3", "t3_i3d_rgb_imagenet").argvs(**kw)      # --init=imagenet
  flow_scratch = recipes_lib.recipe("3", "t3_i3d_flow_scratch").argvs(**kw)      # --init=scratch
  full = recipes_lib.recipe("4", "t4_ucf101_i3d_rgb_imagenet_full").argvs(**kw)[-1]
  fixed = recipes_lib.recipe("4", "t4_ucf101_i3d_flow_scratch_fixed").argvs(**kw)[-1]
  # Original without ImageNet: from scratch on UCF-101 alone, plateau schedule.
  (original,) = recipes_lib.recipe("4", "t4_ucf101_i3d_rgb_scratch_original").argvs(**kw)
  for argv in (rgb_imagenet[0], flow_scratch[0], full, fixed, original):
    result = subprocess.run(_tiny(argv), cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, (shlex.join(argv), result.stderr[-3000:])
  # Two-stream fusion over three splits (Table 5's evaluate): the split-1 runs stand in for 2, 3.
  t5 = recipes_lib.recipe("5", "t5_ucf101_i3d_two_stream_imagenet").argvs(**kw)[-1]
  for stream_run in (_value(full, "model_dir"), _value(fixed, "model_dir")):
    for split in (2, 3):
      os.makedirs(os.path.dirname(stream_run.replace("split1", f"split{split}")), exist_ok=True)
  rgb_runs, flow_runs = _value(t5, "run_dirs").split(","), _value(t5, "fuse_run_dirs").split(",")
  flow_fixed = _value(fixed, "model_dir")
  for split in (2, 3):
    os.symlink(_value(full, "model_dir"), rgb_runs[split - 1])
  flow_runs = [flow_fixed] * 3
  t5 = [a for a in t5 if not a.startswith("--fuse_run_dirs=")] + [
      "--fuse_run_dirs=" + ",".join(flow_runs)]
  result = subprocess.run(_tiny(t5), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  output_dir = _value(t5, "output_dir")
  with open(os.path.join(output_dir, "metrics.json")) as f:
    assert len(json.load(f)["splits"]) == 3
  # The report reads these runs: our figure beside the paper's.
  from experiments import report  # pylint: disable=import-outside-toplevel
  text = report.report(["3", "5"], runs)
  row = next(line for line in text.splitlines() if line.startswith("| RGB-I3D |"))
  ours = report.read_result(os.path.join(runs, "kinetics400", "i3d_rgb_imagenet"))
  assert ours is not None
  assert f"{ours[0]:.1f}" in row and "/ 71.1 (89.3)" in row
  t5_row = next(line for line in text.splitlines()
                if line.startswith("| Two-Stream I3D, ImageNet + Kinetics pre-trained |"))
  mean = report.read_result(output_dir, "mean_top1")
  assert f"{mean[0]:.1f} / 98.0 ({mean[0] - 98.0:+.1f})" in t5_row
  scratch = report.read_result(_value(original, "model_dir"))
  assert scratch is not None and _value(original, "model_dir").endswith("i3d_rgb_scratch")


def test_rerun_skips_finished_runs_and_stops_at_the_first_failure(tmp_path):
  """One reproduce process over a cell of three steps (RGB run, Flow run, their fusion): the
  finished RGB run is skipped, the unfinished Flow run (step 10 of 155k) runs and fails here for
  lack of data, and reproduce stops there: the fusion never runs."""
  runs = str(tmp_path / "runs")
  for name, step in (("i3d_rgb_imagenet", 115_000), ("i3d_flow_imagenet", 10)):
    os.makedirs(os.path.join(runs, "kinetics400", name))
    with open(os.path.join(runs, "kinetics400", name, "metrics.json"), "w") as f:
      json.dump({"step": step, "eval": {"top1": 0.7}}, f)
  result = _run(["-m", "experiments.reproduce", "--table=3", "--cell=t3_i3d_two_stream_imagenet",
                 f"--runs_dir={runs}", f"--data_dir={tmp_path / 'no_data'}"])
  assert result.returncode != 0, result.stdout[-2000:]
  assert ("done already, skipped: python -m experiments.train_kinetics --model=i3d_rgb"
          in result.stdout), result.stdout[-2000:]
  assert "running: python -m experiments.train_kinetics --model=i3d_rgb" not in result.stdout
  assert "running: python -m experiments.train_kinetics --model=i3d_flow" in result.stdout
  assert "t3_i3d_two_stream_imagenet: command failed" in result.stderr, result.stderr[-2000:]
  assert "--model=i3d_flow" in result.stderr.split("command failed")[1]  # the failed step named
  assert "experiments.evaluate" not in result.stdout  # stopped at the first failure
