"""Imports one of DeepMind's kinetics-i3d checkpoints: SavedModel, Keras weights and label map.

  python -m experiments.import_deepmind_checkpoint \
      --checkpoint=data/checkpoints/rgb_imagenet/model.ckpt --output_dir=checkpoints/rgb_imagenet

Takes all five released layouts (RGB/Flow scopes, the unscoped Kinetics-600 one). Classes and input
channels come from the checkpoint's shapes; the stream from its scope or channel count (--stream
chooses one in a checkpoint holding both). The label map is --label_map, or else the release's
label_map.txt / label_map_600.txt found beside the checkpoint or up to two folders above it (the
release keeps them in data/, the checkpoints in data/checkpoints/NAME/).
Writes OUTPUT_DIR/saved_model (signature serving_default: `video` [None, None, 224, 224, C] in
[-1, 1] -> `logits`, `probabilities`), OUTPUT_DIR/model.weights.h5 (load into
registry.build_model('i3d_rgb' | 'i3d_flow', classes)), OUTPUT_DIR/label_map.txt and
OUTPUT_DIR/import_info.json (what was read and ignored).
"""
import json
import os

from absl import app
from absl import flags
from absl import logging

from i3d_tf import export
from i3d_tf import labels
from i3d_tf.checkpoints import deepmind
from i3d_tf.models import registry

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "DeepMind checkpoint prefix, e.g. "
                    "data/checkpoints/rgb_imagenet/model.ckpt")
flags.DEFINE_string("output_dir", None, "Where to write saved_model/, model.weights.h5, "
                    "label_map.txt, import_info.json")
flags.DEFINE_string("label_map", None, "Class names, one per line, in logit order (default: the "
                    "release's label_map.txt / label_map_600.txt near the checkpoint, if found)")
flags.DEFINE_enum("stream", None, ["rgb", "flow"], "Which stream to import; needed only when the "
                  "checkpoint holds both or its stream cannot be told from scope or channels")
flags.DEFINE_string("scope", None, "Variable scope of the I3D in the checkpoint ('' for none); "
                    "inferred by default")
flags.mark_flags_as_required(["checkpoint", "output_dir"])

_RELEASE_LABEL_MAPS = ("label_map.txt", "label_map_600.txt")


def find_label_map(checkpoint_prefix, num_classes, kinetics600=False):
  """The release's label map with `num_classes` names near the checkpoint, or None.

  label_map_600.txt is tried first for the Kinetics-600 release (unscoped, or 600 classes).
  """
  names = _RELEASE_LABEL_MAPS[::-1] if kinetics600 or num_classes == 600 else _RELEASE_LABEL_MAPS
  folder = os.path.dirname(os.path.abspath(checkpoint_prefix))
  for _ in range(3):
    for name in names:
      candidate = os.path.join(folder, name)
      if os.path.isfile(candidate):
        with open(candidate, encoding="utf-8") as f:
          if sum(1 for line in f if line.strip()) == num_classes:
            return candidate
    folder = os.path.dirname(folder)
  return None


def import_checkpoint(checkpoint, output_dir, label_map=None, stream=None, scope=None):
  """Does the import; returns the dict written to import_info.json."""
  layout = deepmind.inspect_checkpoint(checkpoint, stream=stream, scope=scope)
  model_name = {"rgb": "i3d_rgb", "flow": "i3d_flow"}[layout.stream]
  if label_map is None:
    label_map = find_label_map(layout.path, layout.num_classes, kinetics600=not layout.scope)
    if label_map is None:
      logging.warning("no label map given or found near %s: writing none (pass --label_map)",
                      layout.path)
  class_names = labels.read_label_map(label_map, layout.num_classes) if label_map else None

  model = registry.build_model(model_name, layout.num_classes)
  model.build((None, None, 224, 224, layout.in_channels))
  assigned = deepmind.restore_into(model.deepmind_variables(), layout)

  os.makedirs(output_dir, exist_ok=True)
  export.export_saved_model(model, os.path.join(output_dir, "saved_model"),
                            registry.get(model_name).input_spec, label_map=class_names)
  model.save_weights(os.path.join(output_dir, "model.weights.h5"))
  if class_names is not None:
    labels.write_label_map(class_names, os.path.join(output_dir, "label_map.txt"))
  info = {
      "checkpoint": os.path.abspath(layout.path), "model": model_name, "stream": layout.stream,
      "scope": layout.scope, "num_classes": layout.num_classes,
      "in_channels": layout.in_channels, "variables_assigned": assigned,
      "sonnet_v1_batch_norm_shapes": layout.sonnet_v1_batch_norm,
      "ignored": layout.ignored, "label_map": os.path.abspath(label_map) if label_map else None,
  }
  with open(os.path.join(output_dir, "import_info.json"), "w", encoding="utf-8") as f:
    json.dump(info, f, indent=2)
  return info


def main(argv):
  del argv
  info = import_checkpoint(FLAGS.checkpoint, FLAGS.output_dir, FLAGS.label_map, FLAGS.stream,
                           FLAGS.scope)
  print(f"Imported {info['checkpoint']} ({info['stream']} stream, scope "
        f"{info['scope'] or '(none)'}, {info['num_classes']} classes, {info['in_channels']} "
        f"input channels): {info['variables_assigned']} variables assigned, "
        f"{len(info['ignored'])} ignored (optimizer slots, counters, other streams).")
  print(f"Wrote {FLAGS.output_dir}/saved_model, model.weights.h5"
        f"{', label_map.txt' if info['label_map'] else ''}, import_info.json")


if __name__ == "__main__":
  app.run(main)
