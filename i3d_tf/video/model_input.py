"""The one path from a video file to a model's input: decode, resize, flow, crop, scale, loop.

Used by classify, extract_features and preprocess_video, so they feed a model what the datasets
store: frames at 25 fps with the shorter side 256 (bilinear, decode.py); flow (only for a model
with a flow stream) from flow.compute_flow on the resized frames, truncated to [-20, 20] px, / 20;
RGB / 127.5 - 1; then the crop. Flow frame t goes from frame t to frame t+1, also for the last
frame of a span when the video goes on past it (one more frame is decoded for it); only where the
video itself ends does the last flow frame repeat the one before (compute_flow's convention).
A frame folder's own flow frames (denseflow's flow_x_00001.jpg ...) replace the computed flow
where `flow_source` says so (iter_decoded, the one place the source is chosen).
Clips shorter than the model takes (9 frames for I3D's VALID pool) or than a window are looped.
With the spec's `jpeg_quality` and `quantize_flow` (extract_features/classify --as_stored; the
first alone preprocess_video --quantize_flow) the frames go through a build's storage first
(i3d_tf/video/stored.py): RGB JPEG-encoded and each crop view read back by the input pipeline's
decoder, flow rounded to its 8-bit levels, so a feature of the raw video equals one of a shard.
"""
import collections
import dataclasses
import math
from typing import Optional, Tuple

import numpy as np

from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import listing
from i3d_tf.video import stored as stored_lib

STREAM_CHANNELS = {"rgb": 3, "flow": 2}
PAD_MODES = ("loop", "last")
ALIGNS = ("start", "centre")  # window k starts at frame k*stride, or is centred on it
# Where a flow stream's flow comes from: 'auto' a frame folder's flow frames where it holds them,
# else computed (spec.flow_method); 'frames' only flow frames (a video without them is refused);
# 'compute' always computed, flow frames or not.
FLOW_SOURCES = ("auto", "frames", "compute")


@dataclasses.dataclass(frozen=True)
class VideoInputSpec:
  """What a model takes from a video: its streams, crop, minimum length, and how to decode."""
  streams: Tuple[str, ...] = ("rgb",)      # in the model's order; 'rgb' and/or 'flow'
  crop_size: int = 224
  min_frames: int = 1
  flow_method: str = flow_lib.DEFAULT_METHOD
  fps: float = decode.DEFAULT_FPS
  shorter_side: int = decode.DEFAULT_SHORTER_SIDE
  input_fps: float = decode.DEFAULT_FPS   # a frame folder's rate (a video file has its own)
  flow_source: str = "auto"               # FLOW_SOURCES
  # As a build stores frames (stored.py): RGB through JPEG at this quality (None: untouched), flow
  # through its 8-bit levels. Off by default: the raw frames, as before.
  jpeg_quality: Optional[int] = None
  quantize_flow: bool = False

  def __post_init__(self):
    if self.flow_source not in FLOW_SOURCES:
      raise ValueError(f"flow source {self.flow_source!r} is not one of {FLOW_SOURCES}")
    unknown = [s for s in self.streams if s not in STREAM_CHANNELS]
    if unknown or not self.streams:
      raise ValueError(f"streams {self.streams}: expected 'rgb' and/or 'flow'")
    if "flow" in self.streams and self.flow_method == "none":
      raise ValueError("flow method 'none' gives all-zero flow: a model with a flow stream needs "
                       f"one of {[m for m in flow_lib.METHODS if m != 'none']}")
    if self.flow_method not in flow_lib.METHODS:
      raise ValueError(f"flow method {self.flow_method!r} is not one of {flow_lib.METHODS}")
    if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
      raise ValueError(f"jpeg_quality={self.jpeg_quality}: expected 1..100 (a build's is "
                       f"{stored_lib.JPEG_QUALITY}), or None for no JPEG round trip")

  @property
  def needs_flow(self):
    return "flow" in self.streams

  @classmethod
  def as_stored_fields(cls, as_stored=True):
    """The fields that make a spec read frames as a build's shards hold them (or not)."""
    return {"jpeg_quality": stored_lib.JPEG_QUALITY if as_stored else None,
            "quantize_flow": bool(as_stored)}


def as_stored(values, name, spec):
  """Stream `name`'s frames [T, H, W, C] (uint8 RGB or flow in pixels) as `spec` reads them: a
  StoredRGB (JPEG per frame, read back per crop by the pipeline's decoder) for RGB with
  spec.jpeg_quality, flow through its 8-bit levels with spec.quantize_flow, else unchanged."""
  if name == "rgb" and spec.jpeg_quality is not None:
    return stored_lib.StoredRGB(values, spec.jpeg_quality)
  if name == "flow" and spec.quantize_flow:
    return stored_lib.stored_flow(values)
  return values


CROP_COUNTS = (1, 3, 5, 10)
FLOW_X_CHANNEL = 0  # compute_flow's [..., 2] is (x, y); a mirror negates x (as training's flip)


class CropError(ValueError):
  """The frames cannot hold the crops asked for (a crop larger than a frame, or a bad count)."""


def crop_offsets(height, width, size, num_crops=1):
  """[(top, left)] of `num_crops` size x size crops: 1 the centre; 3 the start, centre and end of
  the longer side (centred on the shorter), as Model Garden's three test crops; 5 the four
  corners and the centre (the order of torchvision's FiveCrop)."""
  if height < size or width < size:
    raise CropError(f"frames of {height}x{width} are smaller than the {size}x{size} crop; "
                    f"raise the shorter side or lower the crop size")
  top, left = (height - size) // 2, (width - size) // 2
  if num_crops == 1:
    return [(top, left)]
  if num_crops == 3:
    if width >= height:
      return [(top, 0), (top, left), (top, width - size)]
    return [(0, left), (top, left), (height - size, left)]
  if num_crops == 5:
    bottom, right = height - size, width - size
    return [(0, 0), (0, right), (bottom, 0), (bottom, right), (top, left)]
  raise CropError(f"num_crops={num_crops}: expected 1, 3 or 5 (10: crop_views)")


def crop_views(height, width, size, num_crops=1):
  """[(top, left, mirrored)] of the views of `num_crops` in CROP_COUNTS: crop_offsets' crops, and
  for 10 the five of 5 followed by their horizontal mirrors (the '10-crop' of the
  anomaly-detection papers)."""
  if num_crops not in CROP_COUNTS:
    raise CropError(f"num_crops={num_crops}: expected one of {CROP_COUNTS}")
  offsets = crop_offsets(height, width, size, 5 if num_crops == 10 else num_crops)
  views = [(top, left, False) for top, left in offsets]
  if num_crops == 10:
    views += [(top, left, True) for top, left in offsets]
  return views


def view_of(values, name, top, left, size, mirrored=False):
  """One view of stream `name`'s frames [T, H, W, C] (uint8 RGB or flow in pixels, or as_stored's
  StoredRGB) -> the model's float32 [T, size, size, C]: RGB / 127.5 - 1, flow truncated to
  [-20, 20] px / 20; mirrored left-right (flow x negated) where `mirrored`."""
  if isinstance(values, stored_lib.StoredRGB):
    value = values.crop(top, left, size)  # the window as the input pipeline decodes it
  else:
    value = values[:, top:top + size, left:left + size]
  if name == "rgb":
    value = value.astype(np.float32) / 127.5 - 1.0
  else:
    value = np.clip(value, -flow_lib.FLOW_BOUND, flow_lib.FLOW_BOUND) / flow_lib.FLOW_BOUND
  value = value.astype(np.float32)
  if mirrored:
    value = value[:, :, ::-1].copy()
    if name == "flow":
      value[..., FLOW_X_CHANNEL] *= -1.0
  return value


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
  """uint8 frames [T, H, W, 3] (resized) -> one {stream: float32 [T', crop, crop, C]} per view
  (crop_views: `num_crops` of CROP_COUNTS, 10 with mirrors).

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
  streams = {name: as_stored(value, name, spec) for name, value in streams.items()}
  target = max(count, spec.min_frames, length or 0)
  crops = []
  for top, left, mirrored in crop_views(frames.shape[1], frames.shape[2], spec.crop_size,
                                        num_crops):
    crops.append({name: loop_to(view_of(streams[name], name, top, left, spec.crop_size, mirrored),
                                target, pad) for name in spec.streams})
  return crops


def stored_flow(path, spec):
  """Whether `path`'s flow stream is read from its flow frames rather than computed:
  spec.flow_source 'frames', or 'auto' and `path` is a frame folder holding flow frames.
  VideoDecodeError for 'frames' and a video without them (it would lose them silently)."""
  if not spec.needs_flow or spec.flow_source == "compute":
    return False
  is_folder = listing.is_frame_folder(path)
  if is_folder and listing.has_flow_frames(path):
    return True
  if spec.flow_source == "frames":
    raise decode.VideoDecodeError(path, "--flow_source=frames: " + (
        "the frame folder holds no flow frames (flow_x_00001.jpg, flow_y_00001.jpg ...)"
        if is_folder else "a video file has no flow frames; give its frame folder with flow_x_* "
        "/ flow_y_* frames, or --flow_source=auto to compute its flow"))
  return False


def iter_decoded(path, spec, start_s=None, end_s=None):
  """Yields (uint8 frame [H, W, 3], its flow [H, W, 2] in pixels or None) of `path` at spec.fps
  within [start_s, end_s): the one place a flow stream's source is chosen (stored_flow). The flow
  is the frame folder's own (decode.iter_frames_and_flow: sampled and resized with the frames),
  or None where it is to be computed from the frames. Argument and folder errors raise here."""
  if stored_flow(path, spec):
    return decode.iter_frames_and_flow(path, spec.fps, start_s, end_s, spec.shorter_side,
                                       spec.input_fps)
  frames = decode.iter_frames(path, spec.fps, start_s, end_s, spec.shorter_side, spec.input_fps)
  return ((frame, None) for frame in frames)


def read_frames(path, spec, max_frames=None, start_s=None, end_s=None):
  """(uint8 frames [T, H, W, 3] with T <= max_frames, the frame after them or None, their flow
  float32 [T, H, W, 2] px where read from flow frames (iter_decoded) or None: to be computed).

  Decodes one frame beyond the span only for a model with a flow stream (its last flow frame).
  """
  extra = 1 if spec.needs_flow else 0
  frames, flows = [], []
  for frame, flow in iter_decoded(path, spec, start_s, end_s):
    frames.append(frame)
    flows.append(flow)
    if max_frames is not None and len(frames) >= max_frames + extra:
      break
  next_frame = None
  if max_frames is not None and len(frames) > max_frames:
    next_frame = frames.pop()
    flows.pop()
  flow = None if flows[0] is None else np.stack(flows)
  return np.stack(frames), next_frame, flow


def read_inputs(path, spec, max_frames=None, num_crops=1, start_s=None, end_s=None):
  """A video file -> one {stream: float32 [T, crop, crop, C]} per crop (the first max_frames)."""
  frames, next_frame, flow = read_frames(path, spec, max_frames, start_s, end_s)
  return frames_to_inputs(frames, spec, next_frame, num_crops, flow=flow)


def num_windows(num_frames, window, stride, align="start"):
  """Windows of `window` frames every `stride` frames that cover a video of `num_frames`:
  ceil((num_frames - window) / stride) + 1 (one, padded, when the video is shorter than a
  window); with align='centre', ceil(num_frames / stride), one per frame at stride 1. With
  stride > window the frames between windows are left out, and a window would
  start past the end is not made."""
  if align == "centre":  # one per centre frame 0, stride, 2*stride, ... < num_frames
    return math.ceil(num_frames / stride)
  if num_frames <= window:
    return 1
  count = math.ceil((num_frames - window) / stride) + 1
  return min(count, math.ceil(num_frames / stride))


@dataclasses.dataclass
class Window:
  """One window of a video: its frames [start, end) (end - start < window where padded), and
  for centred windows the frame it is centred on."""
  index: int
  start: int
  end: int
  views: list                             # per crop view: {stream: float32 [window, crop, crop, C]}
  fps: float
  centre: Optional[int] = None            # align='centre': the window's frame window // 2

  @property
  def centre_s(self):
    return None if self.centre is None else self.centre / self.fps

  @property
  def inputs(self):
    """The first view's inputs (the centre crop with num_crops=1)."""
    return self.views[0]

  @property
  def start_s(self):
    return self.start / self.fps

  @property
  def end_s(self):
    return self.end / self.fps


class WindowReader:
  """Streams a video as windows of `window` frames every `stride` frames, holding at most
  window + 1 decoded frames at a time (so hours of video take the memory of one window).

  Each frame is preprocessed once (its crop views scaled, its flow pair computed once) however
  many windows hold it, so dense windows (stride 1) cost the model's run per window and little
  more (BENCHMARKS.md, "Dense features"). `num_crops` of CROP_COUNTS gives each window that many
  views (crop_views). `peak_frames_held` is the most decoded frames held at once (for tests and
  logs).

  align='centre': window k is centred on frame c = k * stride (its frame window // 2 is c, so it
  covers c - window // 2 ... c - window // 2 + window - 1), ceil(N / stride) windows, one per
  frame at stride 1 (dense per-frame features). Where that reaches past the video's ends, the
  edge frame's inputs (its RGB and its flow) are repeated: the first frame before the start, the
  last after the end; `pad` is not used.
  """

  def __init__(self, spec, window, stride, pad="loop", start_s=None, end_s=None, num_crops=1,
               align="start"):
    if window < 1 or stride < 1:
      raise ValueError(f"window={window}, stride={stride}: both must be >= 1 frame")
    if pad not in PAD_MODES:
      raise ValueError(f"pad {pad!r} is not one of {PAD_MODES}")
    if num_crops not in CROP_COUNTS:
      raise CropError(f"num_crops={num_crops}: expected one of {CROP_COUNTS}")
    if align not in ALIGNS:
      raise ValueError(f"align {align!r} is not one of {ALIGNS}")
    self.align = align
    self.spec = spec
    self.window = window
    self.stride = stride
    self.pad = pad
    self.num_crops = num_crops
    self.start_s = start_s
    self.end_s = end_s
    self.peak_frames_held = 0
    self.num_frames = None  # known once the video has been read to its end
    self._reset()

  def _reset(self):
    self._views = None      # crop_views of the video's frame size
    self._gray = {}         # frame index j -> uint8 [H, W], for flow
    self._pair_flow = {}    # frame index j -> flow [H, W, 2] of the pair (j, j+1)
    self._processed = {}    # frame index j -> {stream: float32 [views, crop, crop, C]}

  def _make(self, index, start, frames, next_frame, flows, centre=None):
    """Window `index` of `frames` (video frames start, start + 1, ...); `flows` their stored flow
    [H, W, 2] each, or Nones where the flow is computed from the frames' pairs; with `centre`,
    padded by its edge frames to the window centred there (align='centre')."""
    count = len(frames)
    stored = flows[0] is not None
    if self._views is None:
      height, width = frames[0].shape[:2]
      self._views = crop_views(height, width, self.spec.crop_size, self.num_crops)
    if self.spec.needs_flow and not stored:
      self._add_pairs(start, frames, next_frame)
    pairs = count if next_frame is not None else count - 1  # pairs (j, j+1) the video has
    for k in range(count):
      j = start + k
      if j in self._processed:
        continue
      values = {}
      if "rgb" in self.spec.streams:
        values["rgb"] = frames[k][None]
      if self.spec.needs_flow and stored:
        values["flow"] = flows[k][None]
      elif self.spec.needs_flow:
        # The video's last frame: its flow repeats the one before (compute_flow's convention).
        pair = j if k < pairs else j - 1
        flow = (self._pair_flow[pair] if pair >= start else
                np.zeros(frames[0].shape[:2] + (2,), np.float32))
        values["flow"] = flow[None]
      values = {name: as_stored(value, name, self.spec) for name, value in values.items()}
      self._processed[j] = {
          name: np.stack([view_of(values[name], name, top, left, self.spec.crop_size, m)[0]
                          for top, left, m in self._views])
          for name in self.spec.streams}  # [views, crop, crop, C]
    for cache in (self._processed, self._pair_flow, self._gray):
      for j in [j for j in cache if j < start]:
        del cache[j]
    order = list(range(start, start + count))  # the video frames of the window, in order
    if centre is not None:  # the edge frames repeated where the window reaches past the ends
      first = centre - self.window // 2
      order = [min(max(j, start), start + count - 1) for j in range(first, first + self.window)]
    target = max(len(order), self.spec.min_frames, self.window)
    views = []
    for v in range(len(self._views)):
      views.append({name: loop_to(np.stack([self._processed[j][name][v] for j in order]),
                                  target, self.pad)
                    for name in self.spec.streams})
    return Window(index, start, start + count, views, self.spec.fps, centre)

  def _add_pairs(self, start, frames, next_frame):
    """Flow of the window's frame pairs not computed yet: an overlapping window (--stride <
    --window) reuses the pairs the one before had, and each frame is made grey once, so each
    pair's TV-L1 runs once (a pair's flow does not depend on the other pairs)."""
    count = len(frames)
    pairs = count if next_frame is not None else count - 1
    first_missing = next((k for k in range(pairs) if start + k not in self._pair_flow), pairs)
    if first_missing >= pairs:
      return
    span = list(frames[first_missing:]) + ([next_frame] if next_frame is not None else [])
    for k, frame in enumerate(span):
      j = start + first_missing + k
      if j not in self._gray:
        self._gray[j] = flow_lib.to_gray(frame[None])[0]
    gray = np.stack([self._gray[start + first_missing + k] for k in range(len(span))])
    computed = flow_lib.flow_from_gray(gray, self.spec.flow_method)  # [len(span), H, W, 2]
    for k in range(first_missing, pairs):
      self._pair_flow[start + k] = computed[k - first_missing]

  def _decoded(self, path):
    """(frame, stored flow or None) of the video's span (iter_decoded)."""
    return iter_decoded(path, self.spec, self.start_s, self.end_s)

  def windows(self, path):
    """Yields the video's Windows in order (see num_windows for how many)."""
    if self.align == "centre":
      yield from self._centred_windows(path)
      return
    buffer = collections.deque()  # (frame index, frame, stored flow or None), index >= next_start
    self._reset()
    next_start, index, covered = 0, 0, 0
    count = 0
    for count, (frame, flow) in enumerate(self._decoded(path), start=1):
      i = count - 1
      if i >= next_start:
        buffer.append((i, frame, flow))
      self.peak_frames_held = max(self.peak_frames_held, len(buffer))
      if i == next_start + self.window:  # the window and the frame after it (its last flow)
        held = [(f, g) for j, f, g in buffer if j < i]
        yield self._make(index, next_start, [f for f, _ in held], frame, [g for _, g in held])
        index += 1
        covered = next_start + self.window
        next_start += self.stride
        while buffer and buffer[0][0] < next_start:
          buffer.popleft()
    self.num_frames = count
    # The video has ended: the windows that reach its end (padded by `pad`, flow's last repeated).
    while next_start < count and (index == 0 or covered < count):
      held = [(f, g) for j, f, g in buffer if next_start <= j < next_start + self.window]
      yield self._make(index, next_start, [f for f, _ in held], None, [g for _, g in held])
      index += 1
      covered = next_start + self.window
      next_start += self.stride

  def _centred_windows(self, path):
    """align='centre': window k over frames [c - h, c - h + window) of c = k * stride, h =
    window // 2, clipped to the video (its edge frames repeated by _make); at most window + 1
    frames held (the window's and the one after it, its last flow)."""
    # (frame index, frame, stored flow or None), indices >= the next window's first
    buffer = collections.deque()
    self._reset()
    half = self.window // 2
    index, count = 0, 0
    for count, (frame, flow) in enumerate(self._decoded(path), start=1):
      i = count - 1
      if i >= index * self.stride - half:
        buffer.append((i, frame, flow))
      self.peak_frames_held = max(self.peak_frames_held, len(buffer))
      # Window `index` is whole once the frame after its last one (i) has been decoded.
      while i == index * self.stride - half + self.window:
        centre = index * self.stride
        first = max(0, centre - half)
        held = [(f, g) for j, f, g in buffer if first <= j < i]
        yield self._make(index, first, [f for f, _ in held], frame, [g for _, g in held], centre)
        index += 1
        while buffer and buffer[0][0] < index * self.stride - half:
          buffer.popleft()
    self.num_frames = count
    while index * self.stride < count:  # the windows that reach past the video's end
      centre = index * self.stride
      first = max(0, centre - half)
      held = [(f, g) for j, f, g in buffer if j >= first]
      yield self._make(index, first, [f for f, _ in held], None, [g for _, g in held], centre)
      index += 1
      while buffer and buffer[0][0] < index * self.stride - half:
        buffer.popleft()
