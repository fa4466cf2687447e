r"""Local build with a TensorFlow flow method, by where the flow runs, on the same synthetic_motion
clips in one run; checks that every path writes the same shards.

  python -m benchmarks.build_flow [--num_train=16] [--num_test=8] [--frames=16] [--size=64] \
      [--method=tvl1_tf] [--num_workers=2] [--repeats=1] [--paths=threads,workers] \
      [--flow_processes=2]

Paths: 'threads' (the build's process batches pairs across videos for its own TensorFlow, what
builds do with one GPU/TPU or the CPU), 'processes' (the same batches for --flow_processes child
processes, one per GPU, what builds do with several GPUs), 'workers' (each pool worker loads its
own TensorFlow and computes its videos' flow, the earliest path), 'opencv' (the same clips with
OpenCV's `tvl1` in each worker, the default method: the baseline the TensorFlow paths replace;
its shards differ, so it is left out of the identity check). Prints seconds per build
(download_and_prepare, pool and flow processes' start included) and each path's ratio to the first.
"""
import os
import tempfile
import time

from absl import app
from absl import flags

from i3d_tf import entry
from i3d_tf.video import flow as flow_lib

flags.DEFINE_integer("num_train", 16, "Train clips.")
flags.DEFINE_integer("num_test", 8, "Test clips.")
flags.DEFINE_integer("frames", 16, "Frames per clip.")
flags.DEFINE_integer("size", 64, "Frame height and width.")
flags.DEFINE_enum("method", "tvl1_tf", list(flow_lib.TF_METHODS), "The TensorFlow method.")
flags.DEFINE_integer("num_workers", 2, "Pool workers of each build.")
flags.DEFINE_integer("repeats", 1, "Builds of each kind, alternated.")
flags.DEFINE_list("paths", ["threads", "workers"], "threads, processes and/or workers (see above).")
flags.DEFINE_integer("flow_processes", 2, "Flow processes of the 'processes' path.")
FLAGS = flags.FLAGS


_PATHS = {"threads": "flow in the build's process (threads)",
          "processes": "flow in flow processes",
          "workers": "flow in each worker",
          "opencv": "OpenCV tvl1 in each worker"}


def _build(data_dir, path):
  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds
  from datasets.common import device_flow
  from datasets.synthetic_motion import synthetic_motion_dataset_builder as sm
  # pylint: enable=g-import-not-at-top
  method = "tvl1" if path == "opencv" else FLAGS.method
  config = sm.SyntheticConfig(name="bench", flow_method=method, num_train=FLAGS.num_train,
                              num_test=FLAGS.num_test, num_frames=FLAGS.frames,
                              height=FLAGS.size, width=FLAGS.size)
  builder = sm.Builder(config=config, data_dir=data_dir, num_workers=FLAGS.num_workers,
                       flow_processes=FLAGS.flow_processes if path == "processes" else 0)
  real = device_flow.prepare_fn_of
  if path == "workers":  # the earliest path: every worker runs process_generated, flow included
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
  unknown = sorted(set(FLAGS.paths) - set(_PATHS))
  if unknown:
    raise app.UsageError(f"--paths: unknown {unknown}; expected some of {sorted(_PATHS)}")
  times = {path: [] for path in FLAGS.paths}
  shards = {}
  with tempfile.TemporaryDirectory() as tmp:
    for repeat in range(FLAGS.repeats):
      for path in times:
        seconds, shards[path] = _build(os.path.join(tmp, f"{repeat}_{path}"), path)
        times[path].append(seconds)
        print(f"{_PATHS[path]}: {seconds:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
  first = FLAGS.paths[0]
  compared = [p for p in shards if p != "opencv"]
  same = not compared or (bool(shards[compared[0]]) and
                          all(shards[p] == shards[compared[0]] for p in compared))
  clips = FLAGS.num_train + FLAGS.num_test
  print(f"\n{clips} clips of {FLAGS.frames}x{FLAGS.size}x{FLAGS.size}, {FLAGS.method}, "
        f"{FLAGS.num_workers} workers, {FLAGS.flow_processes} flow processes where used, "
        f"{os.cpu_count()} cores; shards of the TensorFlow paths identical: {same}")
  print(f"| path | s per build | clips/s | x {_PATHS[first]} |\n|---|---|---|---|")
  for path, values in times.items():
    best = min(values)
    print(f"| {_PATHS[path]} | {', '.join(f'{v:.1f}' for v in values)} | {clips / best:.2f} | "
          f"{min(times[first]) / best:.2f} |")
  if not same:
    raise SystemExit("the paths wrote different shards")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
