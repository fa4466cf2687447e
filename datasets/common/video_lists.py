"""Your own videos as a labelled list: class folders or a CSV/TSV list -> classes and splits.

Pure Python (no TensorFlow, no TFDS): what the `i3d_video_folder` builder lists before it builds,
and what its unit tests check. Two inputs:
  - class folders: <dir>/<class>/**/<video>, or split: <dir>/{train,validation,test}/<class>/
  - a list file (.csv, .tsv): rows `path,label[,split][,start,end]` (2 to 5 fields, or a header
    row naming the columns), paths relative to the list's folder or absolute.
A video is a video file or a frame folder (img_00001.jpg ..., i3d_tf/video/listing.py), found by
listing.find_videos.
Classes are the folder names / labels, sorted (numerically when all are integers). Without given
splits, a seeded stratified split sends `test_fraction` of each class to test, keeping every class
with >= 2 videos on both sides.
"""
import csv
import dataclasses
import io
import logging
import math
import os
import pathlib
import random
from typing import Dict, List, Optional

from i3d_tf.video import listing

LIST_EXTENSIONS = (".csv", ".tsv")
SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "validation",
                  "valid": "validation", "validation": "validation", "test": "test",
                  "testing": "test"}
_COLUMNS_BY_COUNT = {2: ("path", "label"), 3: ("path", "label", "split"),
                     4: ("path", "label", "start", "end"),
                     5: ("path", "label", "split", "start", "end")}
_HEADER_ALIASES = {"path": "path", "video": "path", "file": "path", "filename": "path",
                   "label": "label", "class": "label", "split": "split", "start": "start",
                   "start_s": "start", "end": "end", "end_s": "end"}

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ListedVideo:
  """One video of the user's set: where it is, its class name, its split (None: to be drawn)."""
  key: str                       # unique example key / video_id, e.g. 'Dribble/clip_003'
  path: str                      # absolute path
  label: str                     # class name
  split: Optional[str] = None    # train | validation | test, or None
  start_s: Optional[float] = None
  end_s: Optional[float] = None
  source: str = ""               # where it was listed ('list.csv:12', a folder), for errors


@dataclasses.dataclass
class Listing:
  """What a manual_dir holds: the classes in label order and the videos of each split."""
  class_names: List[str]
  splits: Dict[str, List[ListedVideo]]
  source: str                    # 'class folders' | 'split folders' | the list file's path
  splits_from: str               # 'given' | 'stratified'

  def metadata(self):
    counts = {s: len(v) for s, v in self.splits.items()}
    return {"source": self.source, "splits_from": self.splits_from, "videos_per_split": counts}


def is_video(path):
  return listing.is_video(path)


def split_name(value, where=""):
  """'val' -> 'validation' etc.; '' -> None; anything else is an error naming `where`."""
  value = (value or "").strip().lower()
  if not value:
    return None
  if value not in _SPLIT_ALIASES:
    raise ValueError(f"{where}: unknown split {value!r}; expected one of "
                     f"{', '.join(sorted(_SPLIT_ALIASES))} (or empty)")
  return _SPLIT_ALIASES[value]


def sorted_class_names(labels):
  """Distinct labels in label order: numerically if every label is an integer, else by name."""
  names = sorted(set(labels))
  if names and all(n.lstrip("-").isdigit() for n in names):
    return sorted(names, key=int)
  return names


# --------------------------------------------------------------------------- class folders


def _videos_under(folder):
  """The video files and frame folders under `folder` (listing.find_videos), hidden ones left."""
  return [pathlib.Path(p) for p in listing.find_videos(folder)
          if not pathlib.Path(p).name.startswith(".")]


def _key_path(path):
  """`path` without its extension (a frame folder's name is kept whole: 'clip.v2' is no file
  name with an extension)."""
  return path if listing.is_frame_folder(path) else path.with_suffix("")


def _subdirs(folder):
  return sorted(p for p in pathlib.Path(folder).iterdir()
                if p.is_dir() and not p.name.startswith("."))


def list_class_folders(root):
  """<root>/<class>/**/video or <root>/<split>/<class>/**/video -> (videos, 'class folders' or
  'split folders'). Keys are paths relative to root, without extension."""
  root = pathlib.Path(root)
  top = _subdirs(root)
  split_dirs = [d for d in top if d.name.lower() in _SPLIT_ALIASES]
  if split_dirs and len(split_dirs) != len(top):
    others = [d.name for d in top if d not in split_dirs]
    raise ValueError(f"{root}: mixes split folders ({', '.join(d.name for d in split_dirs)}) with "
                     f"class folders ({', '.join(others[:5])}); use either <class>/ folders or "
                     f"train/<class>/ and test/<class>/ folders")
  loose = [p.name for p in root.iterdir() if (p.is_file() and is_video(p)) or
           listing.is_frame_folder(p)]
  if loose:
    raise ValueError(f"{root}: videos outside any class folder ({', '.join(sorted(loose)[:5])}); "
                     f"put each in a folder named after its class, or list them in a .csv/.tsv")
  groups = [(split_name(d.name), d) for d in split_dirs] if split_dirs else [(None, root)]
  videos = []
  for split, folder in groups:
    for class_dir in _subdirs(folder):
      found = _videos_under(class_dir)
      if not found:
        log.warning("%s holds no video (extensions %s) nor frame folder (img_00001.jpg ...): "
                    "not a class", class_dir, " ".join(listing.VIDEO_EXTENSIONS))
        continue
      for path in found:
        key = _key_path(path).relative_to(root).as_posix()
        videos.append(ListedVideo(key=key, path=str(path.resolve()), label=class_dir.name,
                                  split=split, source=str(class_dir)))
  if not videos:
    raise ValueError(f"{root}: no videos found (expected <class>/<video> folders, or "
                     f"train/<class>/<video> and test/<class>/<video>; extensions "
                     f"{' '.join(listing.VIDEO_EXTENSIONS)}, or frame folders of img_00001.jpg "
                     f"...)")
  return videos, ("split folders" if split_dirs else "class folders")


# --------------------------------------------------------------------------------- list file


def _seconds(value, where, column):
  value = (value or "").strip()
  if not value:
    return None
  try:
    seconds = float(value)
  except ValueError:
    raise ValueError(f"{where}: {column} {value!r} is not a number of seconds") from None
  if not math.isfinite(seconds) or seconds < 0:
    raise ValueError(f"{where}: {column} {value!r} must be a non-negative number of seconds")
  return seconds


def _delimiter(list_path, text):
  suffix = pathlib.Path(list_path).suffix.lower()
  if suffix == ".tsv":
    return "\t"
  if suffix == ".csv":
    return ","
  first = next((line for line in text.splitlines() if line.strip()), "")
  return "\t" if "\t" in first else ","


def parse_video_list(text, list_path):
  """Rows `path,label[,split][,start,end]` of a .csv/.tsv list -> ListedVideos.

  Blank lines and lines starting with '#' are ignored; a first row whose first field is 'path'
  (or video/file/filename) is a header naming the columns (path, label, split, start, end).
  """
  list_path = pathlib.Path(list_path)
  base = list_path.resolve().parent
  rows = list(csv.reader(io.StringIO(text), delimiter=_delimiter(list_path, text)))
  numbered = [(i, [f.strip() for f in row]) for i, row in enumerate(rows, 1)
              if row and any(f.strip() for f in row) and not row[0].lstrip().startswith("#")]
  header = _header(numbered, list_path)
  videos, seen = [], {}
  for line, fields in numbered:
    video, relative = _listed_video(fields, header, base, f"{list_path}:{line}")
    if video.key in seen:
      raise ValueError(f"{video.source}: {relative} (same clip and times) is already listed on "
                       f"line {seen[video.key]}")
    seen[video.key] = line
    videos.append(video)
  if not videos:
    raise ValueError(f"{list_path}: lists no videos (rows 'path,label[,split][,start,end]')")
  with_split = [v for v in videos if v.split]
  if with_split and len(with_split) != len(videos):
    first = next(v for v in videos if not v.split)
    raise ValueError(f"{first.source}: no split, while other rows give one (e.g. "
                     f"{with_split[0].source}); give every row a split, or none to draw them")
  return videos


def _header(numbered, list_path):
  """The column names of a header row (popped from `numbered`), or None when the list has none."""
  if not numbered or numbered[0][1][0].lower() not in ("path", "video", "file", "filename"):
    return None
  line, names = numbered.pop(0)
  unknown = [n for n in names if n.lower() not in _HEADER_ALIASES]
  if unknown:
    raise ValueError(f"{list_path}:{line}: unknown column(s) {unknown}; columns are path, label "
                     f"and optionally split, start, end")
  header = [_HEADER_ALIASES[n.lower()] for n in names]
  if "label" not in header:
    raise ValueError(f"{list_path}:{line}: the header has no 'label' column")
  return header


def _listed_video(fields, header, base, where):
  """(ListedVideo, the path as written) of one row: the path resolved against the list's folder,
  the key the path without extension, plus the clip's times when it has them."""
  if header:
    if len(fields) > len(header):
      raise ValueError(f"{where}: {len(fields)} fields, the header names {len(header)}")
    row = dict(zip(header, fields))
  else:
    if len(fields) not in _COLUMNS_BY_COUNT:
      raise ValueError(f"{where}: expected 2 to 5 fields 'path,label[,split][,start,end]', got "
                       f"{len(fields)}: {','.join(fields)!r}")
    row = dict(zip(_COLUMNS_BY_COUNT[len(fields)], fields))
  relative, label = row.get("path", ""), row.get("label", "")
  if not relative or not label:
    raise ValueError(f"{where}: a row needs a path and a label, got {','.join(fields)!r}")
  path = pathlib.Path(relative)
  path = pathlib.Path(os.path.normpath(path if path.is_absolute() else base / path))
  start_s, end_s = _seconds(row.get("start"), where, "start"), _seconds(row.get("end"), where,
                                                                        "end")
  if start_s is not None and end_s is not None and end_s <= start_s:
    raise ValueError(f"{where}: end {end_s:g} s is not after start {start_s:g} s")
  try:
    key = _key_path(path).relative_to(base).as_posix()
  except ValueError:  # outside the list's folder
    key = _key_path(path).as_posix().lstrip("/")
  if start_s is not None or end_s is not None:
    key += f"_{start_s or 0:g}_{end_s:g}" if end_s is not None else f"_{start_s:g}"
  return ListedVideo(key=key, path=str(path), label=label,
                     split=split_name(row.get("split"), where), start_s=start_s, end_s=end_s,
                     source=where), relative


def find_list_file(manual_dir, list_file=None):
  """The list to read: `list_file` (relative to manual_dir or absolute), else the one .csv/.tsv
  at the top of manual_dir, else None (class folders)."""
  manual_dir = pathlib.Path(manual_dir)
  if list_file:
    path = pathlib.Path(list_file)
    path = path if path.is_absolute() else manual_dir / path
    if not path.is_file():
      raise FileNotFoundError(f"list_file {path} not found")
    return path
  found = sorted(p for p in manual_dir.iterdir() if p.is_file() and
                 p.suffix.lower() in LIST_EXTENSIONS and not p.name.startswith("."))
  if len(found) > 1:
    raise ValueError(f"{manual_dir} holds several lists ({', '.join(p.name for p in found)}): "
                     f"name one with --list_file")
  return found[0] if found else None


# -------------------------------------------------------------------------------- splitting


def stratified_split(keys, labels, test_fraction, seed=0):
  """{key: 'train' | 'test'}: round(test_fraction * n) of each class's n videos to test, at least
  1 and at most n - 1 when n >= 2 (a class of one video stays in train). Seeded per class, by
  key order, so neither the listing order nor the other classes change a class's draw."""
  if not 0.0 < test_fraction < 1.0:
    raise ValueError(f"test_fraction={test_fraction}: expected a fraction in (0, 1)")
  by_class = {}
  for key, label in zip(keys, labels):
    by_class.setdefault(label, []).append(key)
  out = {}
  for label in sorted(by_class):
    members = sorted(by_class[label])
    random.Random(f"{seed}/{label}").shuffle(members)
    n = len(members)
    n_test = int(math.floor(n * test_fraction + 0.5))
    n_test = min(max(n_test, 1), n - 1) if n >= 2 else 0
    for i, key in enumerate(members):
      out[key] = "test" if i < n_test else "train"
  return out


def list_labelled_videos(manual_dir, list_file=None, test_fraction=0.2, seed=0):
  """A Listing of manual_dir: its class folders or its list, with given or drawn splits."""
  manual_dir = pathlib.Path(manual_dir)
  if not manual_dir.is_dir():
    raise FileNotFoundError(f"manual_dir {manual_dir} is not a folder")
  list_path = find_list_file(manual_dir, list_file)
  if list_path is not None:
    videos = parse_video_list(list_path.read_text(), list_path)
    source = str(list_path)
  else:
    videos, source = list_class_folders(manual_dir)
  class_names = sorted_class_names(v.label for v in videos)
  if all(v.split for v in videos):
    splits_from = "given"
    if not any(v.split == "train" for v in videos):
      raise ValueError(f"{source}: the given splits have no 'train' videos")
  else:
    splits_from = "stratified"
    drawn = stratified_split([v.key for v in videos], [v.label for v in videos], test_fraction,
                             seed)
    videos = [dataclasses.replace(v, split=drawn[v.key]) for v in videos]
    alone = sorted({v.label for v in videos} - {v.label for v in videos if v.split == "test"})
    if alone:
      log.warning("classes with a single video, kept in train only: %s", ", ".join(alone))
  splits = {s: [v for v in videos if v.split == s] for s in SPLITS}
  return Listing(class_names, {s: v for s, v in splits.items() if v}, source, splits_from)

