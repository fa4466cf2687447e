"""Every binary (setup.py's console scripts) goes through one entry path, i3d_tf/entry.py: its
--help prints the help and exits 0, and TensorFlow's CUDA probe prints no cuInit error there.

Running `--help` of all 14 binaries would take minutes here: the six that import TensorFlow
before parsing their flags (train, finetune, evaluate, evaluate-sample, import, extract-features)
take 8-15 s each on 2 cores. So a static check covers all 14 (each console script's module ends in
`entry.run(main)`, no `app.run`), and `--help` runs for the eight that start in under a second plus
`i3d-finetune`, one of the TensorFlow six (the one issue 21 names), through the console scripts'
own function for `i3d-build` and `i3d-finetune`.
"""
import ast
import os
import subprocess
import sys

import pytest

from i3d_tf import cuda_probe
from tests.conftest import REPO_ROOT


def _scripts():
  """setup.py's _SCRIPTS {console script: experiments.cli function}, read without running it."""
  tree = ast.parse((REPO_ROOT / "setup.py").read_text())
  for node in tree.body:
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_SCRIPTS":
      return ast.literal_eval(node.value)
  raise AssertionError("setup.py has no _SCRIPTS")


def _cli_modules():
  """{experiments.cli function: the module it runs in this checkout}."""
  tree = ast.parse((REPO_ROOT / "experiments" / "cli.py").read_text())
  modules = {}
  for node in tree.body:
    if isinstance(node, ast.FunctionDef) and node.name != "run_binary":
      [call] = [n for n in ast.walk(node) if isinstance(n, ast.Call)
                and getattr(n.func, "id", None) == "run_binary"]
      names = [a.value for a in call.args]
      # Installed, the builders are i3d_tf_datasets; in a checkout, datasets.
      modules[node.name] = next(n for n in names if not n.startswith("i3d_tf_datasets"))
  return modules


def _module_path(module):
  return REPO_ROOT.joinpath(*module.split(".")).with_suffix(".py")


def test_every_console_script_runs_through_the_entry_path():
  scripts, modules = _scripts(), _cli_modules()
  assert len(scripts) == 14 and set(scripts.values()) <= set(modules), (scripts, modules)
  cli = (REPO_ROOT / "experiments" / "cli.py").read_text()
  assert "entry.run(module.main)" in cli and "app.run(" not in cli
  for script, function in sorted(scripts.items()):
    module = modules[function]
    source = _module_path(module).read_text()
    tree = ast.parse(source)
    [main_block] = [n for n in tree.body if isinstance(n, ast.If)
                    and "__main__" in ast.unparse(n.test)]
    # entry.run(main) there, or in a function of the module it calls (classify's console_main).
    functions = {n.name: ast.unparse(n) for n in tree.body if isinstance(n, ast.FunctionDef)}
    called = [ast.unparse(n.func) for n in ast.walk(main_block) if isinstance(n, ast.Call)]
    assert any(c == "entry.run" or "entry.run(main)" in functions.get(c, "") for c in called), (
        f"{script}: {module}'s __main__ block does not run main through entry.run")
    assert "app.run(" not in source, f"{script}: {module} calls absl's app.run"
    assert "from i3d_tf import entry" in source, f"{script}: {module}"


def _clean_env():
  """The environment of a new user's shell: TensorFlow's own log level, no probe override."""
  return {k: v for k, v in os.environ.items()
          if k not in ("TF_CPP_MIN_LOG_LEVEL", "I3D_TF_SHOW_CUDA_PROBE")}


# (what runs, the argv after `python`): `python -m` for most, the console scripts' function for
# i3d-build and i3d-finetune.
_FAST = ["datasets.build", "experiments.classify", "experiments.preprocess_video",
         "experiments.reproduce", "experiments.report", "experiments.model_summary",
         "experiments.visualize_filters", "experiments.plot_curves"]
_HELP_RUNS = [(m, ["-m", m, "--help"]) for m in _FAST] + [
    (f"i3d-{name}", ["-c", f"import sys; sys.argv = ['i3d-{name}', '--help']; "
                     f"from experiments import cli; cli.{name}()"])
    for name in ("build", "finetune")]


@pytest.mark.parametrize("what,argv", _HELP_RUNS, ids=[w for w, _ in _HELP_RUNS])
def test_help_prints_the_flags_and_exits_0(what, argv):
  result = subprocess.run([sys.executable, *argv], cwd=REPO_ROOT, env=_clean_env(),
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, f"{what} --help: status {result.returncode}\n{result.stderr}"
  assert "Try --helpfull to get a list of all flags." in result.stdout, result.stdout[-2000:]
  assert "\n  --" in result.stdout, f"{what} --help lists no flag:\n{result.stdout}"
  assert "Traceback" not in result.stderr, result.stderr
  assert "failed call to cuInit" not in result.stderr, result.stderr


def test_a_flag_error_still_exits_1():
  result = subprocess.run([sys.executable, "-m", "experiments.report", "--no_such_flag"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 1 and "Unknown command line flag 'no_such_flag'" in result.stderr


@pytest.mark.parametrize("visible,hidden", [("", True), ("-1", True), (" -1 ", True),
                                            ("0", False), ("1,2", False)])
def test_cuda_visible_devices_that_hide_every_gpu_count_as_no_gpu(monkeypatch, visible, hidden):
  monkeypatch.delenv("I3D_TF_SHOW_CUDA_PROBE", raising=False)
  monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
  assert cuda_probe.no_gpu_here() is hidden
  monkeypatch.setenv("I3D_TF_SHOW_CUDA_PROBE", "1")
  assert not cuda_probe.no_gpu_here()


def test_a_build_flow_process_seeing_no_gpu_prints_no_cuinit():
  """What a tvl1_tf build's flow process (flow_devices._serve) does before TensorFlow runs: hides
  the GPUs. TensorFlow's probe then fails cuInit on any machine and logs it at ERROR level."""
  code = ("from datasets.common import flow_devices; flow_devices.see_only(None); "
          "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')), "
          "float(tf.constant(1.0) + 1))")
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=_clean_env(),
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.split() == ["0", "2.0"]
  assert "failed call to cuInit" not in result.stderr, result.stderr
