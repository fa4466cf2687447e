"""Shared test setup: quiet TF logs, this checkout first on every subprocess's path, `../shared`."""
import os
import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Subprocesses (binaries run as `python -m experiments.X`) must import this checkout, not an
# installed copy.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
if str(REPO_ROOT) not in sys.path:
  sys.path.insert(0, str(REPO_ROOT))
# The CPU kernels the binaries run, here too: before any test imports TensorFlow.
from i3d_tf import cpu_kernels  # noqa: E402,F401  pylint: disable=wrong-import-position


def _main_checkout(root):
  """The main checkout of a git worktree (whose `.git` is a file 'gitdir: MAIN/.git/worktrees/X')."""
  git = root / ".git"
  if git.is_file():
    text = git.read_text().strip()
    if text.startswith("gitdir:"):
      return pathlib.Path(text[len("gitdir:"):].strip()).resolve().parents[2]
  return root


def _find_shared():
  """$I3D_TF_SHARED, or `../shared` beside the checkout (or beside a worktree's main checkout)."""
  candidates = [os.environ.get("I3D_TF_SHARED"), REPO_ROOT.parent / "shared",
                _main_checkout(REPO_ROOT).parent / "shared"]
  for c in candidates:
    if c and pathlib.Path(c).is_dir():
      return pathlib.Path(c)
  return None


SHARED_DIR = _find_shared()


def shared_path(*parts):
  """Path to a file in ../shared, or skips the test with a reason when it is absent."""
  if SHARED_DIR is None:
    pytest.skip("../shared is absent (set I3D_TF_SHARED to its path to run this test)")
  path = SHARED_DIR.joinpath(*parts)
  if not path.exists():
    pytest.skip(f"{path} is absent from ../shared")
  return path


@pytest.fixture
def shared():
  """Fixture form of shared_path."""
  return shared_path


@pytest.fixture(scope="session")
def synthetic_motion_cache(tmp_path_factory):
  """An I3D_TF_CACHE for the slow tests that build the real synthetic_motion/small set: built by
  the first of them (minutes), reused by the rest."""
  return tmp_path_factory.mktemp("i3d_tf_cache")
