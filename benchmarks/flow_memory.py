r"""Peak memory of one batched TV-L1 call (i3d_tf/video/tvl1.py), by batch size, on the CPU and GPUs.

  python -m benchmarks.flow_memory [--size=256x456] [--batches=1,16,64] [--full_iterations]

What a call holds does not depend on how many iterations it runs (the loops carry the same
tensors), so by default each call runs 1 warp of 1 inner and 1 outer iteration on every level of
OpenCV's 5-level pyramid: the memory of a full call in a fraction of its time. --full_iterations
runs OpenCV's defaults instead. Frames: random uint8 (memory does not depend on them either).
Each batch size runs in a fresh process, so the CPU figure is that call's resident-set high-water
mark less the mark before it (TensorFlow's first-call allocations included); on a GPU it is
TensorFlow's allocator peak during the call (XLA-compiled, as builds run it there).
"""
import json
import os
import subprocess
import sys

from absl import flags

from i3d_tf import entry

flags.DEFINE_string("size", "256x456", "Frame size HxW.")
flags.DEFINE_list("batches", ["1", "16", "64"], "Pairs per call.")
flags.DEFINE_bool("full_iterations", False, "OpenCV's iteration counts instead of 1/1/1.")
FLAGS = flags.FLAGS

_ONE_CALL = r"""
import json, resource, sys
import numpy as np
import tensorflow as tf
from i3d_tf.video import tvl1
height, width, batch, full, device, jit = sys.argv[1:]
params = tvl1.TVL1Params() if full == "1" else tvl1.TVL1Params(
    warps=1, inner_iterations=1, outer_iterations=1)
rng = np.random.default_rng(0)
frames0 = rng.integers(0, 256, (int(batch), int(height), int(width)), dtype=np.uint8)
frames1 = np.roll(frames0, 1, axis=2)
flow_fn = tvl1.TVL1(params, jit_compile=jit == "1")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
with tf.device(device):
  if device.startswith("/GPU"):
    tf.config.experimental.reset_memory_stats(device.strip("/"))
  flow_fn(frames0, frames1).numpy()
  if device.startswith("/GPU"):
    peak = tf.config.experimental.get_memory_info(device.strip("/"))["peak"] / 2**20
  else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - before
print("RESULT", json.dumps({"peak_mb": peak}))
"""


def _gpus():
  out = subprocess.run([sys.executable, "-c", "import tensorflow as tf; "
                        "print(len(tf.config.list_physical_devices('GPU')))"],
                       capture_output=True, text=True, check=True)
  return int(out.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  height, width = (int(v) for v in FLAGS.size.lower().split("x"))
  devices = [("CPU", "/CPU:0", False)] + [(f"GPU:{i}", f"/GPU:{i}", True)
                                          for i in range(_gpus())]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root,
                                                                  os.environ.get("PYTHONPATH")])),
             TF_CPP_MIN_LOG_LEVEL="3")
  print("| size | device | batch | iterations | peak memory (MB) | MB per pair |\n"
        "|---|---|---|---|---|---|")
  for name, device, jit in devices:
    for batch in (int(b) for b in FLAGS.batches):
      out = subprocess.run(
          [sys.executable, "-c", _ONE_CALL, str(height), str(width), str(batch),
           "1" if FLAGS.full_iterations else "0", device, "1" if jit else "0"],
          capture_output=True, text=True, env=env)
      lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
      if out.returncode or not lines:
        print(f"| {FLAGS.size} | {name} | {batch} | failed: {out.stderr.strip()[-300:]} | | |")
        continue
      peak = json.loads(lines[-1][len("RESULT "):])["peak_mb"]
      iterations = "OpenCV's" if FLAGS.full_iterations else "1/1/1"
      print(f"| {FLAGS.size} | {name}{' (XLA)' if jit else ''} | {batch} | {iterations} | "
            f"{peak:.0f} | {peak / batch:.1f} |", flush=True)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
