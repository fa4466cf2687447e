"""Seconds per minute of video for classify and extract_features: RGB, and two-stream with each flow
method (i3d_tf.video.flow.METHODS), on the release's full-size I3D (224 px crops, width 1.0).

  I3D_TF_SHARED=../shared python -m benchmarks.pretrained --seconds=4 --flow_seconds=2

A real clip (tai_chi.mp4, 340x256 at 29.97 fps, from ../shared/testdata/videos, or --video) is
looped into a video of --seconds (RGB) or --flow_seconds (two-stream) seconds; classify reads all
of it (one clip, centre crop), extract_features takes --window-frame windows every --stride frames,
Mixed_5c mean-pooled. Times are one call each after a warm-up call on a short video (model folders
loaded and functions traced beforehand: load and tracing are per process, not per minute of
video), scaled to a minute of video. Weights are random (speed does not depend on them). Prints a
markdown table and the load average.

  I3D_TF_SHARED=../shared python -m benchmarks.pretrained --binaries=dense --dense_seconds=1.2

Dense features (--binaries=dense): extract_features with --dense_window-frame windows at each of
--dense_strides (down to 1: a feature per frame) on --dense_seconds of video, RGB and RGB + flow
(flow.DEFAULT_METHOD), seconds per feature side by side; and at the smallest stride the same
windows made with nothing shared between windows (each window's frames cropped, scaled and its
flow computed for it alone, model_input.frames_to_inputs per window), the cost WindowReader's
per-frame reuse saves.
"""
import os
import tempfile
import time

from absl import app
from absl import flags
import cv2
import tensorflow as tf

from i3d_tf import entry
from i3d_tf.checkpoints import runs
from i3d_tf.evaluation import classify
from i3d_tf.evaluation import features
from i3d_tf.models import registry
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import model_input

FLAGS = flags.FLAGS
flags.DEFINE_string("video", None, "Source clip (default ../shared/testdata/videos/tai_chi.mp4)")
flags.DEFINE_float("seconds", 4.0, "Seconds of video for the RGB measurements")
flags.DEFINE_float("flow_seconds", 2.0, "Seconds of video for the two-stream measurements")
flags.DEFINE_list("flow_methods", None, "Flow methods (default every method of flow.METHODS but "
                  "'none')")
flags.DEFINE_integer("window", 64, "extract_features window (frames)")
flags.DEFINE_integer("stride", 64, "extract_features stride (frames)")
flags.DEFINE_list("binaries", ["classify", "extract_features"], "What to time: classify, "
                  "extract_features, dense")
flags.DEFINE_float("dense_seconds", 1.2, "Seconds of video for the dense measurements")
flags.DEFINE_integer("dense_window", 16, "Window of the dense measurements (frames)")
flags.DEFINE_list("dense_strides", ["16", "1"], "Strides of the dense measurements (frames)")


def _looped_video(source, seconds, path):
  """`seconds` of `source` looped, at its own size, written as mp4v at 25 fps."""
  frames = decode.read_video(source, shorter_side=None)
  height, width = frames.shape[1:3]
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height))
  for t in range(int(round(seconds * 25))):
    writer.write(cv2.cvtColor(frames[t % len(frames)], cv2.COLOR_RGB2BGR))
  writer.release()
  return path


def _model_folder(root, model_name, seed):
  """A model folder (run_config.json + ckpt-0) of `model_name` with random weights, 400 classes."""
  tf.keras.utils.set_random_seed(seed)
  model = registry.build_model(model_name, 400)
  model.build((None, None, 224, 224, 3 if model_name == "i3d_rgb" else 2))
  folder = os.path.join(root, model_name)
  os.makedirs(folder)
  runs.write_model_folder(folder, model, model_name, 400, {}, registry.get(model_name).input_spec)
  return folder


def _windows_alone(extractor, path, window, stride):
  """Features of every window with nothing shared between windows (the baseline of dense reuse):
  each window's inputs made by frames_to_inputs from its frames alone, flow included."""
  frames = decode.read_video(path)
  starts = [k * stride for k in range(model_input.num_windows(len(frames), window, stride))]
  values = []
  for start in starts:
    end = min(start + window, len(frames))
    after = frames[end] if end < len(frames) else None
    inputs = model_input.frames_to_inputs(frames[start:end], extractor.spec, after, 1, window)[0]
    values.append(extractor.window_features(inputs))
  return len(values)


def dense_rows(rgb_dir, flow_dir, video):
  """[(streams, stride, how, windows, seconds)] of dense extraction (see the docstring)."""
  rows = []
  strides = sorted({int(s) for s in FLAGS.dense_strides}, reverse=True)
  for label, method in (("RGB", None), (f"RGB + flow `{flow_lib.DEFAULT_METHOD}`",
                                        flow_lib.DEFAULT_METHOD)):
    for stride in strides:
      config = features.FeatureConfig(rgb_dir, flow_dir if method else None, "Mixed_5c",
                                      window=FLAGS.dense_window, stride=stride,
                                      flow_method=method or flow_lib.DEFAULT_METHOD)
      extractor = features.Extractor(config)
      out = tempfile.mkdtemp(prefix="dense_")
      # Warm-up on the timed video itself: tvl1_tf compiles per batch of pairs (shapes), once
      # per process, so a shorter warm-up would leave compilation in the timed call.
      features.extract_video(extractor, video, "warmup", out)
      started = time.time()
      record = features.extract_video(extractor, video, "v", out)
      rows.append((label, stride, "each frame once (WindowReader)", record["shape"][0],
                   time.time() - started))
      print(rows[-1], flush=True)
      if stride == strides[-1]:
        _windows_alone(extractor, video, FLAGS.dense_window, stride)  # warm-up, as above
        started = time.time()
        count = _windows_alone(extractor, video, FLAGS.dense_window, stride)
        rows.append((label, stride, "each window alone (baseline)", count,
                     time.time() - started))
        print(rows[-1], flush=True)
  return rows


def main(argv):
  del argv
  source = FLAGS.video
  if source is None:
    from tests.conftest import SHARED_DIR  # pylint: disable=import-outside-toplevel
    if SHARED_DIR is None:
      raise app.UsageError("--video: no ../shared to take tai_chi.mp4 from")
    source = str(SHARED_DIR / "testdata" / "videos" / "tai_chi.mp4")
  methods = FLAGS.flow_methods or [m for m in flow_lib.METHODS if m != "none"]
  load_start = os.getloadavg()
  rows = []
  with tempfile.TemporaryDirectory(prefix="i3d_tf_bench_") as root:
    rgb_dir = _model_folder(root, "i3d_rgb", 0)
    flow_dir = _model_folder(root, "i3d_flow", 1)
    videos = {s: _looped_video(source, s, os.path.join(root, f"v{s}.mp4"))
              for s in {FLAGS.seconds, FLAGS.flow_seconds, FLAGS.dense_seconds, 0.5, 0.6}}
    if "dense" in FLAGS.binaries:
      dense = dense_rows(rgb_dir, flow_dir, videos[FLAGS.dense_seconds])
    configs = [("RGB", None, FLAGS.seconds)] + [(f"RGB + flow `{m}`", m, FLAGS.flow_seconds)
                                               for m in methods]
    for label, method, seconds in configs:
      if "classify" in FLAGS.binaries:
        classifier = classify.Classifier(rgb_dir, flow_dir if method else None, method or "tvl1")
        classifier.classify(videos[0.5])  # traces the function, then for any length
        classifier.classify(videos[0.6])
        started = time.time()
        _, frames, _ = classifier.classify(videos[seconds], max_frames=int(seconds * 25) + 1)
        elapsed = time.time() - started
        rows.append(("classify", label, seconds, frames, elapsed))
        print(rows[-1], flush=True)
      if "extract_features" in FLAGS.binaries:
        config = features.FeatureConfig(rgb_dir, flow_dir if method else None, "Mixed_5c",
                                        window=FLAGS.window, stride=FLAGS.stride,
                                        flow_method=method or "tvl1")
        extractor = features.Extractor(config)
        out = os.path.join(root, "features")
        features.extract_video(extractor, videos[0.5], "warmup", out)
        started = time.time()
        record = features.extract_video(extractor, videos[seconds], "v", out)
        elapsed = time.time() - started
        rows.append(("extract_features", label, seconds, record["frames"], elapsed))
        print(rows[-1], flush=True)
  load_end = os.getloadavg()
  print(f"\nload average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end; "
        f"extract_features windows of {FLAGS.window} every {FLAGS.stride} frames\n")
  print("| binary | streams | video timed | seconds | seconds per minute of video |")
  print("|---|---|---|---|---|")
  for binary, label, seconds, frames, elapsed in rows:
    print(f"| {binary} | {label} | {seconds:g} s ({frames} frames) | {elapsed:.1f} | "
          f"{elapsed * 60 / seconds:.0f} |")
  if "dense" in FLAGS.binaries:
    print(f"\nDense: windows of {FLAGS.dense_window} frames over {FLAGS.dense_seconds:g} s "
          f"({int(round(FLAGS.dense_seconds * 25))} frames)\n")
    print("| streams | stride | inputs made | features | seconds | seconds per feature |")
    print("|---|---|---|---|---|---|")
    for label, stride, how, count, elapsed in dense:
      print(f"| {label} | {stride} | {how} | {count} | {elapsed:.1f} | {elapsed / count:.2f} |")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
