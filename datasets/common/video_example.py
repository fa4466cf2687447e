"""One video -> one stored example (i3d_tf/data/FORMAT.md section 2), or a recorded skip.

This module runs in the build's worker processes (and on Beam workers): it imports OpenCV and the
video helper's decoding/flow, never TensorFlow, so a worker starts fast and forks nothing heavy.
`process_video` is also what the data benchmark times (bytes per video, seconds per video-second).
"""
import dataclasses
import time
from typing import Any, Callable, Optional

import cv2
import numpy as np

from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import stored
from i3d_tf.video.flow import METHODS as FLOW_METHODS


@dataclasses.dataclass(frozen=True)
class EncodeOptions:
  """How a clip is decoded and stored; recorded in the dataset's metadata."""
  fps: float = 25.0
  shorter_side: int = 256
  flow_method: str = "tvl1"
  jpeg_quality: int = stored.JPEG_QUALITY  # RGB frames (TFDS's default for tf.image.encode_jpeg)
  png_compression: int = 3    # flow frames, lossless either way
  max_seconds: Optional[float] = None  # keep only the first max_seconds of each clip (smoke builds)
  input_fps: float = decode.DEFAULT_FPS  # a frame folder's rate (img_00001.jpg ...; files: own)

  def __post_init__(self):
    if self.flow_method not in FLOW_METHODS:
      raise ValueError(f"flow_method={self.flow_method!r}: expected one of {FLOW_METHODS}")


@dataclasses.dataclass(frozen=True)
class VideoItem:
  """One video to store. `start_s`/`end_s` trim an untrimmed source; None keeps the whole file."""
  key: str                     # unique example key == video_id
  path: Optional[str]          # None for generated videos (see `generator_args`)
  label: int                   # class index; -1 when the split has no labels (Kinetics test)
  start_s: Optional[float] = None
  end_s: Optional[float] = None
  # The clip's times in the source as annotated (Kinetics), stored as start_s/end_s even when the
  # file on disk is already trimmed to them.
  source_start_s: Optional[float] = None
  source_end_s: Optional[float] = None
  generator_args: Any = None   # for generated datasets: what the generator needs (e.g. a seed)


@dataclasses.dataclass
class ProcessResult:
  """What a worker returns: an example to write, or why the video was skipped."""
  key: str
  path: str
  example: Optional[dict] = None
  skip_reason: Optional[str] = None
  num_frames: int = 0
  seconds: float = 0.0         # wall time spent on this video

  @property
  def skipped(self):
    return self.example is None


def init_worker():
  """Pool initializer: one video per process, so no nested OpenCV thread pools on few cores."""
  cv2.setNumThreads(1)


def encode_rgb_frames(frames, jpeg_quality):
  """uint8 RGB [T, H, W, 3] -> list of T JPEG byte strings (stored.encode_jpeg: the encoder that
  extract_features --as_stored applies to a video file's frames too)."""
  return [stored.encode_jpeg(frame, jpeg_quality) for frame in frames]


def encode_flow_frames(quantized, png_compression):
  """uint8 [T, H, W, 2] quantized flow -> list of T PNGs with R = x, G = y, B = 0 (FORMAT.md)."""
  params = [int(cv2.IMWRITE_PNG_COMPRESSION), int(png_compression)]
  zeros = np.zeros(quantized.shape[1:3], np.uint8)
  out = []
  for q in quantized:
    bgr = np.stack([zeros, q[..., 1], q[..., 0]], axis=-1)  # OpenCV writes B, G, R
    ok, buf = cv2.imencode(".png", bgr, params)
    if not ok:
      raise RuntimeError(f"cv2.imencode failed on a flow frame of shape {q.shape}")
    out.append(buf.tobytes())
  return out


def _checked_frames(frames, item):
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
    raise ValueError(f"{item.key}: expected frames [T>=1, H, W, 3], got {frames.shape}")
  return frames


def frames_to_example(frames, item, options):
  """RGB uint8 [T, H, W, 3] of one clip -> the example dict of FORMAT.md section 2."""
  frames = _checked_frames(frames, item)
  flow = flow_lib.compute_flow(frames, method=options.flow_method)     # [T, H, W, 2] px
  quantized = flow_lib.quantize(flow)                                  # [T, H, W, 2] uint8
  return example_dict(item, options, encode_rgb_frames(frames, options.jpeg_quality),
                      encode_flow_frames(quantized, options.png_compression), len(frames))


def example_dict(item, options, rgb_jpegs, flow_pngs, num_frames):
  """The example dict of FORMAT.md section 2 from a clip's encoded frames."""
  num_frames = int(num_frames)
  start_s = item.source_start_s if item.source_start_s is not None else (item.start_s or 0.0)
  if item.source_end_s is not None:
    end_s = item.source_end_s
  else:
    end_s = start_s + num_frames / options.fps
  return {
      "video_id": item.key,
      "label": int(item.label),
      "rgb": rgb_jpegs,
      "flow": flow_pngs,
      "start_s": np.float32(start_s),
      "end_s": np.float32(end_s),
      "fps": np.float32(options.fps),
      "flow_method": options.flow_method,
      "flow_offset": np.float32(flow_lib.FLOW_OFFSET),
      "flow_scale": np.float32(flow_lib.FLOW_SCALE),
  }


@dataclasses.dataclass
class PreparedVideo:
  """A decoded clip waiting for its flow (local builds with a TensorFlow flow method, see
  datasets/common/device_flow.py): RGB frames JPEG-encoded, grayscale frames for the flow."""
  item: VideoItem
  result: ProcessResult                # key and path; skip_reason when the clip did not decode
  rgb_jpegs: Optional[list] = None     # T JPEG byte strings
  gray: Optional[np.ndarray] = None    # uint8 [T, H, W]


def prepare_frames(frames, item, options, result):
  """RGB uint8 [T, H, W, 3] -> a PreparedVideo: everything of the example but the flow."""
  frames = _checked_frames(frames, item)
  rgb_jpegs = encode_rgb_frames(frames, options.jpeg_quality)
  result.num_frames = int(len(frames))
  return PreparedVideo(item=item, result=result, rgb_jpegs=rgb_jpegs,
                       gray=flow_lib.to_gray(frames))


def finish_example(prepared, flow_pngs, options):
  """A PreparedVideo and its encoded flow -> its ProcessResult with the example."""
  result = prepared.result
  result.example = example_dict(prepared.item, options, prepared.rgb_jpegs, flow_pngs,
                                result.num_frames)
  return result


def _trim_window(item, options):
  start_s, end_s = item.start_s, item.end_s
  if options.max_seconds is not None:
    begin = start_s or 0.0
    cut = begin + options.max_seconds
    end_s = cut if end_s is None else min(end_s, cut)
  return start_s, end_s


def process_video(item, options):
  """Decodes a video file or frame folder, computes flow, encodes the example; a bad video
  becomes a skip."""
  t0 = time.perf_counter()
  result = ProcessResult(key=item.key, path=str(item.path))
  try:
    start_s, end_s = _trim_window(item, options)
    frames = decode.read_video(item.path, fps=options.fps, start_s=start_s, end_s=end_s,
                               shorter_side=options.shorter_side,
                               input_fps=options.input_fps)
    result.example = frames_to_example(frames, item, options)
    result.num_frames = int(len(frames))
  except decode.VideoDecodeError as e:
    result.skip_reason = str(getattr(e, "reason", e)) or type(e).__name__
  except Exception as e:  # pylint: disable=broad-except
    # Anything one bad file can raise (OpenCV errors, odd shapes): record it, never crash.
    result.skip_reason = f"{type(e).__name__}: {e}"
  result.seconds = time.perf_counter() - t0
  return result


def prepare_video(item, options):
  """`process_video` without the flow: decodes and JPEG-encodes; a bad video becomes a skip."""
  t0 = time.perf_counter()
  result = ProcessResult(key=item.key, path=str(item.path))
  prepared = PreparedVideo(item=item, result=result)
  try:
    start_s, end_s = _trim_window(item, options)
    frames = decode.read_video(item.path, fps=options.fps, start_s=start_s, end_s=end_s,
                               shorter_side=options.shorter_side,
                               input_fps=options.input_fps)
    prepared = prepare_frames(frames, item, options, result)
  except decode.VideoDecodeError as e:
    result.skip_reason = str(getattr(e, "reason", e)) or type(e).__name__
  except Exception as e:  # pylint: disable=broad-except
    result.skip_reason = f"{type(e).__name__}: {e}"  # as process_video records it
  result.seconds = time.perf_counter() - t0
  return prepared


def prepare_generated(item, options, make_frames: Callable[..., np.ndarray]):
  """`process_generated` without the flow."""
  t0 = time.perf_counter()
  result = ProcessResult(key=item.key, path=f"<generated {item.key}>")
  prepared = prepare_frames(make_frames(**item.generator_args), item, options, result)
  result.seconds = time.perf_counter() - t0
  return prepared


# What a build's workers run instead of each per-video function when the flow is computed apart.
PREPARE_FNS = {"process_video": prepare_video, "process_generated": prepare_generated}


def process_generated(item, options, make_frames: Callable[..., np.ndarray]):
  """Same as `process_video` for a generated clip: `make_frames(**item.generator_args)`."""
  t0 = time.perf_counter()
  result = ProcessResult(key=item.key, path=f"<generated {item.key}>")
  frames = make_frames(**item.generator_args)
  result.example = frames_to_example(frames, item, options)
  result.num_frames = int(len(frames))
  result.seconds = time.perf_counter() - t0
  return result
