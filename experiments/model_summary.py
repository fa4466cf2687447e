"""Parameter count and input spec (paper, Table 1) of a registered model.

  python -m experiments.model_summary --model=c3d [--num_classes=400] [--json]

Builds the model without running it at full size and prints its trainable parameters (what
Table 1 counts), all parameters (with batch-norm statistics) and the frames and temporal
footprint it takes in training and at test.
"""
import json

import numpy as np
from absl import app
from absl import flags

from i3d_tf import entry
from i3d_tf.models import registry

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "registered model name (see i3d_tf/models/registry.py)")
flags.DEFINE_integer("num_classes", 400, "number of classes (400 = Kinetics-400)")
flags.DEFINE_bool("json", False, "print one JSON object instead of a table")
flags.mark_flag_as_required("model")


def stream_summary(stream):
  test_frames = stream.test_frames
  return {
      "name": stream.name, "channels": stream.channels,
      "train_frames": stream.train_frames, "test_frames": test_frames,
      "frame_stride": stream.frame_stride,
      "train_footprint_s": stream.train_footprint_s,
      "test_footprint_s": (None if test_frames is None
                           else test_frames * stream.frame_stride / registry.FPS),
  }


def summarize(name, num_classes):
  """{model, trainable_params, total_params, paper_params_millions, input_spec, ...}."""
  spec = registry.get(name)
  model = spec.build(num_classes)
  if not model.built:
    streams = spec.input_spec.streams
    model.build((None, None, None, None, streams[0].channels) if len(streams) == 1 else None)
  trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
  total = sum(int(np.prod(v.shape)) for v in model.weights)
  return {
      "model": name, "description": spec.description, "num_classes": num_classes,
      "trainable_params": trainable, "total_params": total,
      "paper_params_millions": spec.paper_params_millions,
      "input_spec": {
          "crop_size": spec.input_spec.crop_size,
          "max_test_frames": spec.input_spec.max_test_frames,
          "streams": [stream_summary(s) for s in spec.input_spec.streams],
      },
  }


def main(argv):
  del argv
  try:
    summary = summarize(FLAGS.model, FLAGS.num_classes)
  except ValueError as error:
    raise app.UsageError(str(error))
  if FLAGS.json:
    print(json.dumps(summary, indent=2))
    return
  paper = summary["paper_params_millions"]
  print(f"{summary['model']}: {summary['description']}")
  print(f"  trainable parameters {summary['trainable_params'] / 1e6:.2f}M "
        f"(paper, Table 1: {paper}M); with batch-norm statistics "
        f"{summary['total_params'] / 1e6:.2f}M")
  print(f"  crop {summary['input_spec']['crop_size']} px")
  for s in summary["input_spec"]["streams"]:
    test = "whole video" if s["test_frames"] is None else f"{s['test_frames']} frames"
    test_s = "" if s["test_footprint_s"] is None else f" ({s['test_footprint_s']:g} s)"
    print(f"  {s['name']}: train {s['train_frames']} frames 1 in {s['frame_stride']} "
          f"({s['train_footprint_s']:g} s), test {test}{test_s}")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
