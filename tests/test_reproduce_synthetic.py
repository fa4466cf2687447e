"""reproduce --table=synthetic, the paper's miniature: every architecture of Table 2 on the embedded
synthetic_motion set at reduced size, in minutes on 2 CPU cores, each beating chance (the two I3D
streams through the embedded default's test, at 90%)."""
import json
import math
import os
import shlex
import subprocess
import sys
import warnings

import pytest

from experiments.configs import registry as experiments
from experiments.configs import synthetic as synthetic_lib
from i3d_tf.models import registry
from tests.conftest import REPO_ROOT
from tests.test_reproduce import _PARSE_SCRIPT
from tests.test_reproduce import _parser
from tests.test_reproduce import todays_dry_run


def _run(args, timeout=600, **kwargs):
  return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                        timeout=timeout, check=False, **kwargs)


def test_dry_run_prints_one_command_per_architecture_that_train_kinetics_accepts(tmp_path):
  result = _run(["-m", "experiments.reproduce", "--table=synthetic", "--dry_run",
                 f"--runs_dir={tmp_path}", f"--cache_dir={tmp_path}/cache"])
  assert result.returncode == 0, result.stderr[-3000:]
  # Today's text (main's, with its cache folder): the same runs, the same flags, the same order.
  assert result.stdout == todays_dry_run("synthetic", f"{tmp_path}/cache").replace(
      "runs/synthetic/", f"{tmp_path}/synthetic/")
  commands = [shlex.split(l) for l in result.stdout.splitlines() if l.startswith("python -m")]
  models = [a.split("=", 1)[1] for c in commands for a in c if a.startswith("--model=")]
  assert models == [m for _, m, _ in synthetic_lib.MODELS]
  assert {"lstm", "c3d", "two_stream", "fused_3d", "i3d_rgb", "i3d_flow",
          "i3d_two_stream"} == set(models)  # every architecture of Table 2, none left out
  parsed = _run(["-c", _PARSE_SCRIPT, "train_kinetics"], input=json.dumps(commands))
  assert parsed.returncode == 0, parsed.stderr[-3000:]
  assert f"PARSED {len(commands)}" in parsed.stdout
  assert not os.path.exists(tmp_path / "synthetic")  # a dry run runs nothing
  flags = {m: dict(a[2:].split("=", 1) for a in c if a.startswith("--") and "=" in a)
           for m, c in zip(models, commands)}
  twice = {"i3d_rgb", "lstm"}  # twice --synthetic_steps
  assert {flags[m]["train_steps"] for m in twice} == {"1200"}
  assert {flags[m]["train_steps"] for m in models if m not in twice} == {"600"}
  assert [m for m in models if "lstm_gamma_init" in flags[m]] == ["lstm"]
  assert flags["c3d"]["learning_rate"] == "0.003"
  assert {flags[m]["learning_rate"] for m in models if m != "c3d"} == {"0.01"}


def test_each_miniature_run_is_its_registered_experiment():
  """synthetic/<model> is the config train_kinetics gets from today's miniature line (the
  reduced configuration, as the bare embedded default has it, at the miniature's steps)."""
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  parser = _parser("train_kinetics")
  lines = todays_dry_run("synthetic", synthetic_lib.default_cache_dir()).splitlines()
  assert len(lines) == len(synthetic_lib.MODELS)
  for (_, model, _), line in zip(synthetic_lib.MODELS, lines):
    parser.unparse_flags()
    parser(shlex.split(line)[2:])
    name = synthetic_lib.experiment_name(model)
    assert name in experiments.names()
    assert training_flags.config_from_flags(parser, "train_kinetics") == experiments.get(name)
    assert experiments.get(name).trainer.train_steps == synthetic_lib.miniature_steps(model)


def test_reduced_config_gives_i3d_only_flags_to_i3d_only():
  for _, model, _ in synthetic_lib.MODELS:
    config = synthetic_lib.reduced_config(model)
    assert config["width_multiplier"] == 0.25 and config["random_flip"] is False
    assert ("final_pool_padding" in config) == registry.is_release_i3d(model), model
    # Frame counts only where Table 1's would not fit the 16-frame clips: I3D's 64, the LSTM's
    # 25 frames 1 in 5; the mixed-length models keep theirs (an override would be refused).
    assert ("train_frames" in config) == (registry.is_release_i3d(model) or model == "lstm"), model
  assert synthetic_lib.reduced_config("lstm")["frame_stride"] == 1
  assert synthetic_lib.reduced_config("lstm")["lstm_gamma_init"] == 1.0


def test_beats_chance_threshold_is_the_binomial_one_percent_tail():
  n, p = 96, 1 / 8

  def tail(k):  # P(at least k of n right by guessing)
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))

  threshold = synthetic_lib.beats_chance_threshold(n)
  k = round(threshold * n)
  assert tail(k) < 0.01 <= tail(k - 1)
  assert threshold > p
  # A run whose metrics.json has no evaluated videos beats nothing (and does not divide by 0).
  assert not 1.0 >= synthetic_lib.beats_chance_threshold(0)
  assert not 1.0 >= synthetic_lib.beats_chance_threshold(None)


def test_table_says_yes_only_above_the_threshold(tmp_path):
  threshold = synthetic_lib.beats_chance_threshold(96)
  for model, top1 in (("i3d_flow", 0.95), ("i3d_rgb", threshold - 1 / 96), ("lstm", 0.16)):
    run = tmp_path / "synthetic" / model
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(
        {"step": 600, "eval": {"top1": top1, "num_examples": 96}}))
  run = tmp_path / "synthetic" / "fused_3d"  # evaluated nothing: 'no', not a crash
  run.mkdir(parents=True)
  (run / "metrics.json").write_text(json.dumps({"step": 600, "eval": {"top1": 1.0}}))
  rows = {line.split("|")[2].strip(" `"): line for line in
          synthetic_lib.markdown(str(tmp_path)).splitlines() if line.startswith("| ") and "`" in line}
  assert "| yes |" in rows["i3d_flow"]
  assert "| no |" in rows["i3d_rgb"] and "| no |" in rows["lstm"] and "| no |" in rows["fused_3d"]
  assert "| — |" in rows["c3d"]  # not run


# RGB-I3D and Flow-I3D are trained by tests/test_embedded_default.py with the same reduced
# configuration on the same set for longer and held to 90%, far above chance; training them here
# too would cost ~3 min of CI for a weaker claim. The other five architectures run only here.
COVERED_BY_EMBEDDED_DEFAULT = ("i3d_rgb", "i3d_flow")
MINIATURE_MODELS = [m for _, m, _ in synthetic_lib.MODELS if m not in COVERED_BY_EMBEDDED_DEFAULT]


@pytest.fixture(scope="module")
def miniature(synthetic_motion_cache, tmp_path_factory):
  """runs_dir of one real `reproduce --table=synthetic` of MINIATURE_MODELS (~10 min on 2 cores)."""
  runs_dir = tmp_path_factory.mktemp("miniature")
  env = dict(os.environ, I3D_TF_CACHE=str(synthetic_motion_cache))
  result = _run(["-m", "experiments.reproduce", "--table=synthetic", f"--runs_dir={runs_dir}",
                 f"--models={','.join(MINIATURE_MODELS)}"], timeout=3600, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  return runs_dir


def test_the_miniature_and_the_embedded_default_cover_every_architecture():
  from tests import test_embedded_default  # pylint: disable=import-outside-toplevel
  embedded = set(test_embedded_default.MODELS)
  assert set(COVERED_BY_EMBEDDED_DEFAULT) <= embedded
  assert set(MINIATURE_MODELS) | embedded == {m for _, m, _ in synthetic_lib.MODELS}
  for model in COVERED_BY_EMBEDDED_DEFAULT:  # the same reduced configuration, trained longer
    assert synthetic_lib.EMBEDDED_STEPS >= synthetic_lib.miniature_steps(model)


# A from-scratch run can fail to take off: at the miniature's configuration the ConvNet+LSTM reached
# 28-43% held out in six runs here and passed in one CI run, but reached 13.5% in another CI run
# (BENCHMARKS.md, 'The ConvNet+LSTM on the synthetic set'). So an architecture below the bar trains
# again with other seeds, up to RUNS runs, each held to the 1%/RUNS binomial tail (22.9% of 96
# videos): guessing passes any of them with probability under 1%, the bar of a single run. Further
# runs cost CI time only when the first fails.
RETRY_SEEDS = (1, 2)
RUNS = 1 + len(RETRY_SEEDS)
PER_RUN_SIGNIFICANCE = synthetic_lib.SIGNIFICANCE / RUNS


def _train_again(model, data_dir, runs_dir, seed):
  """(top-1, step, held-out videos) of `model`'s miniature run with `seed`."""
  argv = synthetic_lib.command(model, str(data_dir), str(runs_dir), synthetic_lib.DEFAULT_STEPS,
                               seed=seed)
  result = _run(argv[1:], timeout=1800)
  assert result.returncode == 0, result.stderr[-3000:]
  return synthetic_lib.read_result(str(runs_dir / "synthetic" / model))


@pytest.mark.slow
@pytest.mark.parametrize("model", MINIATURE_MODELS)
def test_miniature_architecture_beats_chance(miniature, synthetic_motion_cache, model):
  top1, step, num_examples = synthetic_lib.read_result(str(miniature / "synthetic" / model))
  assert step == synthetic_lib.miniature_steps(model) and num_examples == 96, model
  report = (miniature / "synthetic" / "REPORT.md").read_text()
  row = next(line for line in report.splitlines() if f"| `{model}` |" in line)
  threshold = synthetic_lib.beats_chance_threshold(num_examples, significance=PER_RUN_SIGNIFICANCE)
  if top1 >= threshold:
    assert "| yes |" in row, row  # the report's 1% bar is below this one
    return
  results = {0: top1}
  for seed in RETRY_SEEDS:
    results[seed], step, num_examples = _train_again(model, synthetic_motion_cache,
                                                     miniature / f"seed{seed}", seed)
    assert step == synthetic_lib.miniature_steps(model) and num_examples == 96, model
    if results[seed] >= threshold:
      break
  tried = ", ".join(f"{value:.3f} with seed {seed}" for seed, value in results.items())
  warnings.warn(f"{model}: held-out top-1 {tried} (bar {threshold:.3f} per run)")
  assert max(results.values()) >= threshold, (
      f"{model}: held-out top-1 {tried} < {threshold:.3f}\n{report}")
