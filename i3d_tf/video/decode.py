"""Video decoding as the release describes: 25 fps by timestamp, shorter side 256 (bilinear).

A video is a file, or a frame folder (mmaction2's rawframes layout: img_00001.jpg, img_00002.jpg
..., listing.FRAME_NAME) whose frames are `input_fps` apart (default 25), sampled the same way.

OpenCV (FFmpeg backend) reads mp4, avi, mkv and webm. The frame count is what actually decodes:
container headers lie (flipping_a_pancake.mkv claims 311 frames, 310 decode), so nothing here
trusts CAP_PROP_FRAME_COUNT except to recognise a truncated file.
"""
import math
import os

import cv2
import numpy as np

from i3d_tf.video import listing

DEFAULT_FPS = 25.0
DEFAULT_SHORTER_SIDE = 256
# A stream that ends this many frames (and this fraction) short of its header's count is
# truncated, not merely a lying header (off-by-one counts are common in mkv/webm).
_TRUNCATION_MIN_MISSING = 3
_TRUNCATION_MIN_FRACTION = 0.05
# Timestamps are i / native_fps; this guards the floor() below against float error.
_EPS = 1e-6


class VideoDecodeError(Exception):
  """A video that cannot be decoded: unreadable, truncated, or no frame in the requested span."""

  def __init__(self, path, reason):
    self.path = str(path)
    self.reason = reason
    super().__init__(f"{self.path}: {reason}")

  def __reduce__(self):  # Picklable, so that build worker processes can send it back.
    return (type(self), (self.path, self.reason))


def resized_shape(height, width, shorter_side):
  """(new_height, new_width) with the shorter side equal to `shorter_side`, aspect kept."""
  if shorter_side is None:
    return height, width
  if height <= width:
    return shorter_side, max(1, int(round(width * shorter_side / height)))
  return max(1, int(round(height * shorter_side / width))), shorter_side


def resize_frame(frame, shorter_side):
  """Bilinear resize of one [H, W, C] frame so its shorter side is `shorter_side`."""
  height, width = frame.shape[:2]
  new_h, new_w = resized_shape(height, width, shorter_side)
  if (new_h, new_w) == (height, width):
    return frame
  return cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def video_properties(path):
  """Header facts {fps, frame_count, width, height} (the count may lie); raises if unreadable."""
  capture = _open(path)
  try:
    return {
        "fps": capture.get(cv2.CAP_PROP_FPS),
        "frame_count": int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
        "width": int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        "height": int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    }
  finally:
    capture.release()


def _open(path):
  path = str(path)
  if os.path.isdir(path):
    raise VideoDecodeError(path, "is a folder, not a video file nor a frame folder "
                           "(img_00001.jpg ...); a binary's --videos takes files, frame folders, "
                           "a folder of them or a glob")
  if not os.path.isfile(path):
    raise VideoDecodeError(path, "no such file")
  capture = cv2.VideoCapture(path)
  if not capture.isOpened():
    capture.release()
    raise VideoDecodeError(path, "OpenCV cannot open it (not a video, or an unsupported codec)")
  return capture


def read_video(path, fps=DEFAULT_FPS, start_s=None, end_s=None, shorter_side=DEFAULT_SHORTER_SIDE,
               input_fps=DEFAULT_FPS):
  """Decodes `path` to uint8 RGB [T, H, W, 3] at `fps`, within [start_s, end_s) seconds.

  All of iter_frames' frames stacked (see there); for videos of any length, stream with
  iter_frames instead.
  """
  return np.stack(list(iter_frames(path, fps, start_s, end_s, shorter_side, input_fps)))


def iter_frames(path, fps=DEFAULT_FPS, start_s=None, end_s=None, shorter_side=DEFAULT_SHORTER_SIDE,
                input_fps=DEFAULT_FPS):
  """Yields `path`'s frames one at a time: uint8 RGB [H, W, 3] at `fps`, within [start_s, end_s).

  Holds one decoded frame at a time, so an hour-long video streams in bounded memory.
  Output frame k has time t_k = start_s + k / fps and shows the source frame on screen at t_k:
  source frame i has timestamp i / native_fps (OpenCV's per-frame POS_MSEC is not usable: avi
  reports the next frame's time, mp4 the current one), so frames are dropped or repeated to
  reach `fps`. `fps=None` keeps every source frame. T is what decodes, never the header's count.
  Raises VideoDecodeError when the file cannot be opened, is truncated (after yielding the frames
  before the cut), or yields no frame. Argument errors raise before anything is yielded.
  A frame folder's frame i has timestamp i / input_fps; one with a gap in its numbering is refused
  before anything is yielded, a frame of another size or unreadable when it is reached.
  """
  if fps is not None and fps <= 0:
    raise ValueError(f"fps must be positive or None, got {fps}")
  start_s = 0.0 if start_s is None else float(start_s)
  if start_s < 0:
    raise ValueError(f"start_s must be >= 0, got {start_s}")
  if end_s is not None and end_s <= start_s:
    raise ValueError(f"end_s ({end_s}) must be greater than start_s ({start_s})")
  if listing.is_frame_folder(path):
    if not input_fps or input_fps <= 0:
      raise ValueError(f"input_fps must be positive, got {input_fps}")
    return _folder_frames(str(path), _frame_paths(str(path)), fps, start_s, end_s, shorter_side,
                          float(input_fps))
  capture = _open(path)
  return _frames(capture, path, fps, start_s, end_s, shorter_side)


def _frame_paths(folder):
  """The frame files of a frame folder in order; VideoDecodeError where the numbering is not
  1, 2, ... without gaps or repeats."""
  files = listing.frame_files(folder)
  for position, (number, name) in enumerate(files, start=1):
    if number != position:
      problem = (f"two files for frame {number}" if number < position else
                 f"frame {position} (img_{position:05d}) is missing")
      raise VideoDecodeError(folder, f"frame folder: {problem}; frames must be numbered 1, 2, "
                             f"... without gaps ({len(files)} frames, the last {name})")
  return [os.path.join(folder, name) for _, name in files]


def _folder_frames(folder, paths, fps, start_s, end_s, shorter_side, input_fps):
  """iter_frames' generator for a frame folder: frame i at i / input_fps, sampled to `fps`."""
  rate = fps or input_fps
  out_index, loaded, current, size = 0, -1, None, None
  while True:
    t_out = start_s + out_index / rate
    if end_s is not None and t_out >= end_s - _EPS:
      break
    wanted = int(math.floor(t_out * input_fps + _EPS))
    if wanted >= len(paths):
      break
    if wanted != loaded:
      bgr = cv2.imread(paths[wanted], cv2.IMREAD_COLOR)
      if bgr is None:
        raise VideoDecodeError(folder, f"frame folder: {os.path.basename(paths[wanted])} cannot "
                               f"be read as an image")
      if size is None:
        size = (bgr.shape[:2], os.path.basename(paths[wanted]))
      elif bgr.shape[:2] != size[0]:
        raise VideoDecodeError(
            folder, f"frame folder of mixed sizes: {os.path.basename(paths[wanted])} is "
            f"{bgr.shape[1]}x{bgr.shape[0]}, {size[1]} {size[0][1]}x{size[0][0]} (width x height)")
      loaded = wanted
      current = resize_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), shorter_side)
    yield current
    out_index += 1
  if not out_index:
    span = f"[{start_s}, {end_s if end_s is not None else 'end'}) s"
    raise VideoDecodeError(folder, f"no frame in {span} (the frame folder holds {len(paths)} "
                           f"frames at {input_fps:g} fps)")


def _frames(capture, path, fps, start_s, end_s, shorter_side):
  """The generator behind iter_frames (a separate function so that argument errors raise early)."""
  try:
    native_fps = capture.get(cv2.CAP_PROP_FPS)
    if not native_fps or not math.isfinite(native_fps) or native_fps <= 0:
      native_fps = DEFAULT_FPS  # Header without a rate: assume the Kinetics rate.
    header_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    source_index = 0  # Index of the next source frame the capture will deliver.
    out_index = 0
    stream_ended = False
    while True:
      if fps is None:
        t_out = start_s + out_index / native_fps
      else:
        t_out = start_s + out_index / fps
      if end_s is not None and t_out >= end_s - _EPS:
        break
      wanted = int(math.floor(t_out * native_fps + _EPS))
      # Skip (grab without decoding to pixels) up to the wanted source frame.
      while source_index < wanted:
        if not capture.grab():
          stream_ended = True
          break
        source_index += 1
      if stream_ended:
        break
      if source_index == wanted:  # Decode the wanted frame.
        ok, bgr = capture.read()
        if not ok or bgr is None:
          stream_ended = True
          break
        source_index += 1
        current = resize_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), shorter_side)
      # else: the wanted frame is the one already decoded (native fps below `fps`): repeat it.
      yield current
      out_index += 1
  finally:
    capture.release()
  if stream_ended:
    missing = header_count - source_index
    if (missing >= _TRUNCATION_MIN_MISSING and
        missing >= _TRUNCATION_MIN_FRACTION * header_count):
      raise VideoDecodeError(
          path, f"truncated: the header claims {header_count} frames but decoding stopped "
          f"after {source_index}")
  if not out_index:
    span = f"[{start_s}, {end_s if end_s is not None else 'end'}) s"
    raise VideoDecodeError(path, f"no frame decodes in {span} (the video holds "
                           f"{source_index} decodable frames at {native_fps:g} fps)")
