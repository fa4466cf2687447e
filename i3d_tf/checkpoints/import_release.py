"""Import of a DeepMind checkpoint into a directory: SavedModel, Keras weights, label map, report.

The library side of `python -m experiments.import_deepmind_checkpoint` (see its docstring): one
stream from one checkpoint, or the release's two-stream model from an RGB and a Flow checkpoint.
"""
import dataclasses
import json
import os

from absl import logging

from i3d_tf import export
from i3d_tf import labels
from i3d_tf.checkpoints import deepmind
from i3d_tf.checkpoints import runs
from i3d_tf.models import registry

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


def _class_names(label_map, layout):
  if label_map is None:
    label_map = find_label_map(layout.path, layout.num_classes, kinetics600=not layout.scope)
    if label_map is None:
      logging.warning("no label map given or found near %s: writing none (pass --label_map)",
                      layout.path)
  names = labels.read_label_map(label_map, layout.num_classes) if label_map else None
  return names, os.path.abspath(label_map) if label_map else None


def _layout_info(layout, assigned):
  return {"checkpoint": os.path.abspath(layout.path), "stream": layout.stream,
          "scope": layout.scope, "num_classes": layout.num_classes,
          "in_channels": layout.in_channels, "variables_assigned": assigned,
          "sonnet_v1_batch_norm_shapes": layout.sonnet_v1_batch_norm, "ignored": layout.ignored}


def import_checkpoint(checkpoint, output_dir, label_map=None, stream=None, scope=None,
                      flow_checkpoint=None, crop_size=None, final_pool_padding="VALID"):
  """Does the import into a model folder; returns the dict written to import_info.json.

  The folder is the kind a training run leaves (runs.py: run_config.json, a ckpt-0 checkpoint,
  saved_model/, label_map.txt) plus model.weights.h5 and import_info.json, its completion marker
  (written last). It is written in a temporary folder beside `output_dir` and renamed into place,
  so a killed import leaves no half model folder (the next import removes its leftover).
  With `flow_checkpoint`, `checkpoint` is the RGB stream and the result is the release's two-stream
  model (i3d_two_stream: RGB + Flow logits; SavedModel inputs `rgb` and `flow`). `crop_size` and
  `final_pool_padding` set the clip geometry the folder is used with (default: the release's 224 px
  and VALID pool; crops under 193 px need 'SAME').
  """
  runs.check_replaceable(output_dir)  # before minutes of work, not after
  layouts, model_name = _layouts(checkpoint, stream, scope, flow_checkpoint)
  first = next(iter(layouts.values()))
  class_names, label_map_path = _class_names(label_map, first)
  options, input_spec = _clip_geometry(model_name, crop_size, final_pool_padding)
  model = registry.build_model(model_name, first.num_classes, **options)
  if flow_checkpoint is None:
    model.build((None, None, 224, 224, first.in_channels))
    streams = {"single": model}
  else:
    model.build()
    streams = {"rgb": model.rgb, "flow": model.flow}
  assigned = {key: deepmind.restore_into(streams[key].deepmind_variables(), layout)
              for key, layout in layouts.items()}

  info = {"model": model_name, "num_classes": first.num_classes, "label_map": label_map_path}
  if flow_checkpoint is None:
    info.update(_layout_info(first, assigned["single"]))
  else:
    info["streams"] = {key: _layout_info(layout, assigned[key]) for key, layout in layouts.items()}
    info["variables_assigned"] = sum(assigned.values())
  with runs.model_folder_writer(output_dir) as tmp_dir:
    export.export_saved_model(model, os.path.join(tmp_dir, "saved_model"), input_spec,
                              label_map=class_names)
    model.save_weights(os.path.join(tmp_dir, "model.weights.h5"))
    if class_names is not None:
      labels.write_label_map(class_names, os.path.join(tmp_dir, "label_map.txt"))
    runs.write_model_folder(tmp_dir, model, model_name, first.num_classes, options, input_spec,
                            class_names, source={"import_deepmind_checkpoint": info})
    with open(os.path.join(tmp_dir, runs.IMPORT_MARKER), "w", encoding="utf-8") as f:
      json.dump(info, f, indent=2)
  return info


def _layouts(checkpoint, stream, scope, flow_checkpoint):
  """({key: deepmind.Layout}, registry model name): one stream, or RGB + Flow of one class count."""
  if flow_checkpoint is None:
    layout = deepmind.inspect_checkpoint(checkpoint, stream=stream, scope=scope)
    return {"single": layout}, {"rgb": "i3d_rgb", "flow": "i3d_flow"}[layout.stream]
  layouts = {"rgb": deepmind.inspect_checkpoint(checkpoint, stream="rgb", scope=scope),
             "flow": deepmind.inspect_checkpoint(flow_checkpoint, stream="flow")}
  if layouts["rgb"].num_classes != layouts["flow"].num_classes:
    raise ValueError(f"--checkpoint has {layouts['rgb'].num_classes} classes, "
                     f"--flow_checkpoint {layouts['flow'].num_classes}: they must agree")
  return layouts, "i3d_two_stream"


def _clip_geometry(model_name, crop_size, final_pool_padding):
  """(model options, registry InputSpec) of the folder's clip geometry; a ValueError naming
  --crop_size below the smallest crop the final pool takes (registry.minimum_clip)."""
  options = {}
  if str(final_pool_padding).upper() != "VALID":
    options["final_pool_padding"] = final_pool_padding
  input_spec = registry.get(model_name).input_spec
  if crop_size:
    input_spec = dataclasses.replace(input_spec, crop_size=crop_size)
  min_crop = registry.minimum_clip(model_name, final_pool_padding)[1]
  if input_spec.crop_size < min_crop:
    raise ValueError(f"--crop_size={input_spec.crop_size} is under {min_crop}: the release's "
                     f"VALID final pool needs {min_crop} px; pass --final_pool_padding=SAME")
  return options, input_spec
