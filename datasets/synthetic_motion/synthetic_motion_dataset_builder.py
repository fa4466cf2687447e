"""synthetic_motion: i3d_tf.video.synthetic clips (8 motion classes) with real TV-L1 flow.

No inputs: every clip is generated from (config seed, split, index), so a build is deterministic.
Classes are balanced (clip i has label i mod 8) and no single frame tells them apart (see the
generator's docstring); the flow does. Config `small` is the project's embedded default: it
builds in a few minutes on 2 cores; `mini` holds its first clips, for checks of slower flow methods.
"""
import dataclasses
import functools
import pathlib

import numpy as np
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

from i3d_tf.video import synthetic

_SPLIT_CODES = {"train": 1, "test": 2}


def video_seed(base_seed, split, index):
  """The generator seed of clip `index` of `split`: distinct across splits, stable across runs."""
  return int(np.random.SeedSequence([base_seed, _SPLIT_CODES[split], index]).generate_state(1)[0])


@dataclasses.dataclass(eq=False)
class SyntheticConfig(video_builder.VideoBuilderConfig):
  num_train: int = 320
  num_test: int = 96
  num_frames: int = 16
  height: int = 64
  width: int = 64
  seed: int = 0

  def __post_init__(self):
    self.shorter_side = min(self.height, self.width)


class Builder(video_builder.VideoDatasetBuilder):
  """Generated motion clips -> 25 fps RGB JPEG frames + TV-L1 flow, one example per clip."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
      "1.0.0": "8 motion classes, TV-L1 flow.",
      "1.1.0": "Noise textures (gradients everywhere), a larger, faster object (2.5-4 px per frame) "
               "over a fainter background: "
               "RGB models learn the motion too, not only flow models.",
  }
  BUILDER_CONFIGS = [
      SyntheticConfig(
          name="small", flow_method="tvl1_fast", num_train=320, num_test=96, num_frames=16,
          height=64, width=64,
          description="Embedded default: 320 train / 96 test clips of 16 frames at 64x64, "
                      "fast TV-L1 (builds in minutes on 2 cores)"),
      SyntheticConfig(
          name="mini", flow_method="tvl1_fast", num_train=160, num_test=48, num_frames=16,
          height=64, width=64,
          description="The first 160 train / 48 test clips of `small` (the same clips): half its "
                      "build, for checks of a slower flow method (tests/test_tvl1_training.py "
                      "builds it with --flow_method=tvl1_tf)"),
      SyntheticConfig(
          name="standard", flow_method="tvl1", num_train=4000, num_test=800, num_frames=32,
          height=112, width=112,
          description="4000 train / 800 test clips of 32 frames at 112x112, TV-L1 with OpenCV's "
                      "defaults (hours on 2 cores)"),
  ]

  def _class_names(self):
    return list(synthetic.CLASS_NAMES)

  def _split_items(self, dl_manager):
    del dl_manager  # Nothing to read.
    config = self.builder_config
    num_classes = len(synthetic.CLASS_NAMES)
    items = {}
    for split, count in (("train", config.num_train), ("test", config.num_test)):
      items[split] = [
          video_example.VideoItem(
              key=f"{split}_{i:06d}", path=None, label=i % num_classes,
              generator_args=dict(label=i % num_classes, seed=video_seed(config.seed, split, i),
                                  num_frames=config.num_frames, height=config.height,
                                  width=config.width))
          for i in range(count)
      ]
    return items

  def _process_fn(self):
    return functools.partial(video_example.process_generated,
                             options=self.builder_config.encode_options(self.flow_method),
                             make_frames=synthetic.make_video)
