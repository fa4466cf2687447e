"""The one RGB window decoder: encoded frames -> the crop window only, as the input pipeline reads
shards and as --as_stored reads a video's frames through a build's storage (stored.py)."""
import tensorflow as tf


def decode_rgb_window(encoded, y, x, size):
  """string [N] RGB frames -> uint8 [N, size, size, 3] of the window at (y, x).

  JPEG frames decode only the window (tf.io.decode_and_crop_jpeg skips the rest of the image);
  other formats (PNG) decode whole, then crop. The format is told per frame, inside the loop: a
  tf.cond around the whole loop made the clip's decoding much slower (BENCHMARKS.md, 'Input
  pipeline and training').
  """
  window = tf.stack([y, x, size, size])

  def one(frame):
    return tf.cond(
        tf.io.is_jpeg(frame),
        lambda: tf.io.decode_and_crop_jpeg(frame, window, channels=3),
        lambda: tf.io.decode_image(frame, channels=3, expand_animations=False)[
            y:y + size, x:x + size])

  return tf.map_fn(one, encoded, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
