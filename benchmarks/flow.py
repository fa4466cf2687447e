r"""TV-L1 benchmark: OpenCV's DualTVL1 ('tvl1') against the TensorFlow one ('tvl1_tf') on the same
frame pairs, in one run: pairs/s per size and batch, and the endpoint error between them.

  python -m benchmarks.flow [--sizes=224x224,256x340,256x456] [--batches=1,8,32,64] \
      [--opencv_pairs=8] [--method=tvl1_tf] [--videos=a.mp4,b.mkv] [--no_cpu] \
      [--tvl1_versions=62c4557,19c18bc]

Frames: grayscale pairs (t, t+1) of real clips decoded at 25 fps, resized to each size (area
interpolation); a batch of B takes B distinct pairs when the clips have them, else repeats them.
OpenCV runs pair by pair on one thread (a build worker's setting) and with its default threads;
tvl1_tf runs on the CPU without XLA and with it (jit_compile, as flow methods run it everywhere),
and on every visible GPU with XLA, in calls of B pairs covering at least the pairs OpenCV timed,
one warm-up call per shape first (tracing / compiling is not timed). EPE: tvl1_tf against OpenCV
on the pairs both computed, after the [-20, 20] truncation. Peak memory of each batch size: on
a GPU the TensorFlow allocator's peak during its calls (memory stats reset before them); on the
CPU the process's resident-set high-water mark so far, less the mark before the first tvl1_tf
call (batches run in ascending order, so it is that batch's peak; the XLA rows come after the
others, so theirs is the larger of the two). CPU seconds per pair (all threads of the process,
CPU rows): the work a version does, less sensitive than pairs/s to a machine others load.
--tvl1_versions: earlier versions of i3d_tf/video/tvl1.py (git revisions of this checkout) timed
with XLA on the CPU beside the checkout's, in the same run (issue #19's steps, BENCHMARKS.md).
Prints a markdown table and the load average.
"""
import os
import pathlib
import resource
import subprocess
import time
import types

from absl import app
from absl import flags
import cv2
import numpy as np

from i3d_tf import entry
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib

_DEFAULT_VIDEOS = ("clean_and_jerk.mp4", "skateboarding.mp4", "tai_chi.mp4",
                   "flipping_a_pancake.mkv", "mmaction2_test.mp4", "v_ApplyEyeMakeup_g01_c01.avi")

flags.DEFINE_list("sizes", ["224x224", "256x340", "256x456"], "Frame sizes HxW.")
flags.DEFINE_list("batches", ["1", "8", "32", "64"], "tvl1_tf batch sizes (pairs per call).")
flags.DEFINE_integer("opencv_pairs", 8, "Pairs OpenCV computes per size (and EPE is over).")
flags.DEFINE_enum("method", "tvl1_tf", list(flow_lib.TF_METHODS), "The TensorFlow method.")
flags.DEFINE_list("videos", None, "Clips to take pairs from (default: ../shared/testdata/videos).")
flags.DEFINE_integer("pairs_per_clip", 12, "Pairs taken from each clip (its first 0.5 s+).")
flags.DEFINE_bool("cpu", True, "Time tvl1_tf on the CPU too (--nocpu: GPUs only).")
flags.DEFINE_bool("opencv_default_threads", True, "Also time OpenCV with its default threads.")
flags.DEFINE_list("tvl1_versions", [], "Git revisions of this checkout whose i3d_tf/video/tvl1.py "
                  "is timed beside the current one (XLA on the CPU), e.g. 62c4557: before #19.")
flags.DEFINE_integer("rounds", 3, "With --tvl1_versions: rounds in which each XLA CPU version in "
                     "turn computes OpenCV's pairs one by one (alternating, so that a load others "
                     "put on the machine falls on all versions alike); medians and ratios to the "
                     "first version are printed.", lower_bound=0)
FLAGS = flags.FLAGS


def _shared_dir():
  """$I3D_TF_SHARED, or `shared` beside this checkout or beside a worktree's main checkout."""
  root = pathlib.Path(__file__).resolve().parents[1]
  candidates = [os.environ.get("I3D_TF_SHARED"), root.parent / "shared"]
  git = root / ".git"
  if git.is_file() and git.read_text().startswith("gitdir:"):
    main = pathlib.Path(git.read_text()[len("gitdir:"):].strip()).resolve().parents[2]
    candidates.append(main.parent / "shared")
  for c in candidates:
    if c and pathlib.Path(c).is_dir():
      return pathlib.Path(c)
  return None


def _videos():
  if FLAGS.videos:
    return FLAGS.videos
  shared = _shared_dir()
  folder = shared / "testdata" / "videos" if shared else None
  present = [str(folder / v) for v in _DEFAULT_VIDEOS if folder and (folder / v).is_file()]
  if not present:
    raise app.UsageError(f"no videos: pass --videos (none of the defaults is in {folder})")
  return present


def load_pairs(paths, pairs_per_clip):
  """[(gray t, gray t+1)] uint8 at the clips' own 256-px-shorter-side size."""
  pairs = []
  for path in paths:
    seconds = (pairs_per_clip + 2) / 25.0
    gray = flow_lib.to_gray(decode.read_video(path, fps=25, end_s=seconds, shorter_side=256))
    pairs += [(gray[t], gray[t + 1]) for t in range(min(pairs_per_clip, len(gray) - 1))]
  return pairs


def resized(pairs, height, width, count):
  """`count` pairs (repeating when fewer) resized to height x width: uint8 [count, H, W] x2."""
  out0, out1 = [], []
  for i in range(count):
    frame0, frame1 = pairs[i % len(pairs)]
    out0.append(cv2.resize(frame0, (width, height), interpolation=cv2.INTER_AREA))
    out1.append(cv2.resize(frame1, (width, height), interpolation=cv2.INTER_AREA))
  return np.stack(out0), np.stack(out1)


def time_opencv(frames0, frames1, threads):
  """(pairs/s, flows [N, H, W, 2], CPU s/pair) of OpenCV's default DualTVL1, one fresh instance
  per pair."""
  previous = cv2.getNumThreads()
  cv2.setNumThreads(threads)
  try:
    flows = []
    started, cpu_started = time.perf_counter(), time.process_time()
    for frame0, frame1 in zip(frames0, frames1):
      flows.append(flow_lib.make_tvl1("tvl1").calc(frame0, frame1, None))
    seconds = time.perf_counter() - started
    cpu_s = (time.process_time() - cpu_started) / len(flows)
  finally:
    cv2.setNumThreads(previous)
  return len(flows) / seconds, np.stack(flows), cpu_s


def tvl1_module_at(revision):
  """i3d_tf/video/tvl1.py as of git `revision` of this checkout, loaded as a module of its own."""
  root = pathlib.Path(__file__).resolve().parents[1]
  try:
    source = subprocess.run(["git", "-C", str(root), "show", f"{revision}:i3d_tf/video/tvl1.py"],
                            check=True, capture_output=True, text=True).stdout
  except (OSError, subprocess.CalledProcessError) as e:
    raise app.UsageError(f"--tvl1_versions={revision}: no i3d_tf/video/tvl1.py at that revision "
                         f"of {root} ({e})") from e
  module = types.ModuleType(f"tvl1_at_{revision}")
  exec(compile(source, f"{revision}:i3d_tf/video/tvl1.py", "exec"), module.__dict__)  # pylint: disable=exec-used
  return module


def _rss_high_water_mb():
  """This process's peak resident set so far (Linux reports kilobytes)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _epe(a, b):
  bound = flow_lib.FLOW_BOUND
  error = np.linalg.norm(np.clip(a, -bound, bound) - np.clip(b, -bound, bound), axis=-1)
  return error.mean(), np.percentile(error, 95)


def _devices(tf, tvl1):
  """(device name, device, jit_compile, the tvl1 module, its label) of every timed row: the CPU
  without XLA, the CPU with XLA per tvl1.py version (--tvl1_versions, then this checkout's), and
  every visible GPU with XLA."""
  versions = [(tvl1_module_at(r), f" @{r}") for r in FLAGS.tvl1_versions] + [(tvl1, "")]
  cpu = [("CPU", "/CPU:0", False, tvl1, "")] + [
      ("CPU", "/CPU:0", True, module, label) for module, label in versions]
  gpus = [(f"GPU:{i} {tf.config.experimental.get_device_details(d).get('device_name', '')}"
           .strip(), f"/GPU:{i}", True, tvl1, "")
          for i, d in enumerate(tf.config.list_physical_devices("GPU"))]
  return (cpu if FLAGS.cpu else []) + gpus


def _opencv_rows(size, frames0, frames1):
  """OpenCV's rows of one size (one thread; default threads too with --opencv_default_threads)
  and its flow, the reference of every EPE."""
  rate_1, reference, cpu_1 = time_opencv(frames0, frames1, threads=1)
  print(f"  {size} OpenCV 1 thread: {rate_1:.3f} pairs/s", flush=True)
  rows = [(size, "tvl1 (OpenCV, 1 thread)", "CPU", 1, rate_1, cpu_1, None, None)]
  if FLAGS.opencv_default_threads:
    rate_n, _, cpu_n = time_opencv(frames0, frames1, threads=-1)
    rows.append((size, "tvl1 (OpenCV, default threads)", "CPU", 1, rate_n, cpu_n, None, None))
  return rows, reference


def _time_batch(tf, flow_fn, device, jit, batch, frames0, frames1, reference, rss_before):
  """(pairs/s, CPU s/pair or None on a GPU, EPE against OpenCV, peak MB) of `flow_fn` in calls
  of `batch` pairs covering at least the pairs OpenCV computed; compiled first, not timed."""
  batches = [int(b) for b in FLAGS.batches]
  n_cv = len(reference)
  total = -(-max(batch, n_cv) // batch) * batch
  on_gpu = device.startswith("/GPU")
  if on_gpu:
    tf.config.experimental.reset_memory_stats(device.strip("/"))
  if jit or batch == min(batches):
    flow_fn(frames0[:batch], frames1[:batch]).numpy()  # Trace / compile.
  flows = []
  started, cpu_started = time.perf_counter(), time.process_time()
  for start in range(0, total, batch):
    flows.append(flow_fn(frames0[start:start + batch], frames1[start:start + batch]).numpy())
  rate = total / (time.perf_counter() - started)
  cpu_s = (time.process_time() - cpu_started) / total if not on_gpu else None
  epe = _epe(np.concatenate(flows)[:n_cv], reference)
  if on_gpu:
    peak_mb = tf.config.experimental.get_memory_info(device.strip("/"))["peak"] / 2**20
  else:
    peak_mb = max(0.0, (_rss_high_water_mb() - rss_before))
  return rate, cpu_s, epe, peak_mb


def _tf_rows(tf, size, devices, frames0, frames1, reference, rss_before):
  """The TensorFlow rows of one size, each device and batch size; and the XLA CPU versions'
  (label, flow function) for the interleaved rounds."""
  rows, cpu_versions = [], []
  for name, device, jit, module, label in devices:
    flow_fn = module.TVL1(module.TVL1Params(**flow_lib.TF_METHODS[FLAGS.method]), jit_compile=jit)
    if jit and device == "/CPU:0":
      cpu_versions.append((label.strip(" @") or "this checkout", flow_fn))
    with tf.device(device):
      for batch in sorted(int(b) for b in FLAGS.batches):
        rate, cpu_s, epe, peak_mb = _time_batch(tf, flow_fn, device, jit, batch, frames0, frames1,
                                                reference, rss_before)
        rows.append((size, f"{FLAGS.method}{label} ({'XLA' if jit else 'no XLA'})", name, batch,
                     rate, cpu_s, epe, peak_mb))
        print(f"  {size} {name}{label}{' XLA' if jit else ''} batch {batch}: {rate:.3f} pairs/s, "
              f"EPE {epe[0]:.3f} / {epe[1]:.3f} px, peak {peak_mb:.0f} MB "
              f"(load {os.getloadavg()[0]:.1f})",
              flush=True)  # As it goes: a run stopped early keeps what it measured.
  return rows, cpu_versions


def _print_tables(rows, interleaved):
  print("\n| size | method | device | batch | pairs/s | s/pair | x OpenCV 1 thread | "
        "CPU s/pair | EPE vs OpenCV (mean / p95 px) | peak memory (MB) |\n"
        "|---|---|---|---|---|---|---|---|---|---|")
  base = {r[0]: r[4] for r in rows if r[1].startswith("tvl1 (OpenCV, 1")}
  for size, method, device, batch, rate, cpu_s, epe, peak_mb in rows:
    epe_text = f"{epe[0]:.3f} / {epe[1]:.3f}" if epe else ""
    peak_text = "" if peak_mb is None else f"{peak_mb:.0f}"
    cpu_text = "" if cpu_s is None else f"{cpu_s:.3f}"
    print(f"| {size} | {method} | {device} | {batch} | {rate:.3f} | {1 / rate:.2f} | "
          f"{rate / base[size]:.2f} | {cpu_text} | {epe_text} | {peak_text} |")
  if interleaved:
    print(f"\n{FLAGS.rounds} interleaved rounds of {FLAGS.opencv_pairs} pairs, pair by pair, XLA "
          f"on the CPU (medians; ratios per round, then their median):\n\n| size | tvl1.py version"
          f" | pairs/s | CPU s/pair | x first version (pairs/s) | x first version (CPU s) |\n"
          f"|---|---|---|---|---|---|")
    for row in interleaved:
      print("| " + " | ".join(row) + " |")
  print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}")


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from i3d_tf.video import tvl1  # pylint: disable=g-import-not-at-top
  batches = [int(b) for b in FLAGS.batches]
  pairs = load_pairs(_videos(), FLAGS.pairs_per_clip)
  devices = _devices(tf, tvl1)
  print(f"{len(pairs)} distinct pairs; TensorFlow {tf.__version__}, OpenCV {cv2.__version__}; "
        f"{os.cpu_count()} CPUs; devices: {', '.join(d[0] for d in devices) or 'none'}")
  rows, interleaved = [], []
  rss_before = _rss_high_water_mb()
  for size in FLAGS.sizes:
    height, width = (int(v) for v in size.lower().split("x"))
    count = max([FLAGS.opencv_pairs] + batches)  # Each batch size's calls take the first pairs.
    frames0, frames1 = resized(pairs, height, width, count)
    n_cv = FLAGS.opencv_pairs
    opencv_rows, reference = _opencv_rows(size, frames0[:n_cv], frames1[:n_cv])
    tf_rows, cpu_versions = _tf_rows(tf, size, devices, frames0, frames1, reference, rss_before)
    rows += opencv_rows + tf_rows
    if FLAGS.tvl1_versions and FLAGS.rounds and cpu_versions:
      interleaved += _interleaved_rounds(size, cpu_versions, frames0[:n_cv], frames1[:n_cv])
    print(f"done {size}: load average {os.getloadavg()[0]:.1f}", flush=True)
  _print_tables(rows, interleaved)


def _interleaved_rounds(size, versions, frames0, frames1):
  """Table rows: each version's median pairs/s and CPU s/pair over FLAGS.rounds rounds in which
  the versions take turns, and the median per-round ratio to the first version."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rates = {label: [] for label, _ in versions}
  cpus = {label: [] for label, _ in versions}
  with tf.device("/CPU:0"):
    for _ in range(FLAGS.rounds):
      for label, flow_fn in versions:
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(len(frames0)):
          flow_fn(frames0[i:i + 1], frames1[i:i + 1]).numpy()
        rates[label].append(len(frames0) / (time.perf_counter() - started))
        cpus[label].append((time.process_time() - cpu_started) / len(frames0))
      print(f"  {size} round: " + ", ".join(f"{k} {v[-1]:.3f} pairs/s" for k, v in rates.items())
            + f" (load {os.getloadavg()[0]:.1f})", flush=True)
  first = versions[0][0]
  rows = []
  for label, _ in versions:
    speedup = np.median(np.array(rates[label]) / np.array(rates[first]))
    work = np.median(np.array(cpus[first]) / np.array(cpus[label]))
    rows.append((size, label, f"{np.median(rates[label]):.3f}", f"{np.median(cpus[label]):.3f}",
                 f"{speedup:.2f}", f"{work:.2f}"))
  return rows


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
