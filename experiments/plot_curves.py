"""Training and validation curves of a run as a PNG: loss, top-1 and learning rate against steps.

  python -m experiments.plot_curves --run_dir=runs/kinetics400/i3d_rgb_imagenet [--output=curves.png]

Reads the run's TensorBoard scalars (train/ and eval/ event files, written by the training loop)
and, for steps the events lack, the history in metrics.json (one entry per evaluation).
Default output: <run_dir>/curves.png.
"""
import glob
import json
import os

from absl import flags
import numpy as np
import tensorflow as tf

from i3d_tf import entry


def read_event_scalars(directory):
  """{tag: [(step, value)]} from the TensorBoard event files in `directory`."""
  scalars = {}
  for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.HasField("tensor"):
          number = float(np.asarray(tf.make_ndarray(value.tensor)).reshape(-1)[0])
        elif value.HasField("simple_value"):
          number = float(value.simple_value)
        else:
          continue
        scalars.setdefault(value.tag, []).append((int(event.step), number))
  return {tag: sorted(dict(points).items()) for tag, points in scalars.items()}


def read_curves(run_dir):
  """{'train': {tag: [(step, value)]}, 'eval': {...}} from events, completed by metrics.json."""
  curves = {"train": read_event_scalars(os.path.join(run_dir, "train")),
            "eval": read_event_scalars(os.path.join(run_dir, "eval"))}
  path = os.path.join(run_dir, "metrics.json")
  if os.path.exists(path):
    with open(path) as f:
      history = json.load(f).get("history", [])
    for entry in history:
      for split in ("train", "eval"):
        for tag, value in (entry.get(split) or {}).items():
          if not isinstance(value, (int, float)):
            continue
          points = dict(curves[split].get(tag, []))
          points.setdefault(int(entry["step"]), float(value))
          curves[split][tag] = sorted(points.items())
  return curves


PANELS = (("loss", "loss"), ("top-1", "top1"), ("learning rate", "learning_rate"))


def _find(scalars, key):
  for tag, points in scalars.items():
    if tag == key or tag.endswith("/" + key) or tag.replace("-", "") == key:
      return points
  return []


def plot(curves, path, title=""):
  """Writes the PNG; returns the number of curves drawn."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.6))
  drawn = 0
  for ax, (label, key) in zip(axes, PANELS):
    for split, style in (("train", ".-"), ("eval", "o-")):
      points = _find(curves[split], key)
      if points:
        steps, values = zip(*points)
        ax.plot(steps, values, style, label="validation" if split == "eval" else "training",
                markersize=3)
        drawn += 1
    ax.set_xlabel("step")
    ax.set_title(label)
    if ax.get_legend_handles_labels()[0]:
      ax.legend()
  fig.suptitle(title)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return drawn


FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a binary, so that tests and other binaries can import this."""
  flags.DEFINE_string("run_dir", None, "The training run (model_dir).")
  flags.DEFINE_string("output", None, "PNG to write (default <run_dir>/curves.png).")
  flags.mark_flag_as_required("run_dir")


def main(argv):
  del argv
  curves = read_curves(FLAGS.run_dir)
  output = FLAGS.output or os.path.join(FLAGS.run_dir, "curves.png")
  drawn = plot(curves, output, os.path.basename(os.path.normpath(FLAGS.run_dir)))
  if not drawn:
    raise SystemExit(f"--run_dir={FLAGS.run_dir}: no scalars in train/, eval/ or metrics.json")
  print(f"{drawn} curves -> {output}")


if __name__ == "__main__":
  define_flags()
  entry.run(main)  # absl's app.run, with --help exiting 0
