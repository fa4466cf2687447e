"""Classifies video files with a model folder: the top-k classes and their probabilities per video.

  python -m experiments.classify --model_dir=checkpoints/rgb_imagenet --videos=a.mp4,b.avi
  python -m experiments.classify --model_dir=checkpoints/rgb_imagenet \
      --flow_model_dir=checkpoints/flow_imagenet --videos=clips/ --top_k=5 --json=labels.json
  python -m experiments.classify --model_dir=runs/rgb_ucf_s1 --videos='new/*.mp4' \
      --num_clips=4 --num_crops=3

--model_dir is a model folder: what import_deepmind_checkpoint writes or a training run's model_dir
(i3d_tf/checkpoints/runs.py); a two-stream model is one folder or an RGB folder plus
--flow_model_dir (logits summed, as the release does). --videos takes files, folders (searched
recursively) and globs. Each video goes through i3d_tf/video/model_input.py (25 fps, shorter side
256, flow only when a model has a flow stream, centre crop), its first --max_frames frames (the
paper's test protocol: 250 frames, 10 s, whole, logits averaged over time by the model). With
--num_clips=N, N clips of --clip_frames evenly spaced over those frames; with --num_crops=3, three
crops along the longer side (Model Garden's num_test_clips / num_test_crops), 5 the four corners and
the centre, 10 those and their mirrors: the logits are averaged over clips and crops, then the
softmax. A video that cannot be decoded is reported and
skipped (exit status 1 at the end).

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

from i3d_tf import entry
from i3d_tf.checkpoints import runs
from i3d_tf.evaluation import classify as classify_lib
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
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
flags.DEFINE_enum("flow_method", flow_lib.DEFAULT_METHOD, [m for m in flow_lib.METHODS if m != "none"],
                  "Flow for a model with a flow stream (i3d_tf.video.flow.METHODS): tvl1_tf, "
                  "OpenCV's TV-L1 in TensorFlow (XLA), or tvl1, OpenCV's own (the reference).")
flags.DEFINE_string("json", None, "Also write the results to this JSON file (atomically).")
flags.mark_flags_as_required(["model_dir", "videos"])


def write_json_atomically(path, value):
  tmp = f"{path}.tmp-{os.getpid()}"
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2)
  os.replace(tmp, path)


def main(argv):
  del argv
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
  classifier = classify_lib.Classifier(FLAGS.model_dir, FLAGS.flow_model_dir, FLAGS.flow_method)
  results, failed = [], 0
  for number, (path, _) in enumerate(videos, 1):
    print(f"[{number}/{len(videos)}] {path}", flush=True)  # a long video: the user sees which
    started = time.monotonic()
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
        "num_clips": FLAGS.num_clips, "num_crops": int(FLAGS.num_crops), "videos": results})
  if failed:
    print(f"{failed} of {len(videos)} videos could not be classified", file=sys.stderr)
    sys.exit(1)


def console_main():
  """Entry point of the `i3d-classify` console script."""
  entry.run(main)  # absl's app.run, with --help exiting 0


if __name__ == "__main__":
  console_main()
