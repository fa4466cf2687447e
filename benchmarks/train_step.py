"""One training step of the embedded default (the README's first command) by CPU kernel path.

TensorFlow runs oneDNN's kernels by default only on CPUs with AVX-512 VNNI/BF16 or AMX, Eigen's
elsewhere; i3d_tf/cpu_kernels.py turns oneDNN on in every binary, and i3d_tf/strided_conv.py
computes the first conv's gradients as a stride-1 convolution. This times both choices side by
side on one machine, each configuration in its own process (the kernel path is fixed when
TensorFlow loads), round-robin so that a changing load hits them alike:

  kernels   onednn       TF_ENABLE_ONEDNN_OPTS=1 (this CPU's best ISA)
            onednn_avx2  the same, oneDNN limited to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2): an AVX2-only
                         CPU's oneDNN, e.g. AMD EPYC before Zen 4
            eigen        TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's default on AVX2-only CPUs
  gradient  space_to_depth (i3d_tf's) or strided (TensorFlow's Conv3D gradient)

Per configuration: seconds per training step of the reduced configuration (quarter width, batch 8
of 16x56x56, SGD with momentum, experiments/configs/synthetic.py), and the first conv's kernel
gradient alone. Prints the CPU model and load average, then a markdown table.

  python -m benchmarks.train_step                          # all configurations, i3d_flow
  python -m benchmarks.train_step --models=i3d_flow,i3d_rgb --kernels=eigen --rounds=1
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from absl import flags

from i3d_tf import entry

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["i3d_flow"], "--model names (the release's I3D streams)")
flags.DEFINE_list("kernels", ["onednn", "onednn_avx2", "eigen"], "CPU kernel paths (see above)")
flags.DEFINE_list("gradients", ["space_to_depth", "strided"], "First-conv gradient forms (i3d_tf "
                  "uses space_to_depth where oneDNN is off, strided where it is on)")
flags.DEFINE_integer("rounds", 2, "Rounds of the round-robin; each runs every configuration once")
flags.DEFINE_integer("steps", 3, "Timed training steps per run (after 2 warm-up steps)")
flags.DEFINE_string("child", None, "Internal: run one configuration ('model,kernels,gradient')")

_ENV = {"onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
        "onednn_avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
        "eigen": {"TF_ENABLE_ONEDNN_OPTS": "0"}}


def cpu_model():
  """The CPU's model name (lscpu's), and whether it has AVX-512."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      info = f.read()
  except OSError:
    return platform.processor() or "unknown CPU"
  name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
               if line.startswith("model name")), "unknown CPU")
  flags_line = next((line for line in info.splitlines() if line.startswith("flags")), "")
  isa = "AVX-512" if " avx512f" in flags_line else "AVX2" if " avx2" in flags_line else "no AVX2"
  return f"{name} ({os.cpu_count()} cores, {isa})"


def _child(model_name, gradient, steps):
  """Times one configuration in this process; returns {'step_s': ..., 'first_conv_grad_s': ...}."""
  import keras  # pylint: disable=import-outside-toplevel  (after the parent set the kernel path)
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from experiments.configs import synthetic  # pylint: disable=import-outside-toplevel
  from i3d_tf import strided_conv  # pylint: disable=import-outside-toplevel
  from i3d_tf.models import registry  # pylint: disable=import-outside-toplevel

  strided_conv.SPACE_TO_DEPTH_GRADIENTS = gradient == "space_to_depth"
  config = synthetic.reduced_config(model_name)
  channels = registry.get(model_name).input_spec.streams[0].channels
  model = registry.build_model(model_name, synthetic.NUM_CLASSES,
                               width_multiplier=config["width_multiplier"],
                               final_pool_padding=config.get("final_pool_padding", "VALID"),
                               dropout_rate=config["dropout_rate"])
  size, frames, batch = config["crop_size"], config["train_frames"], config["batch_size"]
  clips = tf.random.stateless_uniform([batch, frames, size, size, channels], (0, 1), -1.0, 1.0)
  labels = tf.random.stateless_uniform([batch], (0, 2), 0, synthetic.NUM_CLASSES, tf.int32)
  model(clips)
  optimizer = keras.optimizers.SGD(config["learning_rate"], momentum=0.9)

  @tf.function
  def train_step(clips, labels):
    with tf.GradientTape() as tape:
      logits = model(clips, training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  first = model.blocks["Conv3d_1a_7x7"]

  @tf.function
  def first_conv_grad(clips):
    with tf.GradientTape() as tape:
      out = first.conv(clips)
    return tape.gradient(out, first.conv.kernel, output_gradients=tf.ones_like(out))

  def timed(fn, *args):
    for _ in range(2):
      fn(*args).numpy()
    start = time.perf_counter()
    for _ in range(steps):
      fn(*args).numpy()
    return (time.perf_counter() - start) / steps

  return {"step_s": timed(train_step, clips, labels),
          "first_conv_grad_s": timed(first_conv_grad, clips)}


def _run(model_name, kernels, gradient, steps):
  env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
  env.update(_ENV[kernels])
  result = subprocess.run(
      [sys.executable, "-m", "benchmarks.train_step", f"--child={model_name},{kernels},{gradient}",
       f"--steps={steps}"], env=env, capture_output=True, text=True, check=False)
  lines = [l for l in result.stdout.splitlines() if l.startswith("{")]
  if result.returncode != 0 or not lines:
    raise RuntimeError(f"{model_name} {kernels} {gradient} failed:\n{result.stderr[-3000:]}")
  return json.loads(lines[-1])


def main(argv):
  del argv
  if FLAGS.child:
    model_name, _, gradient = FLAGS.child.split(",")
    print(json.dumps(_child(model_name, gradient, FLAGS.steps)), flush=True)
    return
  configs = [(m, k, g) for m in FLAGS.models for k in FLAGS.kernels for g in FLAGS.gradients]
  print(f"CPU: {cpu_model()}; load average at start {os.getloadavg()[0]:.2f}", flush=True)
  results = {c: [] for c in configs}
  for round_index in range(FLAGS.rounds):
    for config in configs:
      results[config].append(_run(*config, FLAGS.steps))
      print(f"round {round_index + 1}: {' '.join(config)}: {results[config][-1]}", flush=True)
  print(f"\nload average at end {os.getloadavg()[0]:.2f}\n")
  print("| model | kernels | first-conv gradient | s / training step | first conv's kernel "
        "gradient (s) |")
  print("|---|---|---|---|---|")
  for (model_name, kernels, gradient), runs in results.items():
    step = statistics.median(r["step_s"] for r in runs)
    conv = statistics.median(r["first_conv_grad_s"] for r in runs)
    print(f"| {model_name} | {kernels} | {gradient} | {step:.3f} | {conv:.3f} |")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
