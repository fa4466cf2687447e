"""Input-pipeline and training throughput: the training pipeline's frames/s against bare JPEG decoding
of the same shards, and I3D training clips/s.

  python -m benchmarks.input_pipeline                       # generated Kinetics-sized shards
  python -m benchmarks.input_pipeline --data_dir=data/tfds --dataset=i3d_kinetics/400

Bare decoding: read the shards, parse, tf.io.decode_jpeg every RGB frame (parallel map, AUTOTUNE):
the ceiling for any pipeline that decodes JPEG. The training pipeline: read, parse, shuffle, pick a
clip's frames, decode only those (of JPEG only the crop window), flip, batch
(i3d_tf.data.pipeline.train_dataset; uint8 RGB: the [-1, 1] scaling runs in the training step).
Both in frames decoded per second, per core (divided by the cores tf.data may use) and per
CPU-second of the process (steadier on a shared machine). The ratio is the pipeline's efficiency
(aim: >= 70%). Training clips/s: i3d steps on that pipeline's batches (CPU here, any device TF
finds). Note `uptime`'s load next to the figures: the machine may be shared.
"""
import atexit
import os
import shutil
import tempfile
import time

from absl import flags
import keras
import numpy as np
import tensorflow as tf

from i3d_tf import entry
from i3d_tf.data import pipeline
from i3d_tf.data import records
from i3d_tf.models import registry
from i3d_tf.training import testing

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data_dir; default: generate shards in a temp folder.")
flags.DEFINE_string("dataset", None, "TFDS name (with config) in --data_dir.")
flags.DEFINE_string("split", "train", "Split to read.")
flags.DEFINE_integer("videos", 24, "Generated videos (when no --data_dir).")
flags.DEFINE_integer("frames", 100, "Frames per generated video (4 s at 25 fps).")
flags.DEFINE_integer("height", 256, "Generated frame height (the release's shorter side).")
flags.DEFINE_integer("width", 340, "Generated frame width.")
flags.DEFINE_integer("clip_frames", 64, "Frames per training clip.")
flags.DEFINE_integer("crop_size", 224, "Training crop.")
flags.DEFINE_integer("batch_size", 4, "Training batch for the pipeline and the I3D steps.")
flags.DEFINE_float("seconds", 20.0, "How long each pipeline measurement runs.")
flags.DEFINE_list("train_configs", ["16x56", "64x224"],
                  "I3D training configs to time, as <frames>x<crop>; empty to skip.")
flags.DEFINE_integer("train_steps", 5, "Timed I3D steps per config (after 2 warm-up steps).")


def _generated_shards(directory):
  """Kinetics-sized videos (smooth moving textures, JPEG quality 95) written as shards."""
  rng = np.random.default_rng(0)
  examples = []
  for i in range(FLAGS.videos):
    base = rng.integers(0, 255, (FLAGS.height // 8 + 1, FLAGS.width // 8 + 1, 3), np.uint8)
    big = tf.image.resize(base[None], (FLAGS.height * 2, FLAGS.width * 2)).numpy()[0]
    rgb = np.stack([big[t % FLAGS.height:t % FLAGS.height + FLAGS.height,
                        (2 * t) % FLAGS.width:(2 * t) % FLAGS.width + FLAGS.width]
                    for t in range(FLAGS.frames)]).astype(np.uint8)
    flow = np.zeros(rgb.shape[:3] + (2,), np.float32)
    ex = testing.encode_example(rgb, flow, i % 4, f"v{i}")
    ex["rgb"] = [tf.io.encode_jpeg(f, quality=95).numpy() for f in rgb]
    examples.append(ex)
  return testing.write_shards(examples, directory, num_shards=4)


def _rate(dataset, count_fn, seconds):
  """(items per second, items per CPU-second of this process) over `seconds` after a warm-up
  element. The second is steadier on a shared machine: other processes' load slows the wall clock
  but does not add to this process's CPU time."""
  iterator = iter(dataset)
  count_fn(next(iterator))
  done, start, cpu_start = 0, time.perf_counter(), time.process_time()
  while time.perf_counter() - start < seconds:
    done += count_fn(next(iterator))
  return done / (time.perf_counter() - start), done / (time.process_time() - cpu_start)


def bare_decode_rate(files, seconds):

  def decode_all(example):
    return tf.map_fn(lambda s: tf.io.decode_jpeg(s, channels=3), example["rgb"],
                     fn_output_signature=tf.uint8)

  ds = pipeline.read_examples(files).repeat().map(decode_all, num_parallel_calls=tf.data.AUTOTUNE)
  return _rate(ds.prefetch(tf.data.AUTOTUNE), lambda frames: int(frames.shape[0]), seconds)


def pipeline_rate(files, spec, seconds):
  ds = pipeline.train_dataset(files, spec, FLAGS.batch_size, seed=0)
  return _rate(ds, lambda batch: int(batch[0].shape[0] * batch[0].shape[1]), seconds), ds


def train_rate(files, frames, crop):
  spec = pipeline.ClipSpec.for_model("i3d_rgb", train_frames=frames, crop_size=crop)
  padding = "VALID" if crop >= 224 and frames >= 9 else "SAME"
  model = registry.build_model("i3d_rgb", 400, final_pool_padding=padding)
  optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
  ds = pipeline.train_dataset(files, spec, FLAGS.batch_size, seed=0)
  iterator = iter(ds)

  @tf.function
  def step(x, y):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          y, model(pipeline.to_model_range(x), training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  for _ in range(2):
    step(*next(iterator)).numpy()
  start = time.perf_counter()
  for _ in range(FLAGS.train_steps):
    step(*next(iterator)).numpy()
  return FLAGS.train_steps * FLAGS.batch_size / (time.perf_counter() - start)


def main(argv):
  del argv
  cores = len(os.sched_getaffinity(0))
  devices = [d.device_type for d in tf.config.list_physical_devices()]
  if FLAGS.data_dir:
    files = records.list_shards(FLAGS.data_dir, FLAGS.dataset, FLAGS.split)
    source = f"{FLAGS.dataset} ({FLAGS.split}) in {FLAGS.data_dir}"
  else:
    scratch = tempfile.mkdtemp(prefix="i3d_tf_bench_")  # ~60 MB, removed at the end
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    files = _generated_shards(scratch)
    source = (f"{FLAGS.videos} generated videos x {FLAGS.frames} frames, "
              f"{FLAGS.height}x{FLAGS.width} JPEG q95")
  load_before = os.getloadavg()
  spec = pipeline.ClipSpec.for_model("i3d_rgb", train_frames=FLAGS.clip_frames,
                                     crop_size=FLAGS.crop_size)
  # Alternate the two measurements (3 rounds each, median) so that a shared machine's changing
  # load hits both alike.
  bares, ourses = [], []
  for _ in range(3):
    bares.append(bare_decode_rate(files, FLAGS.seconds / 3))
    ourses.append(pipeline_rate(files, spec, FLAGS.seconds / 3)[0])
  (bare, bare_cpu), (ours, ours_cpu) = (np.median(bares, axis=0), np.median(ourses, axis=0))
  print(f"source: {source}; {cores} cores; devices {devices}; load average before "
        f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
  print(f"bare tf.io.decode_jpeg:       {bare:8.1f} frames/s  ({bare / cores:7.1f} per core, "
        f"{bare_cpu:7.1f} per CPU-second)")
  print(f"training pipeline ({FLAGS.clip_frames}x{FLAGS.crop_size}): {ours:8.1f} frames/s  "
        f"({ours / cores:7.1f} per core, {ours_cpu:7.1f} per CPU-second)  = {100 * ours / bare:.0f}% "
        f"of bare decoding ({100 * ours_cpu / bare_cpu:.0f}% per CPU-second)")
  for config in FLAGS.train_configs:
    frames, crop = (int(v) for v in config.split("x"))
    rate = train_rate(files, frames, crop)
    print(f"I3D-RGB training, {frames} frames x {crop}px, batch {FLAGS.batch_size}: "
          f"{rate:.2f} clips/s (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
