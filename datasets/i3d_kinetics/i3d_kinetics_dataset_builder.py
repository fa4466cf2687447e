"""i3d_kinetics: Kinetics-400, -600 and -700 from the official CSVs and downloaded YouTube clips.

Rows `label,youtube_id,time_start,time_end,split[,is_cc]` (the test CSVs may lack `label`: those
examples get label -1). A clip is found as `<youtube_id>_<start:06d>_<end:06d>.<ext>` (already
trimmed) or `<youtube_id>.<ext>` (whole video, trimmed to [time_start, time_end] while decoding),
anywhere under the manual dir. Label order: the class names sorted, as in DeepMind's label maps.
"""
import csv
import dataclasses
import io
import os
import pathlib
from typing import List, Optional

import tensorflow_datasets as tfds

from i3d_tf.video import listing

try:
  from ..common import video_builder, video_example
except ImportError:  # `tfds build datasets/<name>` loads this folder alone: see common/standalone.py
  import importlib.util as _util  # pylint: disable=g-import-not-at-top
  _spec = _util.spec_from_file_location(
      "_i3d_tf_datasets_standalone", pathlib.Path(__file__).resolve().parents[1] / "common" /
      "standalone.py")
  _standalone = _util.module_from_spec(_spec)
  _spec.loader.exec_module(_standalone)
  _standalone.make_importable()
  from i3d_tf_datasets.common import video_builder, video_example

# TFDS split -> CSV names accepted (the CVDF archives' names first, then the ActivityNet crawler's).
_CSV_NAMES = {
    "train": ("train.csv", "kinetics-{n}_train.csv", "kinetics_{n}_train.csv"),
    "validation": ("validate.csv", "val.csv", "kinetics-{n}_val.csv", "kinetics_{n}_val.csv"),
    "test": ("test.csv", "kinetics-{n}_test.csv", "kinetics_{n}_test.csv"),
}

LAYOUT = """\
  <manual_dir>/
    annotations/train.csv, validate.csv, test.csv   (or kinetics-N_{train,val,test}.csv)
        rows: label,youtube_id,time_start,time_end,split[,is_cc]   (test: label may be absent)
    videos/.../<youtube_id>_<start:06d>_<end:06d>.mp4  (trimmed clips, any subfolders, e.g. per
                                                       class; .webm/.mkv/.avi too)
          or .../<youtube_id>.mp4                      (whole videos: trimmed while decoding)"""


@dataclasses.dataclass(frozen=True)
class KineticsRow:
  label: Optional[str]     # None in a test CSV without labels
  youtube_id: str
  time_start: float
  time_end: float
  split: str


def clip_key(youtube_id, time_start, time_end):
  """'<youtube_id>_<start:06d>_<end:06d>': the trimmed file's stem and the example key."""
  return f"{youtube_id}_{int(round(time_start)):06d}_{int(round(time_end)):06d}"


def parse_csv(text, source="csv"):
  """Kinetics CSV text -> [KineticsRow], in file order, duplicates (same clip) dropped."""
  reader = csv.DictReader(io.StringIO(text))
  required = {"youtube_id", "time_start", "time_end"}
  missing = required - set(reader.fieldnames or ())
  if missing:
    raise ValueError(f"{source}: header {reader.fieldnames} lacks {sorted(missing)}; expected "
                     "label,youtube_id,time_start,time_end,split[,is_cc]")
  rows, seen = [], set()
  for line_number, record in enumerate(reader, 2):
    try:
      row = KineticsRow(label=record.get("label") or None, youtube_id=record["youtube_id"],
                        time_start=float(record["time_start"]), time_end=float(record["time_end"]),
                        split=record.get("split") or "")
    except (TypeError, ValueError) as e:
      raise ValueError(f"{source}:{line_number}: cannot parse {record}: {e}") from e
    key = clip_key(row.youtube_id, row.time_start, row.time_end)
    if key not in seen:
      seen.add(key)
      rows.append(row)
  return rows


def index_videos(root):
  """{file stem: path} of every video under `root` (trimmed clips and whole videos alike)."""
  index = {}
  for dirpath, _, filenames in os.walk(root, followlinks=True):
    for filename in filenames:
      if listing.is_video(filename):
        stem = os.path.splitext(filename)[0]
        index.setdefault(stem, os.path.join(dirpath, filename))
  return index


def rows_to_items(rows, class_names, videos, manual_dir,
                  source="csv") -> List[video_example.VideoItem]:
  """Rows -> VideoItems, each pointing at its trimmed clip, its whole video, or (missing) where
  the trimmed clip was expected."""
  label_of = {name: i for i, name in enumerate(class_names)}
  items = []
  for row in rows:
    if row.label is not None and row.label not in label_of:
      raise ValueError(f"{source}: label {row.label!r} ({row.youtube_id}) is not one of the "
                       f"{len(class_names)} classes of this config")
    key = clip_key(row.youtube_id, row.time_start, row.time_end)
    label = -1 if row.label is None else label_of[row.label]
    common = dict(key=key, label=label, source_start_s=row.time_start, source_end_s=row.time_end)
    if key in videos:
      items.append(video_example.VideoItem(path=videos[key], **common))
    elif row.youtube_id in videos:
      items.append(video_example.VideoItem(path=videos[row.youtube_id], start_s=row.time_start,
                                           end_s=row.time_end, **common))
    else:
      items.append(video_example.VideoItem(
          path=os.path.join(manual_dir, "videos", key + ".mp4"), **common))
  return items


@dataclasses.dataclass(eq=False)
class KineticsConfig(video_builder.VideoBuilderConfig):
  num_classes: int = 400


class Builder(video_builder.VideoDatasetBuilder):
  """Kinetics clips -> 25 fps RGB JPEG frames + TV-L1 flow, one example per clip."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "RGB + TV-L1 flow at 25 fps, shorter side 256."}
  BUILDER_CONFIGS = [
      KineticsConfig(name=str(n), num_classes=n, description=f"Kinetics-{n}")
      for n in (400, 600, 700)
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download the Kinetics annotations (CSV) and the clips (e.g. the CVDF mirror "
      "https://github.com/cvdfoundation/kinetics-dataset, or YouTube with the ActivityNet "
      "crawler) into manual_dir:\n" + LAYOUT)

  def _class_names(self):
    path = pathlib.Path(__file__).with_name(f"classes_{self.builder_config.num_classes}.txt")
    return [line for line in path.read_text().splitlines() if line]

  def _split_items(self, dl_manager):
    manual_dir = dl_manager.manual_dir
    annotations = manual_dir / "annotations"
    n = self.builder_config.num_classes
    csvs = {}
    for split, names in _CSV_NAMES.items():
      for name in names:
        path = annotations / name.format(n=n)
        if path.exists():
          csvs[split] = path
          break
    if not csvs:
      raise FileNotFoundError(f"No Kinetics CSV found in {annotations}. Expected layout:\n{LAYOUT}")
    videos = index_videos(os.fspath(manual_dir))
    return {
        split: rows_to_items(parse_csv(path.read_text(), str(path)), self._class_names(), videos,
                             os.fspath(manual_dir), str(path))
        for split, path in csvs.items()
    }

  def _expected_layout(self):
    return LAYOUT
