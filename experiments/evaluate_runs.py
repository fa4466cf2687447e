"""The library behind experiments/evaluate.py: evaluates training runs on a built dataset, with
two-stream fusion and the mean over splits, and writes the evaluation folder (metrics.json,
per_class_accuracy*.tsv, confusion_matrix*.png, logits_<run>.npz).

Flag-free, so that experiments/reproduce.py calls it in-process (its --data_dir would clash with
evaluate.py's flags); `evaluate(...)` takes evaluate.py's flags as arguments, same names, same
defaults.
"""
import json
import os

import numpy as np
import tqdm

from experiments import training_flags
from i3d_tf.data import pipeline
from i3d_tf.data import records
from i3d_tf.evaluation import metrics
from i3d_tf.evaluation import predict
from i3d_tf.checkpoints import runs


class UsageError(ValueError):
  """A flag (argument) of the evaluation is wrong; the message names it."""


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


def run_logits(run_dir, files, record_format, output_path, progress_desc, max_test_frames=None,
               eval_batch_size=1, max_videos=None):
  """(logits, labels, class names) of one run over `files`; the logits saved to output_path."""
  model, run = runs.load_run(run_dir)
  spec = runs.clip_spec_of_run(run, max_test_frames)
  dataset = pipeline.test_dataset(files, spec, eval_batch_size, record_format)
  if max_videos:
    dataset = dataset.unbatch().take(max_videos).batch(1)
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


def _check(run_dirs, fuse_run_dirs, splits, data_dir):
  """The split numbers of `run_dirs`; a UsageError naming the flag whose value does not fit."""
  if not data_dir:
    raise UsageError("--data_dir: the TFDS data_dir of the built shards")
  if fuse_run_dirs and len(fuse_run_dirs) != len(run_dirs):
    raise UsageError(f"--fuse_run_dirs has {len(fuse_run_dirs)} runs, --run_dirs {len(run_dirs)}")
  splits = list(splits or [str(i + 1) for i in range(len(run_dirs))])
  if len(splits) != len(run_dirs):
    raise UsageError(f"--splits has {len(splits)} entries, --run_dirs {len(run_dirs)}")
  try:  # every run checked before anything is written (the output goes inside the first)
    for flag, dirs in (("--run_dirs", run_dirs), ("--fuse_run_dirs", fuse_run_dirs)):
      for run_dir in dirs:
        runs.check_model_folder_flag(flag, run_dir)
  except runs.ModelFolderFlagError as e:
    raise UsageError(str(e)) from None
  return [int(s) for s in splits]


def _write_split_reports(output_dir, suffix, logits, labels, class_names, label, summary):
  """per_class_accuracy<suffix>.tsv and confusion_matrix<suffix>.png of one split."""
  num_classes = logits.shape[1]
  per_class = metrics.per_class_accuracy(logits, labels, num_classes)
  with open(os.path.join(output_dir, f"per_class_accuracy{suffix}.tsv"), "w") as f:
    f.write("class\tname\taccuracy\tvideos\n")
    counts = np.bincount(labels, minlength=num_classes)
    for c in range(num_classes):
      name = class_names[c] if c < len(class_names) else str(c)
      f.write(f"{c}\t{name}\t{per_class[c]:.4f}\t{counts[c]}\n")
  confusion_png(metrics.confusion_matrix(logits, labels, num_classes), class_names,
                os.path.join(output_dir, f"confusion_matrix{suffix}.png"),
                f"{label}: top-1 {summary['top1']:.3f}")


def _evaluate_split(i, split, args, output_dir, logits_files):
  """The summary of run_dirs[i] (fused with fuse_run_dirs[i]) on split `split`."""
  run_dir, fuse = args["run_dirs"][i], args["fuse_run_dirs"]
  dataset, data_dir, dataset_config = args["dataset"], args["data_dir"], args["dataset_config"]
  # A <builder>/<config> names its own build: no split number to show.
  where = "" if training_flags.is_tfds_name(dataset) else f" split {split}"
  data = training_flags.resolve_data(dataset, data_dir, num_classes=args["num_classes"],
                                     split_number=split, dataset_config=dataset_config)
  files = data.eval_files
  if args["eval_split"]:
    files = records.list_shards(
        data_dir, training_flags.tfds_name(dataset, split, dataset_config=dataset_config),
        args["eval_split"])
  options = dict(max_test_frames=args["max_test_frames"],
                 eval_batch_size=args["eval_batch_size"], max_videos=args["max_videos"])
  logits, labels, class_names = run_logits(
      run_dir, files, data.record_format, os.path.join(output_dir, logits_files["run"][i]),
      f"{os.path.basename(run_dir)}{where}", **options)
  if data.num_classes and logits.shape[1] != data.num_classes:
    raise ValueError(f"{run_dir} has {logits.shape[1]} outputs, --dataset={dataset} "
                     f"{data.num_classes} classes: evaluate a run on the data it was trained on")
  label = os.path.basename(os.path.normpath(run_dir))
  sources = {"run_dir": os.path.abspath(run_dir), "logits": logits_files["run"][i]}
  if fuse:
    other, other_labels, _ = run_logits(
        fuse[i], files, data.record_format, os.path.join(output_dir, logits_files["fused"][i]),
        f"{os.path.basename(fuse[i])}{where}", **options)
    sources.update(fuse_run_dir=os.path.abspath(fuse[i]), fuse_logits=logits_files["fused"][i])
    if not np.array_equal(labels, other_labels):
      raise ValueError(f"{run_dir} and {fuse[i]} saw different videos: cannot fuse")
    logits = metrics.fuse_two_stream(logits, other)
    label += "+" + os.path.basename(os.path.normpath(fuse[i]))
  summary = metrics.summary(logits, labels, logits.shape[1])
  summary.update(run=label, split=split, **sources)
  suffix = f"_split{split}" if len(args["run_dirs"]) > 1 else ""
  _write_split_reports(output_dir, suffix, logits, labels,
                       class_names or list(data.class_names or []), label, summary)
  print(f"{label}{where}: top-1 {summary['top1']:.4f}  top-5 {summary['top5']:.4f}  "
        f"mean class accuracy {summary['mean_class_accuracy']:.4f}  "
        f"({summary['num_examples']} videos)", flush=True)
  return summary


def evaluate(run_dirs, data_dir, dataset="kinetics400", fuse_run_dirs=None, splits=None,
             output_dir=None, eval_split=None, max_videos=None, eval_batch_size=1,
             max_test_frames=None, num_classes=None, dataset_config=None):
  """Evaluates `run_dirs` (one per split; fused with `fuse_run_dirs`) and writes output_dir
  (default <first run>/evaluation); returns the report of its metrics.json. The arguments are
  experiments/evaluate.py's flags; a UsageError names the one that is wrong."""
  run_dirs, fuse_run_dirs = list(run_dirs), list(fuse_run_dirs or [])
  split_numbers = _check(run_dirs, fuse_run_dirs, splits, data_dir)
  output_dir = output_dir or os.path.join(run_dirs[0], "evaluation")
  os.makedirs(output_dir, exist_ok=True)
  names = logits_names(run_dirs + fuse_run_dirs)
  logits_files = {"run": names[:len(run_dirs)], "fused": names[len(run_dirs):]}
  args = dict(run_dirs=run_dirs, fuse_run_dirs=fuse_run_dirs, dataset=dataset, data_dir=data_dir,
              dataset_config=dataset_config, num_classes=num_classes, eval_split=eval_split,
              max_test_frames=max_test_frames, eval_batch_size=eval_batch_size,
              max_videos=max_videos)
  results = [_evaluate_split(i, split, args, output_dir, logits_files)
             for i, split in enumerate(split_numbers)]
  report = {"dataset": dataset, "splits": results}
  if len(results) > 1:
    report["mean_over_splits"] = metrics.mean_over_splits(results)
    print("mean over splits: " + ", ".join(f"{k} {v:.4f}" for k, v in
                                          report["mean_over_splits"].items()), flush=True)
  with open(os.path.join(output_dir, "metrics.json"), "w") as f:
    json.dump(report, f, indent=2)
  print(f"Results in {output_dir}", flush=True)
  return report
