r"""Local build with a TensorFlow flow method: the flow in the build's process (device_flow.py, what
builds do) against the flow in each pool worker (each loading its own TensorFlow, the earlier
path), on the same synthetic_motion clips, in one run; checks that both write the same shards.

  python -m benchmarks.build_flow [--num_train=16] [--num_test=8] [--frames=16] [--size=64] \
      [--method=tvl1_tf] [--num_workers=2] [--repeats=1]

Prints seconds per build (download_and_prepare, pool start included) and the ratio.
"""
import os
import tempfile
import time

from absl import app
from absl import flags

from i3d_tf.video import flow as flow_lib

flags.DEFINE_integer("num_train", 16, "Train clips.")
flags.DEFINE_integer("num_test", 8, "Test clips.")
flags.DEFINE_integer("frames", 16, "Frames per clip.")
flags.DEFINE_integer("size", 64, "Frame height and width.")
flags.DEFINE_enum("method", "tvl1_tf", list(flow_lib.TF_METHODS), "The TensorFlow method.")
flags.DEFINE_integer("num_workers", 2, "Pool workers of each build.")
flags.DEFINE_integer("repeats", 1, "Builds of each kind, alternated.")
FLAGS = flags.FLAGS


def _build(data_dir, flow_in_workers):
  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds
  from datasets.common import device_flow
  from datasets.synthetic_motion import synthetic_motion_dataset_builder as sm
  # pylint: enable=g-import-not-at-top
  config = sm.SyntheticConfig(name="bench", flow_method=FLAGS.method, num_train=FLAGS.num_train,
                              num_test=FLAGS.num_test, num_frames=FLAGS.frames,
                              height=FLAGS.size, width=FLAGS.size)
  builder = sm.Builder(config=config, data_dir=data_dir, num_workers=FLAGS.num_workers)
  real = device_flow.prepare_fn_of
  if flow_in_workers:  # the earlier path: every worker runs process_generated, flow included
    device_flow.prepare_fn_of = lambda process_fn: None
  try:
    started = time.perf_counter()
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    seconds = time.perf_counter() - started
  finally:
    device_flow.prepare_fn_of = real
  shards = {p.name: p.read_bytes() for p in sorted(builder.data_path.glob("*.tfrecord-*"))}
  return seconds, shards


def main(argv):
  del argv
  times = {"flow in the build's process (device_flow)": [], "flow in each worker": []}
  shards = {}
  with tempfile.TemporaryDirectory() as tmp:
    for repeat in range(FLAGS.repeats):
      for kind in times:
        in_workers = kind == "flow in each worker"
        seconds, shards[kind] = _build(os.path.join(tmp, f"{repeat}_{in_workers}"), in_workers)
        times[kind].append(seconds)
        print(f"{kind}: {seconds:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
  first, second = times
  same = shards[first] == shards[second] and bool(shards[first])
  clips = FLAGS.num_train + FLAGS.num_test
  print(f"\n{clips} clips of {FLAGS.frames}x{FLAGS.size}x{FLAGS.size}, {FLAGS.method}, "
        f"{FLAGS.num_workers} workers, {os.cpu_count()} cores; shards identical: {same}")
  print("| path | s per build | clips/s |\n|---|---|---|")
  for kind, values in times.items():
    best = min(values)
    print(f"| {kind} | {', '.join(f'{v:.1f}' for v in values)} | {clips / best:.2f} |")
  print(f"ratio (each worker / build's process, best of each): "
        f"{min(times[second]) / min(times[first]):.2f}")
  if not same:
    raise SystemExit("the two paths wrote different shards")


if __name__ == "__main__":
  app.run(main)
