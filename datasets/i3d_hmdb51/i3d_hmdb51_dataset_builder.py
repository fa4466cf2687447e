"""i3d_hmdb51: HMDB-51 with the official 70/30 splits 1-3, stored as RGB + TV-L1 flow."""
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

# Label order: the split files' names sorted (so `kick_ball` before `kick`), as in common use.
_CLASSES_FILE = pathlib.Path(__file__).with_name("classes.txt")
_VIDEO_DIR = "hmdb51"
_SPLITS_DIR = "testTrainMulti_7030_splits"
_SPLIT_OF_CODE = {"1": "train", "2": "test", "0": None}  # 0: not used in this split

LAYOUT = f"""\
  <manual_dir>/
    {_VIDEO_DIR}/<class>/<name>.avi              (hmdb51_org.rar, each class's .rar extracted)
    {_SPLITS_DIR}/<class>_test_split<N>.txt   (test_train_splits.rar; N = 1, 2, 3;
                                 lines '<name>.avi <1 train|2 test|0 unused>')"""


def parse_split_files(texts_by_class):
  """{class: text of <class>_test_splitN.txt} -> {'train': [(class, name)], 'test': [...]}."""
  out = {"train": [], "test": []}
  for class_name, text in texts_by_class.items():
    for line_number, line in enumerate(text.splitlines(), 1):
      fields = line.split()
      if not fields:
        continue
      if len(fields) != 2 or fields[1] not in _SPLIT_OF_CODE:
        raise ValueError(f"{class_name}_test_split file line {line_number}: expected "
                         f"'<name>.avi <0|1|2>', got {line.strip()!r}")
      split = _SPLIT_OF_CODE[fields[1]]
      if split:
        out[split].append((class_name, fields[0]))
  return out


@dataclasses.dataclass(eq=False)
class Hmdb51Config(video_builder.VideoBuilderConfig):
  split_number: int = 1


class Builder(video_builder.VideoDatasetBuilder):
  """HMDB-51 videos -> 25 fps RGB JPEG frames + TV-L1 flow, one example per clip."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "RGB + TV-L1 flow at 25 fps, shorter side 256."}
  BUILDER_CONFIGS = [
      Hmdb51Config(name=f"split{n}", split_number=n,
                   description=f"HMDB-51 official 70/30 split {n}")
      for n in (1, 2, 3)
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download hmdb51_org.rar and test_train_splits.rar from "
      "https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/, extract "
      "the videos (one folder per class) and the split files into manual_dir:\n" + LAYOUT)

  def _class_names(self):
    return _CLASSES_FILE.read_text().split()

  def _split_items(self, dl_manager):
    manual_dir = dl_manager.manual_dir
    split_dir = manual_dir / _SPLITS_DIR
    n = self.builder_config.split_number
    class_names = self._class_names()
    files = {c: split_dir / f"{c}_test_split{n}.txt" for c in class_names}
    absent = [p.name for p in files.values() if not p.exists()]
    if absent:
      raise FileNotFoundError(
          f"{len(absent)} HMDB-51 split files for split {n} not found in {split_dir} (e.g. "
          f"{', '.join(absent[:3])}). Expected layout:\n{LAYOUT}")
    entries = parse_split_files({c: p.read_text() for c, p in files.items()})
    label_of = {c: i for i, c in enumerate(class_names)}
    return {
        split: [video_example.VideoItem(key=pathlib.PurePosixPath(name).stem,
                                        path=str(manual_dir / _VIDEO_DIR / c / name),
                                        label=label_of[c])
                for c, name in pairs]
        for split, pairs in entries.items()
    }

  def _expected_layout(self):
    return LAYOUT
