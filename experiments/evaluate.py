"""Evaluates training runs: top-1, top-5, per-class accuracy, a confusion-matrix PNG, two-stream
fusion of two runs, and the mean over the three UCF-101 / HMDB-51 splits.

  python -m experiments.evaluate --run_dirs=runs/i3d_rgb_kinetics400 --dataset=kinetics400 \
      --data_dir=data/tfds
  # Two-stream: RGB run + Flow run, logits summed as the release does:
  python -m experiments.evaluate --run_dirs=runs/rgb --fuse_run_dirs=runs/flow ...
  # Mean over the splits: one run per split, in split order 1,2,3:
  python -m experiments.evaluate --dataset=ucf101 --run_dirs=r1,r2,r3 --fuse_run_dirs=f1,f2,f3

Whole videos, centre crop, logits averaged over time by the model (the paper's test protocol); the
work is experiments/evaluate_runs.py's `evaluate` (what `reproduce` calls in-process).
Writes to --output_dir (default <first run>/evaluation): metrics.json, per_class_accuracy.tsv,
confusion_matrix.png and logits_<run>.npz per evaluated run: <run> is the run folder's name, with
its parent's (split1_i3d_rgb) where two runs share one, numbered where that is not enough; each
split's entry in metrics.json names its logits files and run folders.
"""
import logging as pylogging

from absl import app
from absl import flags

from experiments import evaluate_runs
from experiments import training_flags
from i3d_tf import entry
from i3d_tf.checkpoints import runs
from i3d_tf.data import pipeline
from i3d_tf.data import records
from i3d_tf.evaluation import metrics
from i3d_tf.evaluation import predict

FLAGS = flags.FLAGS
flags.DEFINE_list("run_dirs", None, "Training runs (model_dirs) to evaluate; one per split.")
flags.DEFINE_list("fuse_run_dirs", None, "Second-stream runs, fused with --run_dirs by summing "
                  "logits (two-stream I3D); same count and order as --run_dirs.")
training_flags.define_dataset_flags(default="kinetics400")
flags.DEFINE_string("data_dir", None, "TFDS data_dir of the built shards.")
flags.DEFINE_list("splits", None, "Split numbers of --run_dirs for --dataset=ucf101/hmdb51 "
                  "(default 1,2,3 in order).")
flags.DEFINE_string("eval_split", None, "Split name to evaluate (default: the dataset's test or "
                    "validation split).")
flags.DEFINE_integer("max_videos", None, "Evaluate at most this many videos.")
flags.DEFINE_integer("eval_batch_size", 1, "Videos per batch (equal lengths only).")
flags.DEFINE_integer("max_test_frames", None, "Longest video (default the run's, 250).")
flags.DEFINE_string("output_dir", None, "Where results go (default <first run>/evaluation).")
flags.DEFINE_integer("num_classes", None, "Classes, for --dataset=mediasequence.")
flags.mark_flag_as_required("run_dirs")


def main(argv):
  del argv
  pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  try:
    evaluate_runs.evaluate(
        FLAGS.run_dirs, FLAGS.data_dir, FLAGS.dataset, fuse_run_dirs=FLAGS.fuse_run_dirs,
        splits=FLAGS.splits, output_dir=FLAGS.output_dir, eval_split=FLAGS.eval_split,
        max_videos=FLAGS.max_videos, eval_batch_size=FLAGS.eval_batch_size,
        max_test_frames=FLAGS.max_test_frames, num_classes=FLAGS.num_classes,
        dataset_config=FLAGS.dataset_config)
  except evaluate_runs.UsageError as e:
    raise app.UsageError(str(e)) from None


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
