"""Small manual_dir trees in the UCF-101 / HMDB-51 / Kinetics layouts, made from a few real clips.

For tests, demos and benchmarks: each tree keeps a subset of the real split files' lines (CRLF kept)
and symlinks real clips under the names those lines expect, so a builder runs exactly as on the
full dataset. A mapping {name in the split file: source clip} says which clip plays which entry.
"""
import csv
import os
import pathlib
import shutil


def _link(source, target):
  target = pathlib.Path(target)
  target.parent.mkdir(parents=True, exist_ok=True)
  if target.exists() or target.is_symlink():
    target.unlink()
  os.symlink(os.path.abspath(source), target)


def _lines_with(path, names):
  """The lines of a split file (line endings kept) whose first field is one of `names`."""
  names = set(names)
  with open(path, newline="") as f:
    return [line for line in f if line.split() and line.split()[0] in names]


def make_ucf101_tree(manual_dir, splits_dir, clips, split_number=1):
  """UCF-101 layout; `clips`: {'Class/v_Class_gXX_cYY.avi': source clip} (names from the lists)."""
  manual_dir, splits_dir = pathlib.Path(manual_dir), pathlib.Path(splits_dir)
  out = manual_dir / "ucfTrainTestlist"
  out.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(splits_dir / "classInd.txt", out / "classInd.txt")
  for kind in ("trainlist", "testlist"):
    name = f"{kind}0{split_number}.txt"
    lines = _lines_with(splits_dir / name, list(clips))
    (out / name).write_bytes("".join(lines).encode())
  for relative, source in clips.items():
    _link(source, manual_dir / "UCF-101" / relative)
  return manual_dir


def make_hmdb51_tree(manual_dir, splits_dir, clips, split_number=1, also_keep=()):
  """HMDB-51 layout; `clips`: {'class/name.avi': source clip}; other classes' files kept empty.

  `also_keep`: more names whose lines stay in the split files, with no clip (e.g. unused, 0).
  """
  manual_dir, splits_dir = pathlib.Path(manual_dir), pathlib.Path(splits_dir)
  out = manual_dir / "testTrainMulti_7030_splits"
  out.mkdir(parents=True, exist_ok=True)
  names = [pathlib.PurePosixPath(r).name for r in clips] + list(also_keep)
  for split_file in sorted(splits_dir.glob(f"*_test_split{split_number}.txt")):
    (out / split_file.name).write_bytes("".join(_lines_with(split_file, names)).encode())
  for relative, source in clips.items():
    _link(source, manual_dir / "hmdb51" / relative)
  return manual_dir


def make_kinetics_tree(manual_dir, rows_by_split, clips, header=None):
  """Kinetics layout: annotations/<split>.csv from `rows_by_split` ({split: [row dicts]}) and
  videos/<file name>: source clip for each entry of `clips`."""
  manual_dir = pathlib.Path(manual_dir)
  (manual_dir / "annotations").mkdir(parents=True, exist_ok=True)
  for split, rows in rows_by_split.items():
    fields = header or list(rows[0].keys())
    with open(manual_dir / "annotations" / f"{split}.csv", "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
      writer.writeheader()
      writer.writerows(rows)
  for name, source in clips.items():
    _link(source, manual_dir / "videos" / name)
  return manual_dir
