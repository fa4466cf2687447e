"""What a build's shards store of a clip's frames, so frames in memory can be read as stored.

A build (datasets/common/video_example.py) keeps RGB as JPEG (OpenCV's encoder, quality
JPEG_QUALITY) and flow as 8-bit levels (flow.quantize) in PNGs; the input pipeline reads JPEG
windows with TensorFlow's decode_and_crop_jpeg (window_decode.py) and flow with flow.dequantize's
arithmetic. model_input's `as stored` setting (extract_features and classify
--as_stored, preprocess_video --quantize_flow) applies the same storage to a video file's frames,
so a feature of a shard equals the one of the raw video. Two measured facts decide the details
(skateboarding.mp4, 256x340, quality 95): OpenCV's and TensorFlow's JPEG decoders differ by up to
16 levels on 73% of values, and decoding a window differs from decoding the whole frame and
cropping by up to 6 levels at the window's edges (0.1% of values), so RGB is decoded here by the
pipeline's own function, one window per crop view.

This module imports no TensorFlow at load time: the build's workers use `encode_jpeg` alone.
"""
import cv2
import numpy as np

from i3d_tf.video import flow as flow_lib

# RGB frames' JPEG quality in the builds (TFDS's own default for tf.image.encode_jpeg); a build
# records its own in metadata.json (EncodeOptions.jpeg_quality).
JPEG_QUALITY = 95

_DECODE_WINDOW = []  # window_decode's decoder as one traced function, built on first use


def encode_jpeg(frame, quality=JPEG_QUALITY):
  """uint8 RGB [H, W, 3] -> JPEG bytes, OpenCV's encoder (what a build's workers write)."""
  params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
  ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame[..., ::-1]), params)  # RGB -> BGR
  if not ok:
    raise RuntimeError(f"cv2.imencode failed on an RGB frame of shape {frame.shape}")
  return buf.tobytes()


def stored_flow(flow):
  """float32 flow [..., 2] in pixels -> the pixels a shard's reader gets back: the 8-bit levels
  of flow.quantize, read by flow.dequantize (within [-20, 20]; 0.157 px steps)."""
  return flow_lib.dequantize(flow_lib.quantize(flow))


class StoredRGB:
  """RGB frames as a build stores them: one JPEG per frame; `crop` reads a window back as the
  input pipeline does (decode_and_crop_jpeg, not a crop of the whole decoded frame)."""

  def __init__(self, frames, quality=JPEG_QUALITY):
    frames = np.asarray(frames)  # uint8 [T, H, W, 3]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
      raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    self.shape = frames.shape
    self.jpegs = [encode_jpeg(f, quality) for f in frames]

  def __len__(self):
    return len(self.jpegs)

  def crop(self, top, left, size):
    """uint8 [T, size, size, 3]: the window at (top, left) of every frame, as the pipeline
    decodes it (window_decode.decode_rgb_window)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if not _DECODE_WINDOW:
      from i3d_tf.video import window_decode  # pylint: disable=g-import-not-at-top
      _DECODE_WINDOW.append(tf.function(window_decode.decode_rgb_window, reduce_retracing=True))
    window = _DECODE_WINDOW[0](tf.constant(self.jpegs), tf.constant(top, tf.int32),
                               tf.constant(left, tf.int32), tf.constant(size, tf.int32))
    return window.numpy()
