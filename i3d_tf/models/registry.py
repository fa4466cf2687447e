"""The one registry of models by `--model` name: a builder and the input spec (paper, Table 1).

Every binary and the input pipeline look models up here. Calling convention for every model:
  inputs: a tensor [B, T, H, W, C] when the spec has one stream, else a dict {stream name: tensor};
  output: logits [B, num_classes] when training=False; in training a model may return per-step
  logits [B, T, num_classes] (the loss then averages over T, e.g. the ConvNet+LSTM).
"""
import dataclasses
import importlib
from typing import Callable, Optional

FPS = 25  # every input spec is in frames of the 25 fps videos the datasets store


@dataclasses.dataclass(frozen=True)
class StreamSpec:
  """What one input stream of a model takes. Frames are taken `frame_stride` apart at 25 fps."""
  name: str                    # 'rgb' or 'flow' (the dataset feature it reads)
  channels: int                # 3 for RGB, 2 for flow
  train_frames: int            # frames per training clip
  test_frames: Optional[int]   # frames at test; None = the whole video (up to max_test_frames)
  frame_stride: int = 1

  @property
  def train_footprint_s(self):
    return self.train_frames * self.frame_stride / FPS


@dataclasses.dataclass(frozen=True)
class InputSpec:
  """The input of a model: one or more streams, spatial crop, and evaluation length."""
  streams: tuple                # of StreamSpec; the RGB stream first where there is one
  crop_size: int = 224          # random crop in training, centre crop at test
  max_test_frames: int = 250    # 10 s at 25 fps, the paper's test footprint

  @property
  def stream_names(self):
    return tuple(s.name for s in self.streams)

  def stream(self, name):
    for s in self.streams:
      if s.name == name:
        return s
    raise KeyError(f"input spec has no stream {name!r}; it has {self.stream_names}")


@dataclasses.dataclass(frozen=True)
class SmallTestSettings:
  """The small configuration of a model that the shared model test builds (models/testing.py).

  Declared in the model's registry entry, so that a new model is tested by registering it.
  """
  frames: dict                  # {stream name: frames} of the test input [B, T, crop, crop, C]
  crop: int = 32
  width: float = 0.125          # --width_multiplier
  classes: int = 5
  options: dict = dataclasses.field(default_factory=dict)  # further builder options


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered model: `build(num_classes, **options)` returns an unbuilt keras.Model."""
  name: str
  builder: str                  # 'module:function', imported lazily
  input_spec: InputSpec
  description: str
  paper_params_millions: Optional[float] = None  # Table 1 of the paper
  # One of the release's I3D networks: it ends in the release's 2x7x7 average pool (VALID there,
  # --final_pool_padding; it bounds the shortest clip) and trains with the release's recipe.
  release_i3d: bool = False
  # The learning-rate schedule of the release's recipe for this model (--lr_schedule's default).
  release_schedule: str = "release_rgb"
  test_settings: Optional[SmallTestSettings] = None  # required by register()

  def build(self, num_classes, **options):
    module_name, fn_name = self.builder.split(":")
    fn = getattr(importlib.import_module(module_name), fn_name)
    return fn(num_classes=num_classes, **options)


_REGISTRY = {}


def register(spec):
  if spec.name in _REGISTRY:
    raise ValueError(f"model {spec.name!r} is registered twice")
  if spec.test_settings is None:
    raise ValueError(f"model {spec.name!r}: its registry entry needs test_settings (the small "
                     f"configuration the shared model test builds, models/testing.py)")
  expected = set(spec.input_spec.stream_names)
  if set(spec.test_settings.frames) != expected:
    raise ValueError(f"model {spec.name!r}: test_settings.frames has streams "
                     f"{sorted(spec.test_settings.frames)}; expected {sorted(expected)}")
  _REGISTRY[spec.name] = spec
  return spec


def names():
  return tuple(_REGISTRY)


def get(name):
  """The ModelSpec registered as `name`; a ValueError listing the valid names otherwise."""
  try:
    return _REGISTRY[name]
  except KeyError:
    raise ValueError(f"unknown model {name!r}; valid --model values: "
                     f"{', '.join(sorted(_REGISTRY))}") from None


def is_release_i3d(name):
  """Whether `name` is one of the release's I3D networks (see ModelSpec.release_i3d)."""
  return get(name).release_i3d


def minimum_clip(name, final_pool_padding="VALID"):
  """(frames, crop) of the smallest clip model `name` takes, or (1, 1) where it has no bound.

  The release's I3D networks end in a VALID 2x7x7 pool that needs a window in its input map:
  9 frames of 193 px (i3d.minimum_clip derives it from the network's strides).
  """
  if not get(name).release_i3d:
    return 1, 1
  from i3d_tf.models import i3d  # pylint: disable=import-outside-toplevel  (TF loads lazily)
  return i3d.minimum_clip(final_pool_padding)


def build_model(name, num_classes, **options):
  return get(name).build(num_classes, **options)


def _i3d_streams(rgb, flow):
  streams = []
  if rgb:
    streams.append(StreamSpec("rgb", 3, train_frames=64, test_frames=None))
  if flow:
    streams.append(StreamSpec("flow", 2, train_frames=64, test_frames=None))
  return tuple(streams)


# The small I3D of the shared model test: a SAME final pool takes a 4x32x32 clip (VALID needs
# minimum_clip's 9 frames of 193 px).
_I3D_SMALL = {"final_pool_padding": "SAME"}

register(ModelSpec(
    "i3d_rgb", "i3d_tf.models.builders:i3d_rgb", InputSpec(_i3d_streams(True, False)),
    "Inflated Inception-v1 on 64 RGB frames (the release's RGB stream)", 12.0, release_i3d=True,
    test_settings=SmallTestSettings({"rgb": 4}, options=_I3D_SMALL)))
register(ModelSpec(
    "i3d_flow", "i3d_tf.models.builders:i3d_flow", InputSpec(_i3d_streams(False, True)),
    "Inflated Inception-v1 on 64 TV-L1 flow frames (the release's Flow stream)", 12.0,
    release_i3d=True, release_schedule="release_flow",
    test_settings=SmallTestSettings({"flow": 4}, options=_I3D_SMALL)))
register(ModelSpec(
    "i3d_two_stream", "i3d_tf.models.builders:i3d_two_stream",
    InputSpec(_i3d_streams(True, True)),
    "Two-stream I3D: the sum of the RGB and Flow streams' logits, as the release combines them",
    25.0, release_i3d=True,
    test_settings=SmallTestSettings({"rgb": 4, "flow": 4}, options=_I3D_SMALL)))


# The paper's baselines (Table 1: frames in training / at test, temporal footprint).
# ConvNet+LSTM: 25 RGB frames 1 in 5 (5 s) in training, 50 (10 s) at test.
register(ModelSpec(
    "lstm", "i3d_tf.models.builders:convnet_lstm",
    InputSpec((StreamSpec("rgb", 3, train_frames=25, test_frames=50, frame_stride=5),)),
    "ConvNet+LSTM: Inception-v1 per frame into a 512-unit batch-normalised LSTM", 9.0,
    test_settings=SmallTestSettings({"rgb": 3}, options={"max_steps": 3})))
# 3D-ConvNet: 16-frame 112x112 clips (0.64 s), 240 frames at test (9.6 s, 15 clips averaged).
register(ModelSpec(
    "c3d", "i3d_tf.models.builders:c3d",
    InputSpec((StreamSpec("rgb", 3, train_frames=16, test_frames=240, frame_stride=1),),
              crop_size=112, max_test_frames=240),
    "3D-ConvNet: C3D-like, 8 3x3x3 convs with batch norm, 2 FC of 4096, from scratch", 79.0,
    # FC-6's input is sized by the clip: clip_frames and crop_size are the test input's.
    test_settings=SmallTestSettings(
        {"rgb": 4}, options={"clip_frames": 4, "crop_size": 32, "fc_units": 64})))
# Two-Stream: 1 RGB frame + 10 flow frames (0.4 s); at test 25 RGB frames 10 apart and
# 250 flow frames (25 stacks of 10) over 10 s.
register(ModelSpec(
    "two_stream", "i3d_tf.models.builders:two_stream",
    InputSpec((StreamSpec("rgb", 3, train_frames=1, test_frames=25, frame_stride=10),
               StreamSpec("flow", 2, train_frames=10, test_frames=250, frame_stride=1))),
    "Two-Stream: Inception-v1 on one RGB frame and on 10 stacked flow frames, averaged", 12.0,
    test_settings=SmallTestSettings({"rgb": 1, "flow": 10})))
# 3D-Fused: 5 RGB frames 10 apart + their 5 flow stacks of 10 (2 s); at test 25 + 250 (10 s).
register(ModelSpec(
    "fused_3d", "i3d_tf.models.builders:fused_3d",
    InputSpec((StreamSpec("rgb", 3, train_frames=5, test_frames=25, frame_stride=10),
               StreamSpec("flow", 2, train_frames=50, test_frames=250, frame_stride=1))),
    "3D-Fused: RGB and flow Inception-v1 maps fused by a 3x3x3 Conv3D, end to end", 39.0,
    test_settings=SmallTestSettings({"rgb": 2, "flow": 20})))
