"""Makes the builders importable when `tfds build datasets/<name>` loads a builder folder alone.

TFDS imports the folder without its parent package and meanwhile stands in for the name `datasets`
(HuggingFace's), so the builders' relative imports fail. Loaded by file path (stdlib only, no
package needed), `make_importable()` makes `i3d_tf_datasets` importable: the installed package if
it is this folder, else this `datasets/` folder linked under that name ahead of any other install,
for this process and its workers (pool workers inherit sys.path; Beam's worker processes the
environment, hence PYTHONPATH).
"""
import os
import pathlib
import sys
import tempfile

_DATASETS_DIR = pathlib.Path(__file__).resolve().parents[1]


def make_importable():
  import importlib.util  # pylint: disable=import-outside-toplevel
  spec = importlib.util.find_spec("i3d_tf_datasets")
  locations = list(getattr(spec, "submodule_search_locations", None) or []) if spec else []
  if any(pathlib.Path(p).resolve() == _DATASETS_DIR for p in locations):
    return  # the installed package is this very folder
  # Not installed, or installed from another copy (e.g. an older install beside this checkout):
  # the builder loaded from this folder must import this folder's modules, not that copy's.
  link_dir = tempfile.mkdtemp(prefix="i3d_tf_datasets_")
  (pathlib.Path(link_dir) / "i3d_tf_datasets").symlink_to(_DATASETS_DIR)
  paths = [link_dir, str(_DATASETS_DIR.parent)]  # the parent: i3d_tf, if not installed
  sys.path.insert(0, link_dir)
  sys.path.append(paths[1])
  os.environ["PYTHONPATH"] = os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")])
