"""I3D inference speed: clips/s of one [B, 64, 224, 224, C] forward pass (the release's test clip
length for a training-size input), eager, tf.function and SavedModel, float32 and bfloat16, on
every device at hand (the CPU, and each GPU).

  python -m benchmarks.i3d_inference                       # all modes, dtypes, streams
  python -m benchmarks.i3d_inference --streams=rgb --modes=function --dtypes=float32

`tf_nn_reference` times, for scale and under the same load, the raw tf.nn graph of the release that
tests/test_tf_nn_reference.py checks our logits against (float32, tf.function, weights as graph
constants, which Grappler may fold); `tf_nn_reference_variables` is the same graph reading the
weights from tf.Variables, as any trainable model does.
The modes of one (device, stream, dtype) are timed round-robin, one pass each per round, so that a
shared machine's changing load hits them alike. Weights are random: speed does not depend on their
values. Prints one line per configuration and a markdown table, with the load average.
"""
import os
import statistics
import tempfile
import time

from absl import flags
from absl import logging
import keras
import numpy as np
import tensorflow as tf

from i3d_tf import entry
from i3d_tf import export
from i3d_tf.models import registry

FLAGS = flags.FLAGS
flags.DEFINE_list("streams", ["rgb", "flow"], "rgb (C=3) and/or flow (C=2)")
flags.DEFINE_list("modes", ["eager", "function", "saved_model", "tf_nn_reference",
                            "tf_nn_reference_variables"],
                  "eager, function (tf.function), saved_model (the exported signature), "
                  "tf_nn_reference, tf_nn_reference_variables")
flags.DEFINE_list("dtypes", ["float32", "bfloat16"], "float32 and/or bfloat16 (Keras "
                  "'mixed_bfloat16': bfloat16 compute, float32 variables)")
flags.DEFINE_integer("frames", 64, "Frames per clip")
flags.DEFINE_integer("batch", 1, "Clips per forward pass")
flags.DEFINE_integer("warmup", 1, "Untimed passes first (tracing, oneDNN kernel selection)")
flags.DEFINE_integer("repeats", 5, "Timed rounds (one pass per mode each); the median is reported")
flags.DEFINE_string("devices", None, "Comma-separated TF devices (default: the CPU and every GPU)")

_CHANNELS = {"rgb": 3, "flow": 2}


def _forward(model, mode, stream, export_root):
  """A callable video -> logits for this mode."""
  if mode == "eager":
    return lambda video: model(video, training=False)
  if mode == "function":
    return tf.function(lambda video: model(video, training=False), jit_compile=False)
  if mode == "saved_model":
    path = os.path.join(export_root, f"{stream}_{model.dtype_policy.name}")
    export.export_saved_model(model, path, registry.get(f"i3d_{stream}").input_spec)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    return lambda video: serve(video=video)["logits"]
  if mode in ("tf_nn_reference", "tf_nn_reference_variables"):
    from tests import test_tf_nn_reference  # pylint: disable=import-outside-toplevel
    weights = {k: v.numpy() for k, v in model.deepmind_variables().items()}
    if mode == "tf_nn_reference_variables":
      weights = {k: tf.Variable(v) for k, v in weights.items()}
    return tf.function(lambda video: test_tf_nn_reference.reference_logits(video, weights))
  raise ValueError(f"--modes: unknown mode {mode!r}")


def run_group(device, stream, dtype, modes, export_root):
  """{mode: median seconds per pass} for one device, stream and dtype, modes timed round-robin."""
  policy = "mixed_bfloat16" if dtype == "bfloat16" else "float32"
  modes = [m for m in modes if dtype == "float32" or not m.startswith("tf_nn_reference")]
  with tf.device(device):
    keras.mixed_precision.set_dtype_policy(policy)
    try:
      model = registry.build_model(f"i3d_{stream}", 400)
      model.build((None, None, 224, 224, _CHANNELS[stream]))
    finally:
      keras.mixed_precision.set_dtype_policy("float32")
    video = tf.random.uniform((FLAGS.batch, FLAGS.frames, 224, 224, _CHANNELS[stream]), -1, 1)
    forwards = {mode: _forward(model, mode, stream, export_root) for mode in modes}
    for forward in forwards.values():
      for _ in range(FLAGS.warmup):
        np.asarray(forward(video))
    seconds = {mode: [] for mode in modes}
    for round_index in range(FLAGS.repeats):
      shift = round_index % len(modes)
      for mode in modes[shift:] + modes[:shift]:  # rotate who goes first
        start = time.perf_counter()
        np.asarray(forwards[mode](video))  # forces the result to the host
        seconds[mode].append(time.perf_counter() - start)
  return {mode: statistics.median(values) for mode, values in seconds.items()}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  tf.get_logger().setLevel("ERROR")
  devices = FLAGS.devices.split(",") if FLAGS.devices else (
      ["/CPU:0"] + [f"/GPU:{i}" for i in range(len(tf.config.list_physical_devices("GPU")))])
  print(f"load average before: {os.getloadavg()}; TF {tf.__version__}, Keras {keras.__version__}"
        f", {os.cpu_count()} CPUs, devices {devices}")
  rows = []
  with tempfile.TemporaryDirectory() as export_root:
    for device in devices:
      for stream in FLAGS.streams:
        for dtype in FLAGS.dtypes:
          medians = run_group(device, stream, dtype, FLAGS.modes, export_root)
          load = os.getloadavg()[0]
          for mode, seconds in medians.items():
            rows.append((device, stream, dtype, mode, seconds, FLAGS.batch / seconds, load))
            print(f"{device} {stream} {dtype} {mode}: {seconds:.3f} s per pass, "
                  f"{FLAGS.batch / seconds:.3f} clips/s (load {load:.2f})", flush=True)
  print(f"\n[{FLAGS.batch}, {FLAGS.frames}, 224, 224, C], median of {FLAGS.repeats} after "
        f"{FLAGS.warmup} warm-up; load average after: {os.getloadavg()}\n")
  print("| device | stream | dtype | mode | s / pass | clips/s | 1-min load |")
  print("|---|---|---|---|---|---|---|")
  for device, stream, dtype, mode, seconds, rate, load in rows:
    print(f"| {device} | {stream} | {dtype} | {mode} | {seconds:.2f} | {rate:.2f} | {load:.1f} |")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
