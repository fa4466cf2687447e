"""i3d_ucf101: UCF-101 with the official three train/test splits, stored as RGB + TV-L1 flow.

Named so it does not collide with TFDS's own `ucf101` (which stores RGB only).
"""
import dataclasses
import pathlib

import tensorflow_datasets as tfds

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

_CLASSES_FILE = pathlib.Path(__file__).with_name("classes.txt")
_VIDEO_DIR = "UCF-101"
_SPLITS_DIR = "ucfTrainTestlist"

LAYOUT = f"""\
  <manual_dir>/
    {_VIDEO_DIR}/<Class>/v_<Class>_gXX_cYY.avi     (UCF101.rar, extracted: 13,320 clips)
    {_SPLITS_DIR}/classInd.txt                     (UCF101TrainTestSplits-RecognitionTask.zip)
    {_SPLITS_DIR}/trainlist0N.txt, testlist0N.txt  (N = 1, 2, 3; CRLF line endings are fine)"""


def parse_class_index(text):
  """classInd.txt ('1 ApplyEyeMakeup' per line) -> class names in label order."""
  rows = [line.split() for line in text.splitlines() if line.strip()]
  names = {}
  for row in rows:
    if len(row) != 2 or not row[0].isdigit():
      raise ValueError(f"classInd.txt: expected '<index> <ClassName>' lines, got {' '.join(row)!r}")
    names[int(row[0])] = row[1]
  if sorted(names) != list(range(1, len(names) + 1)):
    raise ValueError(f"classInd.txt: indices must run 1..{len(names)}")
  return [names[i] for i in range(1, len(names) + 1)]


def parse_split_file(text, class_names, source="split file"):
  """trainlist/testlist text -> [(relative path 'Class/v_Class_g01_c01.avi', label index)].

  The label comes from the class folder of each line (testlists carry no index); a trainlist's
  1-based index, when present, must agree with it.
  """
  label_of = {name.lower(): i for i, name in enumerate(class_names)}
  entries = []
  for line_number, line in enumerate(text.splitlines(), 1):
    fields = line.split()
    if not fields:
      continue
    relative = fields[0].replace("\\", "/")
    class_dir = relative.split("/")[0]
    if class_dir.lower() not in label_of:
      raise ValueError(f"{source}:{line_number}: class folder {class_dir!r} is not in classInd.txt")
    label = label_of[class_dir.lower()]
    if len(fields) > 1 and int(fields[1]) - 1 != label:
      raise ValueError(f"{source}:{line_number}: index {fields[1]} disagrees with folder "
                       f"{class_dir!r} (classInd says {label + 1})")
    entries.append((relative, label))
  return entries


@dataclasses.dataclass(eq=False)
class Ucf101Config(video_builder.VideoBuilderConfig):
  split_number: int = 1


class Builder(video_builder.VideoDatasetBuilder):
  """UCF-101 videos -> 25 fps RGB JPEG frames + TV-L1 flow, one example per clip."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "RGB + TV-L1 flow at 25 fps, shorter side 256."}
  BUILDER_CONFIGS = [
      Ucf101Config(name=f"split{n}", split_number=n,
                   description=f"UCF-101 official train/test split {n}")
      for n in (1, 2, 3)
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip from "
      "https://www.crcv.ucf.edu/data/UCF101.php, extract both into manual_dir:\n" + LAYOUT)

  def _class_names(self):
    return _CLASSES_FILE.read_text().split()

  def _split_items(self, dl_manager):
    manual_dir = dl_manager.manual_dir
    split_dir = manual_dir / _SPLITS_DIR
    n = self.builder_config.split_number
    files = {"classInd": split_dir / "classInd.txt",
             "train": split_dir / f"trainlist0{n}.txt",
             "test": split_dir / f"testlist0{n}.txt"}
    absent = [str(p) for p in files.values() if not p.exists()]
    if absent:
      raise FileNotFoundError(f"UCF-101 split files not found: {', '.join(absent)}. Expected "
                              f"layout:\n{LAYOUT}")
    class_names = parse_class_index(files["classInd"].read_text())
    if class_names != self._class_names():
      raise ValueError(f"{files['classInd']}: classes differ from UCF-101's 101 classes "
                       f"({_CLASSES_FILE})")
    items = {}
    for split in ("train", "test"):
      entries = parse_split_file(files[split].read_text(), class_names, source=str(files[split]))
      items[split] = [
          video_example.VideoItem(key=pathlib.PurePosixPath(rel).stem,
                                  path=str(manual_dir / _VIDEO_DIR / rel), label=label)
          for rel, label in entries
      ]
    return items

  def _expected_layout(self):
    return LAYOUT
