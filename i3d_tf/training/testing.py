"""Small in-memory videos in the records format, for tests and the input-pipeline benchmark.

`moving_square_examples` makes parsed examples as `i3d_tf.data.records` yields them ({'rgb': JPEG
strings [T], 'flow': PNG strings [T] of the (x, y, 0) flow quantized to uint8, 'label', 'video_id',
'num_frames'}): a bright square moving in one of `num_classes` directions, the class being the
direction. `DECODERS` decode them the way the pipeline expects (RGB and flow in [-1, 1]).
"""
import numpy as np
import tensorflow as tf

from i3d_tf.data import pipeline

FLOW_BOUND = 20.0  # pixels; flow is stored as pixels / 20 in [-1, 1], quantized to uint8


def decode_test_flow(encoded):
  """PNG [N] of uint8 (x, y, 0) -> float32 [N, H, W, 2] in [-1, 1]."""
  frames = tf.map_fn(lambda s: tf.io.decode_png(s, channels=3)[:, :, :2], encoded,
                     fn_output_signature=tf.TensorSpec([None, None, 2], tf.uint8))
  return tf.cast(frames, tf.float32) / 127.5 - 1.0


def decode_test_rgb(encoded):
  frames = tf.map_fn(lambda s: tf.io.decode_jpeg(s, channels=3), encoded,
                     fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
  return pipeline.rgb_to_unit_range(frames)


DECODERS = {"rgb": decode_test_rgb, "flow": decode_test_flow}


def moving_square_video(num_frames, size, direction, speed=2.0, rng=None):
  """(rgb uint8 [T, S, S, 3], flow float32 [T, S, S, 2] in pixels): a square moving at `direction`."""
  rng = rng or np.random.default_rng(0)
  dx, dy = speed * np.cos(direction), speed * np.sin(direction)
  side = max(size // 4, 2)
  x0, y0 = rng.uniform(0, size - side, 2)
  rgb = np.full((num_frames, size, size, 3), 40, np.uint8)
  rgb += rng.integers(0, 20, (1, size, size, 3), dtype=np.uint8)  # static texture
  flow = np.zeros((num_frames, size, size, 2), np.float32)
  for t in range(num_frames):
    x = int((x0 + dx * t) % (size - side))
    y = int((y0 + dy * t) % (size - side))
    rgb[t, y:y + side, x:x + side] = (220, 180, 60)
    flow[t, y:y + side, x:x + side] = (dx, dy)
  return rgb, flow


def encode_example(rgb, flow, label, video_id):
  """Numpy frames -> a parsed example as records.parse_*_example yields it."""
  quantized = np.clip(np.round((flow / FLOW_BOUND + 1.0) * 127.5), 0, 255).astype(np.uint8)
  return {
      "rgb": [tf.io.encode_jpeg(f, quality=90).numpy() for f in rgb],
      "flow": [tf.io.encode_png(np.concatenate([f, np.zeros_like(f[..., :1])], -1)).numpy()
               for f in quantized],
      "label": np.int64(label),
      "video_id": video_id,
      "num_frames": np.int32(len(rgb)),
  }


def moving_square_examples(num_videos, num_frames=12, size=32, num_classes=4, seed=0):
  """A list of encoded examples, classes balanced (video i has class i % num_classes)."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(num_videos):
    label = i % num_classes
    frames = num_frames if np.isscalar(num_frames) else int(rng.integers(*num_frames))
    rgb, flow = moving_square_video(frames, size, 2 * np.pi * label / num_classes, rng=rng)
    out.append(encode_example(rgb, flow, label, f"video_{i:05d}"))
  return out


def examples_dataset(examples):
  """A tf.data.Dataset of parsed examples (ragged frame counts allowed) from encode_example dicts."""
  def gen():
    yield from examples
  signature = {"rgb": tf.TensorSpec([None], tf.string), "flow": tf.TensorSpec([None], tf.string),
               "label": tf.TensorSpec([], tf.int64), "video_id": tf.TensorSpec([], tf.string),
               "num_frames": tf.TensorSpec([], tf.int32)}
  return tf.data.Dataset.from_generator(gen, output_signature=signature)


def write_shards(examples, directory, num_shards=2, prefix="toy"):
  """Writes encode_example dicts as tf.train.Example TFRecord shards; returns their paths."""
  tf.io.gfile.makedirs(directory)
  paths = [f"{directory}/{prefix}.tfrecord-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]
  writers = [tf.io.TFRecordWriter(p) for p in paths]
  for i, ex in enumerate(examples):
    feature = {
        "rgb": tf.train.Feature(bytes_list=tf.train.BytesList(value=ex["rgb"])),
        "flow": tf.train.Feature(bytes_list=tf.train.BytesList(value=ex["flow"])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(ex["label"])])),
        "video_id": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[ex["video_id"].encode()])),
    }
    writers[i % num_shards].write(
        tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
  for w in writers:
    w.close()
  return paths


def parse_toy_example(serialized):
  """Parses write_shards' records into the records contract's dict."""
  parsed = tf.io.parse_single_example(serialized, {
      "rgb": tf.io.VarLenFeature(tf.string), "flow": tf.io.VarLenFeature(tf.string),
      "label": tf.io.FixedLenFeature([], tf.int64),
      "video_id": tf.io.FixedLenFeature([], tf.string)})
  rgb = tf.sparse.to_dense(parsed["rgb"])
  return {"rgb": rgb, "flow": tf.sparse.to_dense(parsed["flow"]), "label": parsed["label"],
          "video_id": parsed["video_id"], "num_frames": tf.shape(rgb)[0]}
