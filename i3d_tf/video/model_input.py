"""The one path from a video file to a model's input: decode, resize, flow, crop, scale, loop.

Used by classify, extract_features and preprocess_video, so they feed a model what the datasets
store: frames at 25 fps with the shorter side 256 (bilinear, decode.py); flow (only for a model
with a flow stream) from flow.compute_flow on the resized frames, truncated to [-20, 20] px, / 20;
RGB / 127.5 - 1; then the crop. Flow frame t goes from frame t to frame t+1, also for the last
frame of a span when the video goes on past it (one more frame is decoded for it); only where the
video itself ends does the last flow frame repeat the one before (compute_flow's convention).
Clips shorter than the model takes (9 frames for I3D's VALID pool) or than a window are looped.
"""
import collections
import dataclasses
import math
from typing import Tuple

import numpy as np

from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib

STREAM_CHANNELS = {"rgb": 3, "flow": 2}
PAD_MODES = ("loop", "last")


@dataclasses.dataclass(frozen=True)
class VideoInputSpec:
  """What a model takes from a video: its streams, crop, minimum length, and how to decode."""
  streams: Tuple[str, ...] = ("rgb",)      # in the model's order; 'rgb' and/or 'flow'
  crop_size: int = 224
  min_frames: int = 1
  flow_method: str = flow_lib.DEFAULT_METHOD
  fps: float = decode.DEFAULT_FPS
  shorter_side: int = decode.DEFAULT_SHORTER_SIDE

  def __post_init__(self):
    unknown = [s for s in self.streams if s not in STREAM_CHANNELS]
    if unknown or not self.streams:
      raise ValueError(f"streams {self.streams}: expected 'rgb' and/or 'flow'")
    if "flow" in self.streams and self.flow_method == "none":
      raise ValueError("flow method 'none' gives all-zero flow: a model with a flow stream needs "
                       f"one of {[m for m in flow_lib.METHODS if m != 'none']}")
    if self.flow_method not in flow_lib.METHODS:
      raise ValueError(f"flow method {self.flow_method!r} is not one of {flow_lib.METHODS}")

  @property
  def needs_flow(self):
    return "flow" in self.streams


def crop_offsets(height, width, size, num_crops=1):
  """[(top, left)] of `num_crops` size x size crops: 1 the centre; 3 the start, centre and end of
  the longer side (centred on the shorter), as Model Garden's three test crops."""
  if height < size or width < size:
    raise ValueError(f"frames of {height}x{width} are smaller than the {size}x{size} crop; "
                     f"raise the shorter side or lower the crop size")
  top, left = (height - size) // 2, (width - size) // 2
  if num_crops == 1:
    return [(top, left)]
  if num_crops != 3:
    raise ValueError(f"num_crops={num_crops}: expected 1 or 3")
  if width >= height:
    return [(top, 0), (top, left), (top, width - size)]
  return [(0, left), (top, left), (height - size, left)]


def loop_to(array, length, pad="loop"):
  """[T, ...] -> [max(T, length), ...]: 'loop' repeats the clip from its start, 'last' its last
  frame."""
  if len(array) >= length:
    return array
  if pad == "loop":
    return np.concatenate([array] * math.ceil(length / len(array)))[:length]
  if pad == "last":
    return np.concatenate([array, np.repeat(array[-1:], length - len(array), axis=0)])
  raise ValueError(f"pad {pad!r} is not one of {PAD_MODES}")


def frames_to_inputs(frames, spec, next_frame=None, num_crops=1, length=None, pad="loop",
                     flow=None):
  """uint8 frames [T, H, W, 3] (resized) -> one {stream: float32 [T', crop, crop, C]} per crop.

  `next_frame` [H, W, 3] is the frame after the span (None where the video ends there): the last
  flow frame goes to it. T' = max(T, spec.min_frames, length): shorter spans are padded by `pad`.
  `flow` [T, H, W, 2] in pixels, when the caller has it already (else computed here).
  """
  frames = np.asarray(frames)
  count = len(frames)
  streams = {}
  if "rgb" in spec.streams:
    streams["rgb"] = frames
  if spec.needs_flow and flow is not None:
    streams["flow"] = flow
  elif spec.needs_flow:
    with_next = frames if next_frame is None else np.concatenate([frames, next_frame[None]])
    streams["flow"] = flow_lib.compute_flow(with_next, spec.flow_method)[:count]  # [T, H, W, 2]
  target = max(count, spec.min_frames, length or 0)
  crops = []
  for top, left in crop_offsets(frames.shape[1], frames.shape[2], spec.crop_size, num_crops):
    one = {}
    for name in spec.streams:
      value = streams[name][:, top:top + spec.crop_size, left:left + spec.crop_size]
      if name == "rgb":
        value = value.astype(np.float32) / 127.5 - 1.0
      else:
        value = np.clip(value, -flow_lib.FLOW_BOUND, flow_lib.FLOW_BOUND) / flow_lib.FLOW_BOUND
      one[name] = loop_to(value.astype(np.float32), target, pad)
    crops.append(one)
  return crops


def read_frames(path, spec, max_frames=None, start_s=None, end_s=None):
  """(uint8 frames [T, H, W, 3] with T <= max_frames, the frame after them or None).

  Decodes one frame beyond the span only for a model with a flow stream (its last flow frame).
  """
  extra = 1 if spec.needs_flow else 0
  frames = []
  for frame in decode.iter_frames(path, spec.fps, start_s, end_s, spec.shorter_side):
    frames.append(frame)
    if max_frames is not None and len(frames) >= max_frames + extra:
      break
  next_frame = None
  if max_frames is not None and len(frames) > max_frames:
    next_frame = frames.pop()
  return np.stack(frames), next_frame


def read_inputs(path, spec, max_frames=None, num_crops=1, start_s=None, end_s=None):
  """A video file -> one {stream: float32 [T, crop, crop, C]} per crop (the first max_frames)."""
  frames, next_frame = read_frames(path, spec, max_frames, start_s, end_s)
  return frames_to_inputs(frames, spec, next_frame, num_crops)


def num_windows(num_frames, window, stride):
  """Windows of `window` frames every `stride` frames that cover a video of `num_frames`:
  ceil((num_frames - window) / stride) + 1 (one, padded, when the video is shorter than a
  window). With stride > window the frames between windows are left out, and a window would
  start past the end is not made."""
  if num_frames <= window:
    return 1
  count = math.ceil((num_frames - window) / stride) + 1
  return min(count, math.ceil(num_frames / stride))


@dataclasses.dataclass
class Window:
  """One window of a video: its frames [start, end) (end - start < window where padded)."""
  index: int
  start: int
  end: int
  inputs: dict                            # {stream: float32 [window, crop, crop, C]}, one crop
  fps: float

  @property
  def start_s(self):
    return self.start / self.fps

  @property
  def end_s(self):
    return self.end / self.fps


class WindowReader:
  """Streams a video as windows of `window` frames every `stride` frames, holding at most
  window + 1 decoded frames at a time (so hours of video take the memory of one window).

  `peak_frames_held` is the most decoded frames held at once (for tests and logs).
  """

  def __init__(self, spec, window, stride, pad="loop", start_s=None, end_s=None):
    if window < 1 or stride < 1:
      raise ValueError(f"window={window}, stride={stride}: both must be >= 1 frame")
    if pad not in PAD_MODES:
      raise ValueError(f"pad {pad!r} is not one of {PAD_MODES}")
    self.spec = spec
    self.window = window
    self.stride = stride
    self.pad = pad
    self.start_s = start_s
    self.end_s = end_s
    self.peak_frames_held = 0
    self.num_frames = None  # known once the video has been read to its end
    self._pair_flow = {}    # frame index j -> flow [H, W, 2] of the pair (j, j+1), this window's

  def _make(self, index, start, frames, next_frame):
    frames = np.stack(frames)
    flow = self._window_flow(start, frames, next_frame) if self.spec.needs_flow else None
    inputs = frames_to_inputs(frames, self.spec, next_frame, 1, self.window, self.pad, flow)[0]
    return Window(index, start, start + len(frames), inputs, self.spec.fps)

  def _window_flow(self, start, frames, next_frame):
    """Flow [T, H, W, 2] of the window at `start`, as compute_flow gives it for the window and
    its next frame; pairs an overlapping window (--stride < --window) already had are reused,
    so each pair's TV-L1 runs once (a pair's flow does not depend on the other pairs)."""
    count = len(frames)
    pairs = count if next_frame is not None else count - 1  # pairs (j, j+1) the video has
    first_missing = next((k for k in range(pairs) if start + k not in self._pair_flow), pairs)
    if first_missing < pairs:
      span = frames[first_missing:]
      if next_frame is not None:
        span = np.concatenate([span, next_frame[None]])
      computed = flow_lib.compute_flow(span, self.spec.flow_method)  # [len(span), H, W, 2]
      for k in range(first_missing, pairs):
        self._pair_flow[start + k] = computed[k - first_missing]
    for j in [j for j in self._pair_flow if j < start]:
      del self._pair_flow[j]
    flow = [self._pair_flow[start + k] for k in range(pairs)]
    if pairs < count:  # the video's last frame: its flow repeats the one before (compute_flow's)
      flow.append(flow[-1] if flow else np.zeros(frames.shape[1:3] + (2,), np.float32))
    return np.stack(flow)

  def windows(self, path):
    """Yields the video's Windows in order (see num_windows for how many)."""
    buffer = collections.deque()  # (frame index, frame), indices >= next_start
    self._pair_flow = {}
    next_start, index, covered = 0, 0, 0
    count = 0
    for count, frame in enumerate(
        decode.iter_frames(path, self.spec.fps, self.start_s, self.end_s, self.spec.shorter_side),
        start=1):
      i = count - 1
      if i >= next_start:
        buffer.append((i, frame))
      self.peak_frames_held = max(self.peak_frames_held, len(buffer))
      if i == next_start + self.window:  # the window and the frame after it (its last flow)
        frames = [f for j, f in buffer if j < i]
        yield self._make(index, next_start, frames, frame)
        index += 1
        covered = next_start + self.window
        next_start += self.stride
        while buffer and buffer[0][0] < next_start:
          buffer.popleft()
    self.num_frames = count
    # The video has ended: the windows that reach its end (padded by `pad`, flow's last repeated).
    while next_start < count and (index == 0 or covered < count):
      frames = [f for j, f in buffer if next_start <= j < next_start + self.window]
      yield self._make(index, next_start, frames, None)
      index += 1
      covered = next_start + self.window
      next_start += self.stride
