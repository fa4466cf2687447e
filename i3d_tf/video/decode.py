"""Video decoding as the release describes: 25 fps by timestamp, shorter side 256 (bilinear).

A video is a file, or a frame folder (mmaction2's rawframes layout: img_00001.jpg, img_00002.jpg
..., listing.FRAME_NAME) whose frames are `input_fps` apart (default 25), sampled the same way. A
frame folder may hold its flow too (denseflow's flow_x_00001.jpg, flow_y_00001.jpg ...:
iter_frames_and_flow), sampled at the frames' timestamps and resized with them.

OpenCV (FFmpeg backend) reads mp4, avi, mkv and webm. The frame count is what actually decodes:
container headers lie (flipping_a_pancake.mkv claims 311 frames, 310 decode), so nothing here
trusts CAP_PROP_FRAME_COUNT except to recognise a truncated file.
"""
import math
import os

import cv2
import numpy as np

from i3d_tf.video import flow as flow_lib
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


def resize_flow(flow, shorter_side):
  """Bilinear resize of one flow field [H, W, 2] in pixels so its shorter side is
  `shorter_side`, as resize_frame resizes its frame; the displacements are scaled with it.

  A bilinear resize by s maps a point at u to (u + 0.5) s - 0.5 (OpenCV's pixel centres), so a
  displacement d between two points becomes d s: x is scaled by new W / W, y by new H / H.
  """
  height, width = flow.shape[:2]
  new_h, new_w = resized_shape(height, width, shorter_side)
  if (new_h, new_w) == (height, width):
    return flow
  resized = cv2.resize(flow, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
  return resized * np.array([new_w / width, new_h / height], np.float32)


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
  start_s = _checked_span(fps, start_s, end_s)
  if listing.is_frame_folder(path):
    return _folder_frames(str(path), _frame_paths(str(path)), fps, start_s, end_s, shorter_side,
                          _checked_input_fps(input_fps))
  capture = _open(path)
  return _frames(capture, path, fps, start_s, end_s, shorter_side)


def iter_frames_and_flow(path, fps=DEFAULT_FPS, start_s=None, end_s=None,
                         shorter_side=DEFAULT_SHORTER_SIDE, input_fps=DEFAULT_FPS):
  """Yields (frame uint8 RGB [H, W, 3], flow float32 [H, W, 2] px) of a frame folder that holds
  flow frames, at iter_frames' timestamps: the frames iter_frames yields, each with its flow.

  Flow frame i (flow_x_i, flow_y_i: denseflow's 8-bit levels, flow.from_denseflow) goes from
  img_i to img_i+1 at the folder's own rate; output frame k takes the flow of the image it shows
  (so at --fps below input_fps it is the motion over 1 / input_fps, not over 1 / fps). N images
  take N - 1 flow frames (denseflow's count; the last image's flow repeats the one before, as
  flow.compute_flow does) or N. The flow is resized with the frame (resize_flow: values scaled by
  the resize factor). Raises VideoDecodeError, before anything is yielded, where flow_x and
  flow_y counts differ, a numbering has a gap or the count is neither N - 1 nor N; a flow frame
  of another size than the images, or unreadable, when it is reached.
  """
  start_s = _checked_span(fps, start_s, end_s)
  folder = str(path)
  if not listing.is_frame_folder(folder):
    raise VideoDecodeError(folder, "not a frame folder (img_00001.jpg ...): only a frame folder "
                           "holds flow frames (flow_x_00001.jpg ...)")
  paths = _frame_paths(folder)
  return _folder_frames(folder, paths, fps, start_s, end_s, shorter_side,
                        _checked_input_fps(input_fps), _flow_paths(folder, len(paths)))


def _checked_span(fps, start_s, end_s):
  """start_s as a float (0 for None); ValueError for a bad fps or span."""
  if fps is not None and fps <= 0:
    raise ValueError(f"fps must be positive or None, got {fps}")
  start_s = 0.0 if start_s is None else float(start_s)
  if start_s < 0:
    raise ValueError(f"start_s must be >= 0, got {start_s}")
  if end_s is not None and end_s <= start_s:
    raise ValueError(f"end_s ({end_s}) must be greater than start_s ({start_s})")
  return start_s


def _checked_input_fps(input_fps):
  if not input_fps or input_fps <= 0:
    raise ValueError(f"input_fps must be positive, got {input_fps}")
  return float(input_fps)


def _numbered(folder, files, prefix, what):
  """Paths of `files` [(number, name)]; VideoDecodeError naming `what` (e.g. 'frame') where the
  numbering is not 1, 2, ... without gaps or repeats."""
  for position, (number, name) in enumerate(files, start=1):
    if number != position:
      problem = (f"two files for {what} {number}" if number < position else
                 f"{what} {position} ({prefix}{position:05d}) is missing")
      raise VideoDecodeError(folder, f"frame folder: {problem}; {what}s must be numbered 1, 2, "
                             f"... without gaps ({len(files)} {what}s, the last {name})")
  return [os.path.join(folder, name) for _, name in files]


def _frame_paths(folder):
  """The frame files of a frame folder in order; VideoDecodeError where the numbering is not
  1, 2, ... without gaps or repeats."""
  return _numbered(folder, listing.frame_files(folder), "img_", "frame")


def _flow_paths(folder, num_images):
  """[(flow_x path, flow_y path)] of a frame folder of `num_images` images, in order;
  VideoDecodeError where the counts or numberings are wrong (iter_frames_and_flow)."""
  files = listing.flow_files(folder)
  if len(files["x"]) != len(files["y"]):
    raise VideoDecodeError(folder, f"frame folder: {len(files['x'])} flow_x frames but "
                           f"{len(files['y'])} flow_y frames; denseflow writes one of each per "
                           f"pair of consecutive images")
  xs = _numbered(folder, files["x"], "flow_x_", "flow_x frame")
  ys = _numbered(folder, files["y"], "flow_y_", "flow_y frame")
  if len(xs) not in (num_images - 1, num_images) or not xs:
    raise VideoDecodeError(folder, f"frame folder: {len(xs)} flow frames (flow_x_*, flow_y_*) "
                           f"for {num_images} images (img_*): expected {num_images - 1} "
                           f"(denseflow's, one per pair of consecutive images) or {num_images}")
  return list(zip(xs, ys))


def _read_flow(folder, pair, size):
  """float32 [H, W, 2] pixels of one (flow_x, flow_y) pair; `size` is ((height, width), name) of
  the folder's first image, which the flow frames must match."""
  levels = []
  for path in pair:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
      raise VideoDecodeError(folder, f"frame folder: {os.path.basename(path)} cannot be read as "
                             f"an image")
    if image.shape != size[0]:
      raise VideoDecodeError(
          folder, f"frame folder: flow frame {os.path.basename(path)} is {image.shape[1]}x"
          f"{image.shape[0]}, the images ({size[1]}) {size[0][1]}x{size[0][0]} (width x height); "
          f"flow frames must have the images' size")
    levels.append(image)
  return flow_lib.from_denseflow(np.stack(levels, axis=-1))  # [H, W, 2]


def _folder_frames(folder, paths, fps, start_s, end_s, shorter_side, input_fps, flow_paths=None):
  """iter_frames' generator for a frame folder: frame i at i / input_fps, sampled to `fps`;
  (frame, flow) pairs where `flow_paths` are given (iter_frames_and_flow)."""
  rate = fps or input_fps
  out_index, loaded, current, size = 0, -1, None, None
  current_flow = None
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
      if flow_paths is not None:  # the last image's flow repeats the one before (N - 1 flows)
        pair = flow_paths[min(wanted, len(flow_paths) - 1)]
        current_flow = resize_flow(_read_flow(folder, pair, size), shorter_side)
    yield current if flow_paths is None else (current, current_flow)
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
