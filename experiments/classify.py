"""Classifies video files with a model folder: the top-k classes and their probabilities per video.

  python -m experiments.classify --model_dir=checkpoints/rgb_imagenet --videos=a.mp4,b.avi
  python -m experiments.classify --model_dir=checkpoints/rgb_imagenet \
      --flow_model_dir=checkpoints/flow_imagenet --videos=clips/ --top_k=5 --json=labels.json
  python -m experiments.classify --model_dir=runs/rgb_ucf_s1 --videos='new/*.mp4' \
      --num_clips=4 --num_crops=3

--model_dir is a model folder: what import_deepmind_checkpoint writes or a training run's model_dir
(i3d_tf/checkpoints/runs.py); a two-stream model is one folder or an RGB folder plus
--flow_model_dir (logits summed, as the release does). --videos takes files, frame folders
(img_00001.jpg ..., --input_fps apart; a flow stream reads a folder's own denseflow flow frames,
flow_x_00001.jpg ..., where it holds them: --flow_source), folders (searched recursively for
both) and globs. Each
video goes through i3d_tf/video/model_input.py (25 fps, shorter side 256, flow only when a model
has a flow stream, centre crop), its first --max_frames frames (the
paper's test protocol: 250 frames, 10 s, whole, logits averaged over time by the model). With
--num_clips=N, N clips of --clip_frames evenly spaced over those frames; with --num_crops=3, three
crops along the longer side (Model Garden's num_test_clips / num_test_crops), 5 the four corners and
the centre, 10 those and their mirrors: the logits are averaged over clips and crops, then the
softmax. A video that cannot be decoded is reported and
skipped (exit status 1 at the end).

A long video's timeline: --window=64 --stride=32 classifies every 64-frame window every 32
frames of the whole video (streamed: at most --window + 1 frames held; --num_crops views averaged
per window) and prints each window's seconds and top-k, then the whole video's top-k (the mean of
the windows' logits); --timeline_dir=DIR writes DIR/<key>.timeline.json (every window's frames,
seconds and top-k) and DIR/<key>.timeline.csv (a line per window and rank), --plot also
DIR/<key>.timeline.png, the top classes' probabilities over time. Without --window: one label per
video, as above.

  python -m experiments.classify --model_dir=checkpoints/rgb_imagenet --videos=long.mp4 \
      --window=64 --stride=32 --timeline_dir=timeline --plot

Progress goes to stdout as it happens (flushed): a first line with the number of videos and views
per video, then per video '[i/N] PATH' when it starts, and when it is done its frames, views (e.g.
'4 clips x 3 crops = 12 views') and seconds, then its top-k rows.
"""
import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

from experiments import video_flags
from i3d_tf import entry
from i3d_tf.checkpoints import runs
from i3d_tf.evaluation import classify as classify_lib
from i3d_tf.video import decode
from i3d_tf.video import listing

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model folder: import_deepmind_checkpoint's --output_dir "
                    "or a training run's --model_dir.")
flags.DEFINE_string("flow_model_dir", None, "A Flow model folder to add to an RGB --model_dir "
                    "(two-stream: logits summed).")
flags.DEFINE_list("videos", None, "Video files, folders of videos, or globs, comma-separated.")
flags.DEFINE_integer("top_k", 5, "Classes to print per video.", lower_bound=1)
flags.DEFINE_integer("num_clips", 1, "Clips per video (1: the first --max_frames frames whole).",
                     lower_bound=1)
flags.DEFINE_integer("clip_frames", 64, "Frames per clip when --num_clips > 1.", lower_bound=1)
flags.DEFINE_enum("num_crops", "1", ["1", "3", "5", "10"], "1: the centre crop; 3: start, "
                  "centre and end of the longer side; 5: the four corners and the centre; 10: "
                  "those five and their mirrors (flow x negated).")
flags.DEFINE_integer("max_frames", None, "Frames read per video (default the model's "
                     "max_test_frames, 250 = 10 s).", lower_bound=1)
video_flags.define_flags()
flags.adopt_module_key_flags(video_flags)
flags.DEFINE_string("json", None, "Also write the results to this JSON file (atomically).")
flags.DEFINE_integer("window", None, "A timeline: top-k of each window of this many frames over "
                     "the whole video (default: one label for the video).", lower_bound=1)
flags.DEFINE_integer("stride", None, "Frames between the timeline's window starts (default "
                     "--window).", lower_bound=1)
flags.DEFINE_string("timeline_dir", None, "With --window: write <key>.timeline.json and "
                    "<key>.timeline.csv per video here (atomically).")
flags.DEFINE_bool("plot", False, "With --window and --timeline_dir: also <key>.timeline.png, the "
                  "top classes' probabilities over time (needs matplotlib).")
flags.mark_flags_as_required(["model_dir", "videos"])


def write_text_atomically(path, text):
  """`text` into `path` through a temporary file beside it: a killed run leaves no half file."""
  tmp = f"{path}.tmp-{os.getpid()}"
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)


def write_json_atomically(path, value):
  write_text_atomically(path, json.dumps(value, indent=2))


def _check_timeline_flags():
  """Usage errors of the timeline flags, before any model loads."""
  if FLAGS.window is None:
    for name in ("stride", "timeline_dir", "plot"):
      if FLAGS[name].present:
        raise app.UsageError(f"--{name} needs --window (a timeline of windows)")
    return
  if FLAGS.num_clips != 1:
    raise app.UsageError(f"--num_clips={FLAGS.num_clips} with --window: a timeline takes every "
                         f"window of the video; give one or the other")
  if FLAGS.plot:
    if not FLAGS.timeline_dir:
      raise app.UsageError("--plot: give --timeline_dir, where the PNGs go")
    try:
      import matplotlib  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
      raise app.UsageError("--plot needs matplotlib (pip install matplotlib)") from None


def run_timeline(classifier, path, key, num_crops):
  """Classifies `path` window by window: prints each window's top-k and writes the files; returns
  its JSON entry."""
  stride = FLAGS.stride or FLAGS.window
  windows, frames = classifier.timeline(path, FLAGS.window, stride, num_crops)
  rows = classify_lib.timeline_rows(windows, classifier.class_names, FLAGS.top_k)
  overall = classify_lib.top_k(np.mean([logits for _, logits in windows], axis=0),
                               classifier.class_names, FLAGS.top_k)
  for row in rows:
    labels = ", ".join(f"{b['probability']:.3f} {b['class']}" for b in row["top_k"])
    print(f"  {row['start_s']:8.2f}-{row['end_s']:8.2f} s  {labels}")
  print(f"  whole video (mean of {len(rows)} windows' logits):")
  for row in overall:
    print(f"  {row['probability']:.4f}  {row['class']}")
  sys.stdout.flush()
  entry = {"video": path, "fps": classifier.spec.fps, "window": FLAGS.window, "stride": stride,
           "frames": frames, "top_k": overall, "windows": rows}
  if FLAGS.timeline_dir:
    base = os.path.join(FLAGS.timeline_dir, key)
    write_json_atomically(base + ".timeline.json", entry)
    write_text_atomically(base + ".timeline.csv", classify_lib.timeline_csv(path, rows))
    if FLAGS.plot:
      tmp = f"{base}.timeline.tmp-{os.getpid()}.png"
      classify_lib.plot_timeline(tmp, windows, classifier.class_names,
                                 min(FLAGS.top_k, 5), title=key)
      os.replace(tmp, base + ".timeline.png")
  return entry


def main(argv):
  del argv
  _check_timeline_flags()
  try:
    videos = listing.list_videos(FLAGS.videos)
  except FileNotFoundError as e:
    raise app.UsageError(str(e)) from None
  try:
    runs.check_model_folder_flag("--model_dir", FLAGS.model_dir)
    if FLAGS.flow_model_dir:
      runs.check_model_folder_flag("--flow_model_dir", FLAGS.flow_model_dir)
  except runs.ModelFolderFlagError as e:
    raise app.UsageError(str(e)) from None
  num_crops = int(FLAGS.num_crops)
  models = FLAGS.model_dir + (f" + {FLAGS.flow_model_dir}" if FLAGS.flow_model_dir else "")
  print(f"classify: {len(videos)} video{'' if len(videos) == 1 else 's'}, "
        f"{classify_lib.views_text(FLAGS.num_clips, num_crops)} each; loading {models}",
        flush=True)
  classifier = classify_lib.Classifier(FLAGS.model_dir, FLAGS.flow_model_dir, FLAGS.flow_method,
                                       FLAGS.input_fps, FLAGS.flow_source, FLAGS.as_stored,
                                       FLAGS.shorter_side)
  results, failed = [], 0
  for number, (path, key) in enumerate(videos, 1):
    print(f"[{number}/{len(videos)}] {path}", flush=True)  # a long video: the user sees which
    started = time.monotonic()
    if FLAGS.window:
      try:
        results.append(run_timeline(classifier, path, key, num_crops))
      except (decode.VideoDecodeError, ValueError) as e:
        failed += 1
        print(f"{path}: ERROR {e}", flush=True)
        results.append({"video": path, "error": str(e)})
      continue
    try:
      logits, frames, views = classifier.classify(path, FLAGS.num_clips, FLAGS.clip_frames,
                                                  num_crops, FLAGS.max_frames)
    except (decode.VideoDecodeError, ValueError) as e:
      failed += 1
      print(f"{path}: ERROR {e}", flush=True)
      results.append({"video": path, "error": str(e)})
      continue
    best = classify_lib.top_k(logits, classifier.class_names, FLAGS.top_k)
    print("  " + classify_lib.video_done_text(frames, views, FLAGS.num_clips, num_crops,
                                               time.monotonic() - started))
    for row in best:
      print(f"  {row['probability']:.4f}  {row['class']}")
    sys.stdout.flush()
    results.append({"video": path, "frames": frames, "views": views, "top_k": best})
  if FLAGS.json:
    write_json_atomically(FLAGS.json, {
        "model_dir": os.path.abspath(FLAGS.model_dir),
        "flow_model_dir": FLAGS.flow_model_dir and os.path.abspath(FLAGS.flow_model_dir),
        "num_clips": FLAGS.num_clips, "num_crops": int(FLAGS.num_crops),
        "window": FLAGS.window, "stride": FLAGS.window and (FLAGS.stride or FLAGS.window),
        "videos": results})
  if failed:
    print(f"{failed} of {len(videos)} videos could not be classified", file=sys.stderr)
    sys.exit(1)


def console_main():
  """Entry point of the `i3d-classify` console script."""
  entry.run(main)  # absl's app.run, with --help exiting 0


if __name__ == "__main__":
  console_main()
