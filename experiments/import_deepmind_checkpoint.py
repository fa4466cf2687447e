"""Imports one of DeepMind's kinetics-i3d checkpoints: SavedModel, Keras weights and label map.

  python -m experiments.import_deepmind_checkpoint \
      --checkpoint=data/checkpoints/rgb_imagenet/model.ckpt --output_dir=checkpoints/rgb_imagenet

  python -m experiments.import_deepmind_checkpoint \
      --checkpoint=data/checkpoints/rgb_imagenet/model.ckpt \
      --flow_checkpoint=data/checkpoints/flow_imagenet/model.ckpt --output_dir=checkpoints/joint

Takes all five released layouts (RGB/Flow scopes, the unscoped Kinetics-600 one). Classes and input
channels come from the checkpoint's shapes; the stream from its scope or channel count (--stream
chooses one in a checkpoint holding both). The label map is --label_map, or else the release's
label_map.txt / label_map_600.txt found beside the checkpoint or up to two folders above it (the
release keeps them in data/, the checkpoints in data/checkpoints/NAME/).
Writes a model folder, the kind a training run leaves (i3d_tf/checkpoints/runs.py), so classify,
extract_features, evaluate and finetune --init take it: OUTPUT_DIR/run_config.json and ckpt-0 (the
weights as a run's checkpoint), OUTPUT_DIR/saved_model (signature serving_default: `video` [None, None, 224, 224, C] in
[-1, 1], or `rgb` and `flow` for the two-stream model -> `logits`, `probabilities`),
OUTPUT_DIR/model.weights.h5 (load into registry.build_model('i3d_rgb' | 'i3d_flow' |
'i3d_two_stream', classes)), OUTPUT_DIR/label_map.txt and OUTPUT_DIR/import_info.json (what was
read and ignored; written last, the folder's completion marker). The folder is written beside and
renamed into place: a killed import leaves no half folder.
"""
from absl import flags

from i3d_tf import entry
from i3d_tf.checkpoints import import_release

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
flags.DEFINE_string("flow_checkpoint", None, "With this, --checkpoint is the RGB stream and the "
                    "import is the two-stream model (the sum of the RGB and Flow logits; "
                    "SavedModel inputs `rgb` and `flow`)")
flags.DEFINE_integer("crop_size", None, "Clip geometry the model folder is used with: the centre "
                     "crop in pixels (default the release's 224; under 224 needs "
                     "--final_pool_padding=SAME)")
flags.DEFINE_enum("final_pool_padding", "VALID", ["VALID", "SAME"], "The final 2x7x7 average "
                  "pool's padding: VALID as the release (clips of >= 9 frames at 224 px), SAME for "
                  "smaller crops or shorter clips")
flags.mark_flags_as_required(["checkpoint", "output_dir"])


def main(argv):
  del argv
  info = import_release.import_checkpoint(FLAGS.checkpoint, FLAGS.output_dir, FLAGS.label_map,
                                          FLAGS.stream, FLAGS.scope, FLAGS.flow_checkpoint,
                                          FLAGS.crop_size, FLAGS.final_pool_padding)
  for stream in (info.get("streams") or {"": info}).values():
    print(f"Imported {stream['checkpoint']} ({stream['stream']} stream, scope "
          f"{stream['scope'] or '(none)'}, {stream['num_classes']} classes, "
          f"{stream['in_channels']} input channels): {stream['variables_assigned']} variables "
          f"assigned, {len(stream['ignored'])} ignored (optimizer slots, counters, other streams).")
  print(f"Wrote the model folder {FLAGS.output_dir} ({info['model']}): run_config.json, ckpt-0, "
        f"saved_model/, model.weights.h5{', label_map.txt' if info['label_map'] else ''}, "
        f"import_info.json. Use it as --model_dir of classify / extract_features, --run_dirs of "
        f"evaluate, --init of finetune.")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
