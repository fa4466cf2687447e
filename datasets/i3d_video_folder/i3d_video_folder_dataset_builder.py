"""i3d_video_folder: the user's own videos, one folder per class or a CSV/TSV list, stored as the
other builders store theirs (RGB JPEG frames + flow PNGs, FORMAT.md).

The user names the set by its config: `--dataset=i3d_video_folder/<name>` (any name; `default`
when none) builds into <data_dir>/i3d_video_folder/<name>/<version>/, and the training binaries
read it back as `--dataset=i3d_video_folder/<name>`. Classes come from the folders or the list
(sorted; stored as the label names), so a model trained on it has as many outputs as the set has
classes. Splits are given (split folders, a split column) or drawn: a seeded stratified split.
"""
import dataclasses
import pathlib
import re
from typing import Optional

import tensorflow_datasets as tfds

try:
  from ..common import video_builder, video_example, video_lists
except ImportError:  # `tfds build datasets/<name>` loads this folder alone: see common/standalone.py
  import importlib.util as _util  # pylint: disable=g-import-not-at-top
  _spec = _util.spec_from_file_location(
      "_i3d_tf_datasets_standalone", pathlib.Path(__file__).resolve().parents[1] / "common" /
      "standalone.py")
  _standalone = _util.module_from_spec(_spec)
  _spec.loader.exec_module(_standalone)
  _standalone.make_importable()
  from i3d_tf_datasets.common import video_builder, video_example, video_lists

CONFIG_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

LAYOUT = """\
  <manual_dir>/<class>/**/<video>                  (one folder per class: classes = folder names)
  <manual_dir>/{train,validation,test}/<class>/... (or already split)
  <manual_dir>/<list>.csv or .tsv                  (or a list: rows path,label[,split][,start,end],
                                                    paths relative to the list's folder or absolute;
                                                    optional header row 'path,label,...')
  Videos: any format OpenCV reads (.mp4 .avi .mkv .mov .webm ...), or frame folders (mmaction2's
  rawframes: img_00001.jpg ..., input_fps apart, default 25) wherever a video file goes. Without
  given splits, a seeded stratified split sends test_fraction of each class to 'test' (both sides
  keep every class that has >= 2 videos)."""


@dataclasses.dataclass(eq=False)
class VideoFolderConfig(video_builder.VideoBuilderConfig):
  """A user's set: its name (the config name) and how to read its manual_dir."""
  list_file: Optional[str] = None   # the list to read (default: the one .csv/.tsv at the top)
  test_fraction: float = 0.2        # of each class, when the splits are not given
  split_seed: int = 0
  input_fps: float = 25.0           # the frame rate of frame folders (video files have their own)

  def encode_options(self, flow_method=None):
    """The common options, plus the rate at which frame folders are read."""
    if not self.input_fps or self.input_fps <= 0:
      raise ValueError(f"input_fps={self.input_fps}: a frame folder's frame rate must be positive")
    return dataclasses.replace(super().encode_options(flow_method), input_fps=float(self.input_fps))


def user_config(name, **options):
  """The config of a user's set called `name` (a config name TFDS accepts), with options."""
  if not CONFIG_NAME_RE.match(name or ""):
    raise ValueError(f"i3d_video_folder/{name}: a set's name is letters, digits, '_', '-', '.' "
                     f"(it names the folder the shards go in)")
  return VideoFolderConfig(name=name, description=f"Your videos: set '{name}'", **options)


class Builder(video_builder.VideoDatasetBuilder):
  """Class folders or a video list -> 25 fps RGB JPEG frames + flow, one example per video."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Class folders or CSV/TSV lists; given or stratified splits."}
  BUILDER_CONFIGS = [VideoFolderConfig(name="default", description="Your videos")]
  MANUAL_DOWNLOAD_INSTRUCTIONS = "Put your videos in manual_dir, one of:\n" + LAYOUT

  def _create_builder_config(self, builder_config, version):
    """Any name is a set of the user's: `tfds.builder('i3d_video_folder/mysports')` reads it back,
    and the `default` set takes options (TFDS otherwise refuses a registered name's variant)."""
    if isinstance(builder_config, VideoFolderConfig):
      return builder_config
    if isinstance(builder_config, str):
      name = builder_config.split(":")[0]
      if self.get_builder_config(name) is None:
        return user_config(name)
    return super()._create_builder_config(builder_config, version)

  def _class_names(self):
    return None  # known once manual_dir is listed (_split_items); restored from label.labels.txt

  def _split_items(self, dl_manager):
    config = self.builder_config
    listing = video_lists.list_labelled_videos(dl_manager.manual_dir, config.list_file,
                                      config.test_fraction, config.split_seed)
    label = self.info.features["label"]
    if label.num_classes is None:
      label.names = listing.class_names
    elif list(label.names) != listing.class_names:
      raise ValueError(f"{self.name}/{config.name}: {listing.source} has classes "
                       f"{listing.class_names[:5]}..., the builder was made for "
                       f"{label.names[:5]}...")
    self.info.metadata.update(
        listing.metadata(), manual_dir=str(dl_manager.manual_dir), list_file=config.list_file,
        test_fraction=config.test_fraction if listing.splits_from == "stratified" else None,
        split_seed=config.split_seed if listing.splits_from == "stratified" else None,
        input_fps=config.input_fps)
    label_of = {name: i for i, name in enumerate(listing.class_names)}
    return {split: [video_example.VideoItem(key=v.key, path=v.path, label=label_of[v.label],
                                            start_s=v.start_s, end_s=v.end_s)
                    for v in videos]
            for split, videos in listing.splits.items()}

  def _expected_layout(self):
    return LAYOUT
