"""Evaluates training runs: top-1, top-5, per-class accuracy, a confusion-matrix PNG, two-stream
fusion of two runs, and the mean over the three UCF-101 / HMDB-51 splits.

  python -m experiments.evaluate --run_dirs=runs/i3d_rgb_kinetics400 --dataset=kinetics400 \
      --data_dir=data/tfds
  # Two-stream: RGB run + Flow run, logits summed as the release does:
  python -m experiments.evaluate --run_dirs=runs/rgb --fuse_run_dirs=runs/flow ...
  # Mean over the splits: one run per split, in split order 1,2,3:
  python -m experiments.evaluate --dataset=ucf101 --run_dirs=r1,r2,r3 --fuse_run_dirs=f1,f2,f3

Whole videos, centre crop, logits averaged over time by the model (the paper's test protocol).
Writes to --output_dir (default <first run>/evaluation): metrics.json, per_class_accuracy.tsv,
confusion_matrix.png and logits_<run>.npz per evaluated run: <run> is the run folder's name, with
its parent's (split1_i3d_rgb) where two runs share one, numbered where that is not enough; each
split's entry in metrics.json names its logits files and run folders.
"""
import json
import logging as pylogging
import os

from absl import app
from absl import flags
import numpy as np
import tqdm

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


def logits_names(run_dirs):
  """A distinct logits_<run>.npz name per entry of `run_dirs` (the same run twice is two entries).

  The run folder's name; where entries share it, '<parent>_<name>' (runs/ucf101_split1/i3d_rgb ->
  ucf101_split1_i3d_rgb); where that is shared too, numbered in order (_1, _2, ...).
  """
  parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in run_dirs]
  names = [p[-1] for p in parts]
  names = [f"{p[-2]}_{p[-1]}" if names.count(n) > 1 and len(p) > 1 and p[-2] else n
           for n, p in zip(names, parts)]
  counts, seen, unique = {n: names.count(n) for n in names}, {}, []
  for n in names:
    if counts[n] > 1:
      seen[n] = seen.get(n, 0) + 1
      n = f"{n}_{seen[n]}"
    unique.append(f"logits_{n}.npz")
  return unique


def run_logits(run_dir, files, record_format, output_path, progress_desc):
  """(logits, labels, class names) of one run over `files`; the logits saved to output_path."""
  model, run = runs.load_run(run_dir)
  spec = runs.clip_spec_of_run(run, FLAGS.max_test_frames)
  dataset = pipeline.test_dataset(files, spec, FLAGS.eval_batch_size, record_format)
  if FLAGS.max_videos:
    dataset = dataset.unbatch().take(FLAGS.max_videos).batch(1)
  bar = tqdm.tqdm(desc=progress_desc, unit="video")
  last = [0]

  def progress(done):
    bar.update(done - last[0])
    last[0] = done

  logits, labels = predict.predict_logits(model, dataset, progress=progress)
  bar.close()
  np.savez(output_path, logits=logits, labels=labels)
  return logits, labels, run.get("class_names") or None


def confusion_png(matrix, class_names, path, title):
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  n = matrix.shape[0]
  size = min(4 + n * 0.12, 30)
  fig, ax = plt.subplots(figsize=(size, size))
  rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
  image = ax.imshow(rows, cmap="viridis", vmin=0, vmax=1)
  ax.set_xlabel("predicted class")
  ax.set_ylabel("true class")
  ax.set_title(title)
  if class_names and n <= 60:
    ax.set_xticks(range(n), class_names, rotation=90, fontsize=6)
    ax.set_yticks(range(n), class_names, fontsize=6)
  fig.colorbar(image, ax=ax, fraction=0.046)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv):
  del argv
  pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  if not FLAGS.data_dir:
    raise app.UsageError("--data_dir: the TFDS data_dir of the built shards")
  fuse = FLAGS.fuse_run_dirs or []
  if fuse and len(fuse) != len(FLAGS.run_dirs):
    raise app.UsageError(f"--fuse_run_dirs has {len(fuse)} runs, --run_dirs {len(FLAGS.run_dirs)}")
  splits = FLAGS.splits or [str(i + 1) for i in range(len(FLAGS.run_dirs))]
  if len(splits) != len(FLAGS.run_dirs):
    raise app.UsageError(f"--splits has {len(splits)} entries, --run_dirs {len(FLAGS.run_dirs)}")
  try:  # every run checked before anything is written (the output goes inside the first)
    for flag, run_dirs in (("--run_dirs", FLAGS.run_dirs), ("--fuse_run_dirs", fuse)):
      for run_dir in run_dirs:
        runs.check_model_folder_flag(flag, run_dir)
  except runs.ModelFolderFlagError as e:
    raise app.UsageError(str(e)) from None
  output_dir = FLAGS.output_dir or os.path.join(FLAGS.run_dirs[0], "evaluation")
  os.makedirs(output_dir, exist_ok=True)
  results = []
  names = logits_names(list(FLAGS.run_dirs) + list(fuse))
  logits_files = {"run": names[:len(FLAGS.run_dirs)], "fused": names[len(FLAGS.run_dirs):]}
  for i, run_dir in enumerate(FLAGS.run_dirs):
    split = int(splits[i])
    # A <builder>/<config> names its own build: no split number to show.
    where = "" if training_flags.is_tfds_name(FLAGS.dataset) else f" split {split}"
    data = training_flags.resolve_data(FLAGS.dataset, FLAGS.data_dir, num_classes=FLAGS.num_classes,
                                       split_number=split, dataset_config=FLAGS.dataset_config)
    files = data.eval_files
    if FLAGS.eval_split:
      files = records.list_shards(
          FLAGS.data_dir, training_flags.tfds_name(FLAGS.dataset, split,
                                                   dataset_config=FLAGS.dataset_config),
          FLAGS.eval_split)
    logits, labels, class_names = run_logits(
        run_dir, files, data.record_format, os.path.join(output_dir, logits_files["run"][i]),
        f"{os.path.basename(run_dir)}{where}")
    if data.num_classes and logits.shape[1] != data.num_classes:
      raise ValueError(f"{run_dir} has {logits.shape[1]} outputs, --dataset={FLAGS.dataset} "
                       f"{data.num_classes} classes: evaluate a run on the data it was trained on")
    label = os.path.basename(os.path.normpath(run_dir))
    sources = {"run_dir": os.path.abspath(run_dir), "logits": logits_files["run"][i]}
    if fuse:
      other, other_labels, _ = run_logits(
          fuse[i], files, data.record_format, os.path.join(output_dir, logits_files["fused"][i]),
          f"{os.path.basename(fuse[i])}{where}")
      sources.update(fuse_run_dir=os.path.abspath(fuse[i]), fuse_logits=logits_files["fused"][i])
      if not np.array_equal(labels, other_labels):
        raise ValueError(f"{run_dir} and {fuse[i]} saw different videos: cannot fuse")
      logits = metrics.fuse_two_stream(logits, other)
      label += "+" + os.path.basename(os.path.normpath(fuse[i]))
    class_names = class_names or list(data.class_names or [])
    num_classes = logits.shape[1]
    summary = metrics.summary(logits, labels, num_classes)
    summary.update(run=label, split=split, **sources)
    results.append(summary)
    per_class = metrics.per_class_accuracy(logits, labels, num_classes)
    suffix = f"_split{split}" if len(FLAGS.run_dirs) > 1 else ""
    with open(os.path.join(output_dir, f"per_class_accuracy{suffix}.tsv"), "w") as f:
      f.write("class\tname\taccuracy\tvideos\n")
      counts = np.bincount(labels, minlength=num_classes)
      for c in range(num_classes):
        name = class_names[c] if c < len(class_names) else str(c)
        f.write(f"{c}\t{name}\t{per_class[c]:.4f}\t{counts[c]}\n")
    confusion_png(metrics.confusion_matrix(logits, labels, num_classes), class_names,
                  os.path.join(output_dir, f"confusion_matrix{suffix}.png"),
                  f"{label}: top-1 {summary['top1']:.3f}")
    print(f"{label}{where}: top-1 {summary['top1']:.4f}  top-5 {summary['top5']:.4f}  "
          f"mean class accuracy {summary['mean_class_accuracy']:.4f}  "
          f"({summary['num_examples']} videos)", flush=True)
  report = {"dataset": FLAGS.dataset, "splits": results}
  if len(results) > 1:
    report["mean_over_splits"] = metrics.mean_over_splits(results)
    print("mean over splits: " + ", ".join(f"{k} {v:.4f}" for k, v in
                                          report["mean_over_splits"].items()), flush=True)
  with open(os.path.join(output_dir, "metrics.json"), "w") as f:
    json.dump(report, f, indent=2)
  print(f"Results in {output_dir}", flush=True)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
