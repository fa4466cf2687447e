r"""Preprocessing benchmark: decoding, TV-L1, building examples, bytes stored.

  python -m benchmarks.preprocess [--videos=a.mp4,b.mkv] [--pairs=4] [--build_seconds=2]

Prints a markdown table (for BENCHMARKS.md) with the machine's load average:
- decode + resize to 25 fps / shorter side 256: frames per second (read_video on whole clips);
- TV-L1 seconds per frame pair at 256x340 ('tvl1' = OpenCV defaults, 'tvl1_fast'), with
  OpenCV's default thread count and with 1 thread (what each local build worker uses);
- building one stored example (decode + flow + JPEG/PNG encoding, the builders' per-video
  function `datasets.common.video_example.process_video` when present): seconds per second of
  video, and bytes per second of video and per 10 s Kinetics clip;
- the synthetic set's per-video cost at its small sizes.
"""
import functools
import os
import statistics
import time

from absl import app
from absl import flags
import cv2
import numpy as np

from i3d_tf import entry
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import synthetic

_DEFAULT_VIDEOS = ("clean_and_jerk.mp4", "skateboarding.mp4", "tai_chi.mp4",
                   "flipping_a_pancake.mkv", "v_ApplyEyeMakeup_g01_c01.avi")

flags.DEFINE_list("videos", None, "Videos to time (default: ../shared/testdata/videos clips).")
flags.DEFINE_integer("pairs", 4, "Frame pairs per clip for the TV-L1 timing.")
flags.DEFINE_float("build_seconds", 2.0, "Seconds of each clip to build into an example.")
flags.DEFINE_integer("synthetic_videos", 4, "Synthetic videos per size to time.")
FLAGS = flags.FLAGS


def _default_videos():
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  shared = os.environ.get("I3D_TF_SHARED") or os.path.join(os.path.dirname(here), "shared")
  folder = os.path.join(shared, "testdata", "videos")
  paths = [os.path.join(folder, v) for v in _DEFAULT_VIDEOS]
  present = [p for p in paths if os.path.isfile(p)]
  if not present:
    raise app.UsageError(f"no videos: pass --videos (none of the defaults is in {folder})")
  return present


def time_decode(paths):
  """(frames, seconds) of read_video at 25 fps, shorter side 256, over all clips."""
  frames, seconds = 0, 0.0
  for path in paths:
    started = time.perf_counter()
    frames += len(decode.read_video(path))
    seconds += time.perf_counter() - started
  return frames, seconds


def time_tvl1(paths, method, pairs, threads):
  """Median seconds per frame pair at 256x340 (the centre 340 columns of each clip)."""
  previous = cv2.getNumThreads()
  cv2.setNumThreads(threads)
  try:
    timings = []
    for path in paths:
      frames = decode.read_video(path, end_s=(pairs + 1) / 25.0)[:pairs + 1]
      left = max(0, (frames.shape[2] - 340) // 2)
      frames = np.ascontiguousarray(frames[:, :256, left:left + 340])
      gray = flow_lib.to_gray(frames)
      tvl1 = flow_lib.make_tvl1(method)
      for t in range(len(gray) - 1):
        started = time.perf_counter()
        tvl1.calc(gray[t], gray[t + 1], None)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), len(timings)
  finally:
    cv2.setNumThreads(previous)


def _own_process(path, method, seconds):
  """Fallback when the builders' process_video is absent: decode + flow + encode, timed."""
  started = time.perf_counter()
  frames = decode.read_video(path, end_s=seconds)
  flow = flow_lib.to_image(flow_lib.compute_flow(frames, method))
  encoded = [cv2.imencode(".jpg", np.ascontiguousarray(f[..., ::-1]),
                          [int(cv2.IMWRITE_JPEG_QUALITY), 95])[1].tobytes() for f in frames]
  encoded_flow = [cv2.imencode(".png", np.ascontiguousarray(f[..., ::-1]))[1].tobytes()
                  for f in flow]
  return (time.perf_counter() - started, len(frames), sum(map(len, encoded)),
          sum(map(len, encoded_flow)))


def _builders_process(path, method, seconds):
  from datasets.common import video_example  # pylint: disable=g-import-not-at-top
  options = video_example.EncodeOptions(flow_method=method, max_seconds=seconds)
  item = video_example.VideoItem(key=os.path.basename(path), path=path, label=0)
  result = video_example.process_video(item, options)
  if result.skipped:
    raise RuntimeError(f"{path}: {result.skip_reason}")
  example = result.example
  return (result.seconds, result.num_frames, sum(map(len, example["rgb"])),
          sum(map(len, example["flow"])))


def process_function():
  """The builders' per-video function if importable, else this file's own equivalent."""
  try:
    from datasets.common import video_example  # pylint: disable=g-import-not-at-top,unused-import
    return _builders_process, "datasets.common.video_example.process_video"
  except ImportError:
    return _own_process, "decode + compute_flow + cv2 JPEG 95 / PNG (benchmark's own)"


def time_build(paths, method, seconds):
  """Build seconds per video second, rgb and flow bytes per video second."""
  process, _ = process_function()
  total_s = total_frames = rgb_bytes = flow_bytes = 0
  for path in paths:
    took, frames, rgb, flow = process(path, method, seconds)
    total_s += took
    total_frames += frames
    rgb_bytes += rgb
    flow_bytes += flow
  video_seconds = total_frames / decode.DEFAULT_FPS
  return total_s / video_seconds, rgb_bytes / video_seconds, flow_bytes / video_seconds


def time_synthetic(method, num_frames, size, count):
  """Seconds per synthetic video (generate + flow) at one size."""
  started = time.perf_counter()
  for seed in range(count):
    frames = synthetic.make_video(seed % synthetic.NUM_CLASSES, seed, num_frames, size, size)
    flow_lib.compute_flow(frames, method)
  return (time.perf_counter() - started) / count


def main(argv):
  del argv
  paths = FLAGS.videos or _default_videos()
  load = os.getloadavg()
  print(f"OpenCV {cv2.__version__}, {os.cpu_count()} cores, OpenCV threads "
        f"{cv2.getNumThreads()}, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
  print(f"clips: {', '.join(os.path.basename(p) for p in paths)}\n")
  print("| measure | value |")
  print("|---|---|")
  frames, seconds = time_decode(paths)
  print(f"| decode + resize (25 fps, shorter side 256) | {frames / seconds:.0f} frames/s "
        f"({frames} frames in {seconds:.1f} s) |")
  for method in ("tvl1", "tvl1_fast"):
    for threads in (cv2.getNumThreads(), 1):
      median, count = time_tvl1(paths, method, FLAGS.pairs, threads)
      print(f"| TV-L1 '{method}' at 256x340, {threads} thread(s) | {median:.3f} s/pair "
            f"(median of {count}) |")
  _, process_name = process_function()
  for method in ("tvl1", "tvl1_fast"):
    per_second, rgb_rate, flow_rate = time_build(paths, method, FLAGS.build_seconds)
    print(f"| build '{method}' ({process_name}, first {FLAGS.build_seconds:g} s of each clip) | "
          f"{per_second:.1f} s per second of video |")
    if method == "tvl1":
      print(f"| bytes per second of video (rgb JPEG + flow PNG) | {rgb_rate / 1e3:.0f} kB + "
            f"{flow_rate / 1e3:.0f} kB; a 10 s Kinetics clip: "
            f"{10 * (rgb_rate + flow_rate) / 1e6:.1f} MB |")
  for num_frames, size in ((16, 64), (32, 112)):
    for method in ("tvl1", "tvl1_fast"):
      per_video = time_synthetic(method, num_frames, size, FLAGS.synthetic_videos)
      print(f"| synthetic video {num_frames}x{size}x{size} + '{method}' flow | "
            f"{per_video:.2f} s/video |")
  load = os.getloadavg()
  print(f"\nload average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
