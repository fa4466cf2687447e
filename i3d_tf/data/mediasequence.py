"""MediaPipe MediaSequence: the keys, a parser, and a writer (for tests and users' own data).

Google's Kinetics preprocessing (mediapipe/graphs/media_sequence/tvl1_flow_and_rgb_from_file.pbtxt)
and the TF Model Garden's video readers use these tf.train.SequenceExample keys (from
mediapipe/util/sequence/media_sequence.py). Flow images there: R = x, G = y, B = 0, each channel
uint8((px + 20) / 40 * 255) (truncating), JPEG quality 100, T-1 flow frames for T images.
"""
import cv2
import numpy as np
import tensorflow as tf

from i3d_tf.video import flow as flow_lib

# Context (one value per video).
EXAMPLE_ID_KEY = "example/id"
EXAMPLE_DATASET_NAME_KEY = "example/dataset_name"
CLIP_DATA_PATH_KEY = "clip/data_path"
CLIP_MEDIA_ID_KEY = "clip/media_id"
CLIP_START_TIMESTAMP_KEY = "clip/start/timestamp"  # int64 microseconds.
CLIP_END_TIMESTAMP_KEY = "clip/end/timestamp"  # int64 microseconds.
CLIP_LABEL_INDEX_KEY = "clip/label/index"  # int64 list.
CLIP_LABEL_STRING_KEY = "clip/label/string"  # bytes list.
CLIP_LABEL_CONFIDENCE_KEY = "clip/label/confidence"  # float list.
IMAGE_FORMAT_KEY = "image/format"
IMAGE_CHANNELS_KEY = "image/channels"
IMAGE_COLORSPACE_KEY = "image/colorspace"
IMAGE_HEIGHT_KEY = "image/height"
IMAGE_WIDTH_KEY = "image/width"
IMAGE_FRAME_RATE_KEY = "image/frame_rate"  # float.
# Feature lists (one value per frame).
IMAGE_ENCODED_KEY = "image/encoded"
IMAGE_TIMESTAMP_KEY = "image/timestamp"  # int64 microseconds.
# Any image key can be prefixed; forward optical flow is stored as images under this prefix.
FORWARD_FLOW_PREFIX = "FORWARD_FLOW"


def prefixed(prefix, key):
  """'FORWARD_FLOW', 'image/encoded' -> 'FORWARD_FLOW/image/encoded' (as MediaSequence does)."""
  return f"{prefix}/{key}" if prefix else key


FORWARD_FLOW_ENCODED_KEY = prefixed(FORWARD_FLOW_PREFIX, IMAGE_ENCODED_KEY)
FORWARD_FLOW_TIMESTAMP_KEY = prefixed(FORWARD_FLOW_PREFIX, IMAGE_TIMESTAMP_KEY)
FORWARD_FLOW_FORMAT_KEY = prefixed(FORWARD_FLOW_PREFIX, IMAGE_FORMAT_KEY)
FORWARD_FLOW_HEIGHT_KEY = prefixed(FORWARD_FLOW_PREFIX, IMAGE_HEIGHT_KEY)
FORWARD_FLOW_WIDTH_KEY = prefixed(FORWARD_FLOW_PREFIX, IMAGE_WIDTH_KEY)
FORWARD_FLOW_FRAME_RATE_KEY = prefixed(FORWARD_FLOW_PREFIX, IMAGE_FRAME_RATE_KEY)

_CONTEXT_FEATURES = {
    EXAMPLE_ID_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    CLIP_DATA_PATH_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    CLIP_START_TIMESTAMP_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    CLIP_END_TIMESTAMP_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    CLIP_LABEL_INDEX_KEY: tf.io.VarLenFeature(tf.int64),
    IMAGE_FRAME_RATE_KEY: tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
}
_SEQUENCE_FEATURES = {
    IMAGE_ENCODED_KEY: tf.io.FixedLenSequenceFeature([], tf.string),
    FORWARD_FLOW_ENCODED_KEY: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
}


def parse(serialized):
  """Serialized SequenceExample -> {'rgb': string [T], 'flow': string [T'] (T' = T-1 from
  MediaPipe, 0 when absent), 'label': int64 (first clip label, -1 if none), 'video_id', 'start_s',
  'end_s' (-1 when absent), 'fps'}. records.parse_mediasequence_example completes it.
  """
  context, sequence = tf.io.parse_single_sequence_example(
      serialized, context_features=_CONTEXT_FEATURES, sequence_features=_SEQUENCE_FEATURES)
  labels = tf.sparse.to_dense(context[CLIP_LABEL_INDEX_KEY])
  label = tf.cond(tf.size(labels) > 0, lambda: labels[0], lambda: tf.constant(-1, tf.int64))
  video_id = tf.where(tf.strings.length(context[EXAMPLE_ID_KEY]) > 0,
                      context[EXAMPLE_ID_KEY], context[CLIP_DATA_PATH_KEY])
  return {
      "rgb": sequence[IMAGE_ENCODED_KEY],
      "flow": sequence[FORWARD_FLOW_ENCODED_KEY],
      "label": label,
      "video_id": video_id,
      "start_s": tf.cast(context[CLIP_START_TIMESTAMP_KEY], tf.float32) / 1e6,
      "end_s": tf.where(context[CLIP_END_TIMESTAMP_KEY] < 0, -1.0,
                        tf.cast(context[CLIP_END_TIMESTAMP_KEY], tf.float32) / 1e6),
      "fps": context[IMAGE_FRAME_RATE_KEY],
  }


# ------------------------------------------------------------------------------ writing


def _bytes(values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def _encode(image_rgb, image_format, jpeg_quality):
  """uint8 [H, W, 3] RGB -> encoded bytes (OpenCV writes BGR, hence the flip)."""
  bgr = np.ascontiguousarray(image_rgb[..., ::-1])
  if image_format == "JPEG":
    ok, buffer = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)])
  elif image_format == "PNG":
    ok, buffer = cv2.imencode(".png", bgr)
  else:
    raise ValueError(f"image_format {image_format!r}: expected 'JPEG' or 'PNG'")
  if not ok:
    raise RuntimeError(f"cv2.imencode failed on a frame of shape {image_rgb.shape}")
  return buffer.tobytes()


def mediapipe_flow_image(flow_pixels):
  """float32 [H, W, 2] px -> uint8 [H, W, 3] exactly as MediaPipe's FlowToImageCalculator makes
  it with min -20, max 20: truncation, R = x, G = y, B = 0."""
  ratio = np.clip((np.asarray(flow_pixels, np.float32) + flow_lib.FLOW_BOUND) /
                  (2 * flow_lib.FLOW_BOUND), 0.0, 1.0)
  levels = (ratio * 255).astype(np.uint8)
  return np.concatenate([levels, np.zeros_like(levels[..., :1])], axis=-1)


def make_sequence_example(frames, flow=None, label=None, label_string=None, video_id="",
                          start_s=0.0, end_s=None, fps=25.0, image_format="JPEG",
                          flow_format="JPEG", jpeg_quality=100, mediapipe_flow=True):
  """A MediaSequence tf.train.SequenceExample from uint8 RGB frames [T, H, W, 3].

  flow: float32 pixels [T, H, W, 2] or [T-1, H, W, 2] (None: no flow stored). mediapipe_flow:
  store it as Google's graph does (truncating quantization, T-1 frames, the last dropped);
  False: our rounding quantization (flow.to_image) and all of its frames.
  """
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
  num_frames, height, width = frames.shape[:3]
  end_s = start_s + num_frames / fps if end_s is None else end_s
  context = {
      EXAMPLE_ID_KEY: _bytes([video_id.encode()]),
      CLIP_START_TIMESTAMP_KEY: _ints([round(start_s * 1e6)]),
      CLIP_END_TIMESTAMP_KEY: _ints([round(end_s * 1e6)]),
      IMAGE_FORMAT_KEY: _bytes([image_format.encode()]),
      IMAGE_CHANNELS_KEY: _ints([3]),
      IMAGE_COLORSPACE_KEY: _bytes([b"RGB"]),
      IMAGE_HEIGHT_KEY: _ints([height]),
      IMAGE_WIDTH_KEY: _ints([width]),
      IMAGE_FRAME_RATE_KEY: _floats([fps]),
  }
  if label is not None:
    context[CLIP_LABEL_INDEX_KEY] = _ints([label])
  if label_string is not None:
    context[CLIP_LABEL_STRING_KEY] = _bytes([label_string.encode()])
  timestamps = [round((start_s + t / fps) * 1e6) for t in range(num_frames)]
  feature_lists = {
      IMAGE_ENCODED_KEY: tf.train.FeatureList(
          feature=[_bytes([_encode(f, image_format, jpeg_quality)]) for f in frames]),
      IMAGE_TIMESTAMP_KEY: tf.train.FeatureList(feature=[_ints([ts]) for ts in timestamps]),
  }
  if flow is not None:
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 4 or flow.shape[-1] != 2 or flow.shape[1:3] != (height, width):
      raise ValueError(f"flow must be float32 [T, {height}, {width}, 2], got {flow.shape}")
    if mediapipe_flow:
      flow = flow[:num_frames - 1]
      images = [mediapipe_flow_image(f) for f in flow]
    else:
      images = list(flow_lib.to_image(flow))
    context[FORWARD_FLOW_FORMAT_KEY] = _bytes([flow_format.encode()])
    context[FORWARD_FLOW_HEIGHT_KEY] = _ints([height])
    context[FORWARD_FLOW_WIDTH_KEY] = _ints([width])
    context[FORWARD_FLOW_FRAME_RATE_KEY] = _floats([fps])
    feature_lists[FORWARD_FLOW_ENCODED_KEY] = tf.train.FeatureList(
        feature=[_bytes([_encode(image, flow_format, jpeg_quality)]) for image in images])
    feature_lists[FORWARD_FLOW_TIMESTAMP_KEY] = tf.train.FeatureList(
        feature=[_ints([ts]) for ts in timestamps[:len(images)]])
  return tf.train.SequenceExample(
      context=tf.train.Features(feature=context),
      feature_lists=tf.train.FeatureLists(feature_list=feature_lists))
