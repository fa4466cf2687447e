"""`import i3d_tf` (light, lazily exporting the public API) and the binaries' command line: --help
lists each binary's own and shared flags but not the test-only ones, a missing flag is named, and
the installed console scripts run from any directory."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def _python(code, cwd):
  return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                        env={**os.environ, "PYTHONPATH": REPO_ROOT}, timeout=300, check=False)


def test_import_is_light_and_exports_the_api(tmp_path):
  result = _python(
      "import sys, i3d_tf\n"
      "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
      "names = dir(i3d_tf)\n"
      "print(i3d_tf.__version__)\n"
      "print(' '.join(n for n in ('InceptionI3D', 'C3D', 'build_model', 'registry', 'pretrained',\n"
      "    'load_model', 'load_deepmind_checkpoint', 'export_saved_model', 'train_dataset',\n"
      "    'ClipSpec', 'read_video') if n in names))\n"
      "print(i3d_tf.build_model('i3d_flow', 3).__class__.__name__, i3d_tf.model_names()[0])\n",
      cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-2000:]
  version, names, built = result.stdout.split("\n")[:3]
  with open(os.path.join(REPO_ROOT, "i3d_tf", "__init__.py"), encoding="utf-8") as f:
    assert f'__version__ = "{version}"' in f.read()
  assert len(names.split()) == 11, names
  assert built == "InceptionI3D i3d_rgb"


def _binary(module, *args, cwd=REPO_ROOT):
  return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                        cwd=cwd, env={**os.environ, "PYTHONPATH": REPO_ROOT}, timeout=300,
                        check=False)


def test_train_help_lists_the_shared_flags_but_not_the_test_only_ones():
  result = _binary("experiments.train_kinetics", "--help")  # absl's --help exits with status 1
  assert "--model" in result.stdout, result.stderr[-2000:]
  listed = {line.split(":")[0].strip().lstrip("-").replace("[no]", "")
            for line in result.stdout.splitlines() if line.startswith("  --")}
  assert {"model", "dataset", "init", "batch_size", "train_steps", "learning_rate", "model_dir",
          "synthetic_config"} <= listed, sorted(listed)
  assert "inject_nan_at_step" not in listed
  full = _binary("experiments.train_kinetics", "--helpfull")
  assert "--inject_nan_at_step" in full.stdout


def test_a_missing_required_flag_is_named():
  result = _binary("experiments.evaluate")
  assert result.returncode != 0
  assert "--run_dirs" in result.stderr, result.stderr[-2000:]


@pytest.mark.slow
def test_installed_console_scripts_work_from_any_directory(tmp_path):
  # Installed from a copy: setuptools leaves build/ and *.egg-info beside setup.py.
  source = tmp_path / "source"
  ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
  for name in ("i3d_tf", "experiments", "datasets"):
    shutil.copytree(os.path.join(REPO_ROOT, name), source / name, ignore=ignore)
  shutil.copy(os.path.join(REPO_ROOT, "setup.py"), source / "setup.py")
  target = tmp_path / "site"
  build = subprocess.run(
      [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
       "--target", str(target), str(source)], capture_output=True, text=True, timeout=600,
      check=False, cwd=str(tmp_path))
  assert build.returncode == 0, build.stderr[-2000:]
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  env = {**os.environ, "PYTHONPATH": str(target)}
  for script, flag in (("i3d-train", "--batch_size"), ("i3d-finetune", "--mode"),
                       ("i3d-build", "--dataset"), ("i3d-import", "--checkpoint"),
                       ("i3d-plot-curves", "--run_dir")):
    result = subprocess.run([str(target / "bin" / script), "--help"], capture_output=True,
                            text=True, cwd=str(elsewhere), env=env, timeout=300, check=False)
    assert f"  {flag}" in result.stdout, (script, result.stdout[-2000:])
  result = subprocess.run([str(target / "bin" / "i3d-evaluate")], capture_output=True, text=True,
                          cwd=str(elsewhere), env=env, timeout=300, check=False)
  assert result.returncode != 0 and "--run_dirs" in result.stderr, result.stderr[-2000:]
