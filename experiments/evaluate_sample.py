"""The release's evaluate_sample.py on our model: logits of the sample clip from DeepMind's weights.

  python -m experiments.evaluate_sample --eval_type=joint --imagenet_pretrained=true \
      --data_dir=PATH/kinetics-i3d/data

Flags as in the release (--eval_type=rgb|rgb600|flow|joint, --imagenet_pretrained), plus where the
release's data/ folder is (--data_dir) and, to override its default layout, the checkpoints, the
.npy inputs and the label map. Prints what the release prints: 'Norm of logits: %f', a blank line,
'Top classes and probabilities', then the top 20 `probability logit class` rows, so the output can
be compared with the release's (../shared/reference/kinetics_i3d/sample_outputs/). 'joint' is the
release's two-stream model: the sum of the RGB and Flow logits, and the softmax of that sum.
"""
import os

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from i3d_tf import entry
from i3d_tf import labels
from i3d_tf.checkpoints import deepmind

FLAGS = flags.FLAGS
flags.DEFINE_enum("eval_type", "joint", ["rgb", "rgb600", "flow", "joint"],
                  "Which model to run (as in the release)")
flags.DEFINE_boolean("imagenet_pretrained", True, "Use the checkpoints trained from ImageNet-"
                     "inflated weights (rgb_imagenet, flow_imagenet) rather than from scratch; "
                     "rgb600 has only a from-scratch checkpoint")
flags.DEFINE_string("data_dir", "data", "The release's data/ folder: checkpoints/, the sample "
                    ".npy files and the label maps")
flags.DEFINE_string("rgb_checkpoint", None, "RGB checkpoint prefix (default: DATA_DIR/checkpoints/"
                    "rgb_imagenet|rgb_scratch|rgb_scratch_kin600/model.ckpt)")
flags.DEFINE_string("flow_checkpoint", None, "Flow checkpoint prefix (default: DATA_DIR/"
                    "checkpoints/flow_imagenet|flow_scratch/model.ckpt)")
flags.DEFINE_string("rgb_sample", None, "RGB input .npy [1, T, 224, 224, 3] in [-1, 1] (default: "
                    "DATA_DIR/v_CricketShot_g04_c01_rgb.npy)")
flags.DEFINE_string("flow_sample", None, "Flow input .npy [1, T, 224, 224, 2] in [-1, 1] "
                    "(default: DATA_DIR/v_CricketShot_g04_c01_flow.npy)")
flags.DEFINE_string("label_map", None, "Class names (default: DATA_DIR/label_map.txt, or "
                    "label_map_600.txt for rgb600)")

IMAGE_SIZE = 224
SAMPLE_NAME = "v_CricketShot_g04_c01"
TOP_K = 20
_CHANNELS = {"rgb": 3, "flow": 2}


def default_paths(data_dir, eval_type, imagenet_pretrained):
  """The release's file layout under its data/ folder, for this eval type."""
  trained = "imagenet" if imagenet_pretrained else "scratch"
  rgb = "rgb_scratch_kin600" if eval_type == "rgb600" else f"rgb_{trained}"
  return {
      "rgb_checkpoint": os.path.join(data_dir, "checkpoints", rgb, "model.ckpt"),
      "flow_checkpoint": os.path.join(data_dir, "checkpoints", f"flow_{trained}", "model.ckpt"),
      "rgb_sample": os.path.join(data_dir, f"{SAMPLE_NAME}_rgb.npy"),
      "flow_sample": os.path.join(data_dir, f"{SAMPLE_NAME}_flow.npy"),
      "label_map": os.path.join(
          data_dir, "label_map_600.txt" if eval_type == "rgb600" else "label_map.txt"),
  }


def load_sample(path, stream):
  """The release's sample input: float32 [1, T, 224, 224, C]."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{stream} sample {path} does not exist (--{stream}_sample)")
  sample = np.load(path).astype(np.float32)
  expected = f"[1, T, {IMAGE_SIZE}, {IMAGE_SIZE}, {_CHANNELS[stream]}]"
  if sample.ndim != 5 or sample.shape[2:] != (IMAGE_SIZE, IMAGE_SIZE, _CHANNELS[stream]):
    raise ValueError(f"{stream} sample {path} has shape {list(sample.shape)}; expected {expected}")
  return sample


def evaluate(eval_type, paths):
  """Returns (logits [classes], probabilities [classes], class names), float32 as the release."""
  if eval_type == "joint":
    # The release's two-stream model: RGB logits + Flow logits, softmax of the sum.
    model = deepmind.load_two_stream_checkpoints(paths["rgb_checkpoint"], paths["flow_checkpoint"])
    inputs = {s: tf.constant(load_sample(paths[f"{s}_sample"], s)) for s in ("rgb", "flow")}
  else:
    stream = "flow" if eval_type == "flow" else "rgb"
    model = deepmind.load_deepmind_checkpoint(paths[f"{stream}_checkpoint"], stream=stream)
    inputs = tf.constant(load_sample(paths[f"{stream}_sample"], stream))
  logits = model(inputs, training=False)  # [1, classes]
  probabilities = tf.nn.softmax(logits)
  logits, probabilities = logits.numpy()[0], probabilities.numpy()[0]
  class_names = labels.read_label_map(paths["label_map"], num_classes=logits.shape[-1])
  return logits, probabilities, class_names


def format_output(logits, probabilities, class_names, top_k=TOP_K):
  """The release's printout, line for line."""
  lines = ["Norm of logits: %f" % np.linalg.norm(logits), "", "Top classes and probabilities"]
  for index in np.argsort(probabilities)[::-1][:top_k]:
    # print(prob, logit, class) of numpy float32 scalars, as the release does
    lines.append(" ".join(str(x) for x in (probabilities[index], logits[index],
                                           class_names[index])))
  return "\n".join(lines)


def main(argv):
  del argv
  paths = default_paths(FLAGS.data_dir, FLAGS.eval_type, FLAGS.imagenet_pretrained)
  for key in paths:
    if getattr(FLAGS, key) is not None:
      paths[key] = getattr(FLAGS, key)
  streams = ("rgb", "flow") if FLAGS.eval_type == "joint" else (
      ("flow",) if FLAGS.eval_type == "flow" else ("rgb",))
  for key in [f"{s}_checkpoint" for s in streams] + [f"{s}_sample" for s in streams]:
    path = paths[key] + (".index" if key.endswith("_checkpoint") else "")
    if not os.path.exists(path):
      raise app.UsageError(f"--{key}: {path} does not exist (set --data_dir to the release's data/ "
                           f"folder, e.g. kinetics-i3d/data, or --{key} itself)")
  logits, probabilities, class_names = evaluate(FLAGS.eval_type, paths)
  print(format_output(logits, probabilities, class_names))


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
