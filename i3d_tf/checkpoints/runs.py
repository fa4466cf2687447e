"""Model folders: what a training run and `import_deepmind_checkpoint` both leave, and loading one.

The one module that reads and writes run folders, below training and evaluation (both use it; it
imports neither). A model folder holds run_config.json (model name, classes and their names, model
options, input spec and clip geometry), ckpt-* checkpoints (variables by attribute path; older runs
by position, both read by `run_checkpoints.restore_model`), saved_model/ and, when the classes have
names, label_map.txt. An imported folder also holds model.weights.h5 and import_info.json, its
completion marker: the importer writes it in a temporary folder beside and renames it into place,
so a folder without the marker is never read as a model. `load_run` rebuilds the model and
restores the latest (or a given) checkpoint, checking that every variable was restored.
"""
import contextlib
import json
import os
import shutil
import tempfile

import tensorflow as tf

from i3d_tf import labels
from i3d_tf.checkpoints import run_checkpoints
from i3d_tf.data import pipeline
from i3d_tf.models import registry
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import model_input

RUN_CONFIG = "run_config.json"
IMPORT_MARKER = "import_info.json"
_TMP_INFIX = ".writing-"  # temporary folders beside a model folder: .<name>.writing-XXXX
_WHAT = ("a model folder: a training run's --model_dir or import_deepmind_checkpoint's "
         "--output_dir")


def is_model_folder(path):
  """True for a complete model folder (run_config.json; an imported one also its marker)."""
  config = os.path.join(path, RUN_CONFIG)
  if not os.path.isfile(config):
    return False
  with open(config, encoding="utf-8") as f:
    imported = "import_deepmind_checkpoint" in json.load(f).get("source", {})
  return not imported or os.path.isfile(os.path.join(path, IMPORT_MARKER))


def read_run_config(run_dir):
  """run_dir's run_config.json as a dict; errors say what kind of folder was expected."""
  path = os.path.join(run_dir, RUN_CONFIG)
  if os.path.isfile(run_dir):
    parent = os.path.dirname(os.path.abspath(run_dir))
    hint = (f"; its folder {parent} is one: pass that" if is_model_folder(parent) else "")
    raise NotADirectoryError(f"{run_dir} is a file, not a folder: expected {_WHAT}{hint}")
  if not os.path.isdir(run_dir):
    raise FileNotFoundError(f"{run_dir} does not exist: expected {_WHAT}")
  if not os.path.exists(path):
    parent = os.path.dirname(os.path.abspath(run_dir))
    if os.path.exists(os.path.join(run_dir, "saved_model.pb")) and is_model_folder(parent):
      raise FileNotFoundError(f"{run_dir} is the SavedModel inside the model folder {parent}: "
                              f"pass {parent}")
    inside = sorted(os.path.join(run_dir, name) for name in os.listdir(run_dir)
                    if is_model_folder(os.path.join(run_dir, name)))
    if inside:
      shown = ", ".join(inside[:5]) + (f" and {len(inside) - 5} more" if len(inside) > 5 else "")
      raise FileNotFoundError(f"{run_dir} is not a model folder but holds {len(inside)}: "
                              f"{shown}; pass one of them")
    if os.path.exists(os.path.join(run_dir, "saved_model")) or os.path.exists(
        os.path.join(run_dir, "model.weights.h5")):
      raise FileNotFoundError(
          f"{path} does not exist: {run_dir} holds model files but is not a complete model folder "
          f"(an import from before model folders, or one cut short): rerun "
          f"import_deepmind_checkpoint into it")
    raise FileNotFoundError(f"{path} does not exist: expected {_WHAT}")
  with open(path, encoding="utf-8") as f:
    run = json.load(f)
  if not is_model_folder(run_dir):
    raise FileNotFoundError(f"{run_dir} has no {IMPORT_MARKER}: an import that did not finish; "
                            f"rerun import_deepmind_checkpoint")
  return run


class ModelFolderFlagError(ValueError):
  """A binary's model-folder flag names no model folder: the flag, the path and what it is."""


def check_model_folder_flag(flag, path):
  """read_run_config(path) for the binaries, before they write anything: its error names `flag`."""
  try:
    return read_run_config(path)
  except OSError as e:
    raise ModelFolderFlagError(f"{flag}={path}: {e}") from None


def class_names(run, run_dir=None):
  """The run's class names in logit order, or None (run_config's, else label_map.txt beside it)."""
  if run.get("class_names"):
    return list(run["class_names"])
  if run_dir and os.path.isfile(os.path.join(run_dir, "label_map.txt")):
    return labels.read_label_map(os.path.join(run_dir, "label_map.txt"), run["num_classes"])
  return None


def min_frames_of_run(run):
  """The shortest clip the run's model takes (9 for I3D's VALID final pool, else 1)."""
  return _min_frames(run["model"], run.get("model_options", {}))


def _min_frames(model_name, model_options):
  padding = model_options.get("final_pool_padding", "VALID")
  return registry.minimum_clip(model_name, padding)[0]


def clip_spec_of_run(run, max_test_frames=None):
  """The evaluation ClipSpec the run was trained for (its crop size, the model's minimum length)."""
  clip = run.get("clip", {})
  return pipeline.ClipSpec.for_model(
      run["model"], crop_size=clip.get("crop_size"),
      max_test_frames=max_test_frames or clip.get("max_test_frames"),
      min_frames=min_frames_of_run(run),
      test_frames=clip.get("test_frames"), frame_stride=clip.get("frame_stride"))


def video_input_spec(run, flow_method=flow_lib.DEFAULT_METHOD, **overrides):
  """The model_input.VideoInputSpec of a run (read_run_config): its streams, crop, min length."""
  clip_spec = clip_spec_of_run(run)
  fields = dict(streams=clip_spec.stream_names, crop_size=clip_spec.crop_size,
                min_frames=clip_spec.min_frames, flow_method=flow_method)
  fields.update(overrides)
  return model_input.VideoInputSpec(**fields)


def load_run(run_dir, checkpoint=None, **model_overrides):
  """(model with the run's weights, run config dict). `model_overrides` e.g. final_endpoint."""
  run = read_run_config(run_dir)
  options = dict(run.get("model_options", {}))
  options.update(model_overrides)
  model = registry.build_model(run["model"], run["num_classes"], **options)
  shape = run["example_input_shape"]
  example = ({k: tf.zeros(v) for k, v in shape.items()} if isinstance(shape, dict)
             else tf.zeros(shape))
  model(example, training=False)
  checkpoint = checkpoint or tf.train.latest_checkpoint(run_dir)
  if checkpoint is None:
    raise FileNotFoundError(f"{run_dir} holds no ckpt-* checkpoint")
  # Either layout: variables by path, or the older map.
  run_checkpoints.restore_model(model, checkpoint)
  return model, run


def write_model_folder(folder, model, model_name, num_classes, model_options, input_spec,
                       names=None, source=None):
  """Writes run_config.json and a ckpt-0 checkpoint of `model` (built) into `folder`.

  The same run_config keys a training run writes, so load_run, evaluate, extract_features,
  classify and finetune --init read the folder as they read a run.
  """
  min_frames = _min_frames(model_name, model_options)
  size = input_spec.crop_size
  # The shape load_run builds the model with: the shortest clip it takes (cheap to trace).
  shapes = {s.name: [1, max(min_frames, 2), size, size, s.channels] for s in input_spec.streams}
  run_info = {
      "model": model_name, "num_classes": num_classes, "model_options": dict(model_options),
      "class_names": list(names or []),
      "example_input_shape": (next(iter(shapes.values())) if len(shapes) == 1 else shapes),
      "clip": {"train_frames": [s.train_frames for s in input_spec.streams], "crop_size": size,
               "max_test_frames": input_spec.max_test_frames, "test_frames": None,
               "frame_stride": None},
      "source": dict(source or {})}
  manager = tf.train.CheckpointManager(
      run_checkpoints.model_checkpoint(model), folder, max_to_keep=1)  # a run's layout: paths
  manager.save(checkpoint_number=0)
  with open(os.path.join(folder, RUN_CONFIG), "w", encoding="utf-8") as f:
    json.dump(run_info, f, indent=2, sort_keys=True, default=str)
  return run_info


def check_replaceable(output_dir):
  """Absolute `output_dir`, if it is absent, empty or an earlier import; else FileExistsError."""
  output_dir = os.path.abspath(output_dir)
  if (os.path.exists(output_dir) and os.listdir(output_dir) and
      not os.path.isfile(os.path.join(output_dir, IMPORT_MARKER))):
    raise FileExistsError(f"{output_dir} exists and is neither an earlier import nor empty: "
                          f"give another --output_dir or remove it")
  return output_dir


@contextlib.contextmanager
def model_folder_writer(output_dir):
  """Yields a temporary folder beside `output_dir`; on success it replaces `output_dir` by rename.

  A killed writer leaves only the temporary folder (.NAME.writing-XXXX), which the next writer of
  the same output_dir removes; an exception removes it at once. An existing output_dir is replaced
  only when it is an earlier import or empty (a training run or anything else is refused).
  """
  output_dir = check_replaceable(output_dir)
  parent, name = os.path.split(output_dir)
  os.makedirs(parent, exist_ok=True)
  for leftover in os.listdir(parent):
    if leftover.startswith(f".{name}{_TMP_INFIX}"):
      shutil.rmtree(os.path.join(parent, leftover), ignore_errors=True)
  tmp_dir = tempfile.mkdtemp(prefix=f".{name}{_TMP_INFIX}", dir=parent)
  try:
    yield tmp_dir
    if os.path.exists(output_dir):
      old = tempfile.mkdtemp(prefix=f".{name}{_TMP_INFIX}old-", dir=parent)
      os.rename(output_dir, os.path.join(old, name))
      os.rename(tmp_dir, output_dir)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.rename(tmp_dir, output_dir)
  except BaseException:
    shutil.rmtree(tmp_dir, ignore_errors=True)
    raise


def load_model_folders(model_dir, flow_model_dir=None, **model_overrides):
  """[(model, run, stream names, folder)] for a model folder and an optional Flow-model folder.

  A two-stream model is one folder (i3d_two_stream) or an RGB folder + `flow_model_dir`; their
  logits are summed, as the release does. The folders must agree on classes and crop size.
  """
  loaded = []
  for folder in [model_dir] + ([flow_model_dir] if flow_model_dir else []):
    model, run = load_run(folder, **model_overrides)
    streams = clip_spec_of_run(run).stream_names
    loaded.append((model, run, streams, folder))
  if flow_model_dir:
    (_, first, first_streams, _), (_, flow, flow_streams, _) = loaded
    if flow_streams != ("flow",) or "flow" in first_streams:
      raise ValueError(f"--flow_model_dir={flow_model_dir} must hold a flow-only model (it holds "
                       f"{flow['model']}) beside a model without a flow stream in --model_dir="
                       f"{model_dir} (it holds {first['model']})")
    if first["num_classes"] != flow["num_classes"]:
      raise ValueError(f"--model_dir={model_dir} has {first['num_classes']} classes, "
                       f"--flow_model_dir={flow_model_dir} {flow['num_classes']}: they must agree")
    sizes = [r.get("clip", {}).get("crop_size") or 224 for _, r, _, _ in loaded]
    if sizes[0] != sizes[1]:
      raise ValueError(f"--model_dir={model_dir} takes {sizes[0]} px crops, --flow_model_dir="
                       f"{flow_model_dir} {sizes[1]} px: they must agree")
  return loaded
