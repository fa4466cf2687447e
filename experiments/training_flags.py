"""Flags and data resolution shared by train_kinetics.py, finetune.py, evaluate.py and
extract_features.py.

The training flags are derived from i3d_tf/config.py's fields (`define_flags`): one flag per field,
with the field's name (or declared flag name), type, choices, help and check, and as default the
binary's base experiment's value (experiments/configs/registry.py). `config_from_flags` starts from
that experiment (--experiment, --config_file) and sets the flags given and the --override values.

`--dataset` takes a short name -> a TFDS build of the builders in datasets/: kinetics400/600/700 ->
i3d_kinetics/<n>, ucf101 / hmdb51 -> i3d_ucf101/split<N>, i3d_hmdb51/split<N>, synthetic_motion; or
any built `<builder>/<config>[:version]` in --data_dir, e.g. i3d_ucf101/split1_s128_max2s (a
smoke build's derived config) or i3d_video_folder/mysports (your own videos); or `mediasequence`
for MediaSequence shards (--data_dir: a folder or glob; files whose name contains the split name).
`--dataset_config` swaps the config of either form (--dataset=ucf101
--dataset_config=split1_s128_max2s). The classes (count and names) always come from the
build's label feature, never from a constant. Enum flags reject unknown values with the list of
valid ones.
"""
import os
import sys

from absl import flags

from experiments.configs import registry as experiments
from i3d_tf import config as config_lib
from i3d_tf.training import experiment
from i3d_tf.training import loop

DATASETS = config_lib.DATASETS
SPLITS = {"kinetics400": ("train", "validation"), "kinetics600": ("train", "validation"),
          "kinetics700": ("train", "validation"), "ucf101": ("train", "test"),
          "hmdb51": ("train", "test"), "synthetic_motion": ("train", "test"),
          "mediasequence": ("train", "validation")}
EVAL_SPLITS = ("validation", "test")  # the held-out split of a build, the first it has


is_tfds_name = config_lib.is_tfds_name
_DATASET = config_lib.setting_of_flag("dataset")
_DATASET_CONFIG = config_lib.setting_of_flag("dataset_config")


def check_dataset(dataset):
  """Raises ValueError naming the valid forms unless `dataset` is a short name or a TFDS name."""
  config_lib.check_setting(_DATASET, dataset)


def _validator(setting):
  def check(value):
    try:
      config_lib.check_setting(setting, value)
    except ValueError as e:
      raise flags.ValidationError(str(e)) from None
    return True
  return check


def define_dataset_flags(default=None, flag_values=flags.FLAGS):
  """--dataset and --dataset_config, as every binary that reads a dataset takes them."""
  flags.DEFINE_string("dataset", default, _DATASET.help, flag_values=flag_values)
  flags.register_validator("dataset", _validator(_DATASET), flag_values=flag_values)
  flags.DEFINE_string("dataset_config", None, _DATASET_CONFIG.help, flag_values=flag_values)
  flags.register_validator("dataset_config", _validator(_DATASET_CONFIG), flag_values=flag_values)


def tfds_name(dataset, split_number=1, synthetic_config=None, dataset_config=None):
  """The TFDS builder name (with config) of a --dataset value (+ --dataset_config)."""
  if is_tfds_name(dataset):
    name, _, version = dataset.partition(":")
    if dataset_config:
      name = f"{name.partition('/')[0]}/{dataset_config}"
    return f"{name}:{version}" if version else name
  if dataset.startswith("kinetics"):
    builder, config = "i3d_kinetics", dataset[len("kinetics"):]
  elif dataset in ("ucf101", "hmdb51"):
    builder, config = f"i3d_{dataset}", f"split{split_number}"
  elif dataset == "synthetic_motion":
    builder, config = "synthetic_motion", synthetic_config
  else:
    raise ValueError(f"--dataset={dataset!r} has no TFDS builder")
  config = dataset_config or config
  return f"{builder}/{config}" if config else builder


def data_splits(dataset, data_dir=None, name=None):
  """(train split, held-out split) of a --dataset: fixed for the short names, read from the build
  (train, and validation else test) for a <builder>/<config>."""
  if not is_tfds_name(dataset):
    return SPLITS[dataset]
  from i3d_tf.data import records  # pylint: disable=import-outside-toplevel
  names = records.split_names(data_dir, name or dataset)
  held_out = [s for s in EVAL_SPLITS if s in names]
  if "train" not in names or not held_out:
    raise ValueError(f"--dataset={dataset}: the build in {data_dir} has splits {names}; training "
                     f"needs 'train' and one of {', '.join(EVAL_SPLITS)}")
  return "train", held_out[0]


# absl's module name of the test-only flags (listed by --helpfull, never by a binary's --help).
INTERNAL_FLAGS_MODULE = "i3d_tf_internal_testing_flags"

# The config settings a binary has no flag for (train_kinetics: no split, no fine-tuning mode;
# finetune: no embedded synthetic set).
OMITTED = {"train_kinetics": ("split", "mode"), "finetune": ("synthetic_config",)}


def setting_flags(binary="train_kinetics"):
  """The config Settings that are flags of `binary` (every field but OMITTED[binary])."""
  omitted = OMITTED.get(binary, ())
  return tuple(s for s in config_lib.settings() if s.flag not in omitted)


def _flag_default(s, value):
  return str(value) if s.choices and s.type is not str and value is not None else value


def _flag_value(s, value):
  """The config value of a flag's value (an int enum's string -> int)."""
  return s.type(value) if s.choices and s.type is not str and value is not None else value


def _make_flag(s, default):
  """An absl Flag for config Setting `s`: name, type, enum choices, default and help."""
  default = _flag_default(s, default)
  if s.type is bool:
    return flags.BooleanFlag(s.flag, default, s.help)
  if s.choices:
    return flags.EnumFlag(s.flag, default, s.help, [str(c) for c in s.choices])
  parser = {int: flags.IntegerParser, float: flags.FloatParser, str: flags.ArgumentParser}[s.type]
  return flags.Flag(parser(), flags.ArgumentSerializer(), s.flag, default, s.help)


def define_flags(binary="train_kinetics", flag_values=flags.FLAGS):
  """Defines a binary's training flags, one per config field, plus --experiment, --config_file
  and --override.

  Each flag's name, type, choices and help are its field's; its default is the binary's base
  experiment's value (experiments/configs/registry.py), so --help shows what a run gets. A binary
  calls `flags.adopt_module_key_flags(training_flags)` after this, so that its --help lists them
  (absl shows only the main module's key flags there).
  """
  base = experiments.get(binary)
  for s in setting_flags(binary):
    module = INTERNAL_FLAGS_MODULE if s.hidden else __name__
    flags.DEFINE_flag(_make_flag(s, config_lib.get(base, s.path)), flag_values, module)
  flags.DEFINE_string("experiment", binary, "A registered experiment to start from; the flags "
                      "given change it (--experiment=help lists the names).",
                      flag_values=flag_values)
  flags.DEFINE_string("config_file", None, "JSON of {section: {field: value}} applied over "
                      "--experiment (e.g. {\"trainer\": {\"momentum\": 0.8}}).",
                      flag_values=flag_values)
  flags.DEFINE_multi_string("override", [], "section.field=value (repeatable), applied last, e.g. "
                            "--override=trainer.momentum=0.8.", flag_values=flag_values)
  register_validators(binary, flag_values)


def register_validators(binary="train_kinetics", flag_values=flags.FLAGS):
  """Parse-time checks: each flag's own (its field's check, the message naming the flag), then
  the whole config the flags give (the clip geometry), before anything is built."""
  for s in setting_flags(binary):
    if s.choices and s.type is not str:  # an int enum: absl checks the choice, as a string
      continue
    flags.register_validator(s.flag, _validator(s), flag_values=flag_values)

  def whole(unused_values):
    if flag_values["experiment"].value == "help":
      return True
    try:
      config_from_flags(flag_values, binary)
    except ValueError as e:
      raise flags.ValidationError(str(e)) from None
    return True
  flags.register_multi_flags_validator(
      ["experiment", "config_file", "override", "model", "final_pool_padding", "crop_size",
       "train_frames", "data_dir", "dataset", "lstm_gamma_init"], whole, flag_values=flag_values)


def is_embedded(flag_values):
  """No --data_dir and no dataset but synthetic_motion: the embedded synthetic set."""
  return flag_values["data_dir"].value is None and flag_values["dataset"].value in (
      None, "synthetic_motion")


def is_synthetic(flag_values):
  """The embedded set, or a built synthetic_motion[/<config>] in --data_dir."""
  dataset = flag_values["dataset"].value
  return is_embedded(flag_values) or (
      dataset is not None and dataset.partition(":")[0].partition("/")[0] == "synthetic_motion")


def _given(flag):
  """A flag given on the command line (or set in code): it overrides the base experiment."""
  return flag.present or flag.value != flag.default


def base_experiment(flag_values, binary="train_kinetics"):
  """The experiment the flags start from: --experiment if given; else, for train_kinetics on a
  synthetic_motion set, the reduced configuration of --model; else the binary's own."""
  if _given(flag_values["experiment"]):
    return flag_values["experiment"].value
  if binary == "train_kinetics" and is_synthetic(flag_values):
    return experiments.synthetic_reduced_name(flag_values["model"].value)
  return binary


def given_values(flag_values, binary="train_kinetics"):
  """{flag: config value} of the setting flags given on the command line."""
  return {s.flag: _flag_value(s, flag_values[s.flag].value) for s in setting_flags(binary)
          if _given(flag_values[s.flag])}


def config_from_flags(flag_values=flags.FLAGS, binary="train_kinetics"):
  """The ExperimentConfig a binary runs: the base experiment, then --config_file, then the flags
  given, then --override; validated (a ValueError names the flag)."""
  name = base_experiment(flag_values, binary)
  config = experiments.get(name)
  if flag_values["config_file"].value:
    config = config_lib.load_file(flag_values["config_file"].value, config)
  config = config_lib.replace(config, given_values(flag_values, binary))
  return config_lib.override(config, *flag_values["override"].value)


def exit_if_experiment_help(flag_values=flags.FLAGS):
  """--experiment=help: prints the registered experiments and exits 0."""
  if flag_values["experiment"].value != "help":
    return
  print(experiments.help_text(), flush=True)
  sys.exit(0)


def default_model_dir(model, dataset, suffix=""):
  """runs/<model>_<dataset><suffix>; a <builder>/<config> dataset as <builder>_<config>."""
  return os.path.join("runs", f"{model}_{dataset.replace('/', '_').replace(':', '_')}{suffix}")


def resolve_data(dataset, data_dir, record_format="tfds", split_number=1, num_classes=None,
                 synthetic_config=None, dataset_config=None):
  """An experiment.DataSource for a --dataset/--data_dir pair; a TFDS build's classes (count and
  names) are its label feature's."""
  from i3d_tf.data import records  # pylint: disable=import-outside-toplevel
  check_dataset(dataset)
  if dataset == "mediasequence" or record_format == "mediasequence":
    # MediaSequence shards: the dataset's split names (ucf101: train/test), else train/validation.
    train_split, eval_split = SPLITS.get(dataset, SPLITS["mediasequence"])
    import glob  # pylint: disable=import-outside-toplevel
    pattern = data_dir if any(c in data_dir for c in "*?[") else os.path.join(data_dir, "*")
    files = sorted(glob.glob(pattern))
    train = [f for f in files if train_split in os.path.basename(f)]
    evaluation = [f for f in files if eval_split in os.path.basename(f)]
    if not train:
      raise ValueError(f"--data_dir={data_dir}: no MediaSequence shard with {train_split!r} in "
                       f"its name")
    if not num_classes:
      raise ValueError("--dataset=mediasequence needs --num_classes")
    return experiment.DataSource(train, evaluation, num_classes, None, "mediasequence")
  name = tfds_name(dataset, split_number, synthetic_config, dataset_config)
  try:
    num, class_names = records.dataset_info(data_dir, name)
  except FileNotFoundError as e:
    built = records.built_datasets(data_dir)
    raise FileNotFoundError(f"--dataset={dataset}" + (f" --dataset_config={dataset_config}" if
                            dataset_config else "") + f": {e}. Built in {data_dir}: "
                            f"{', '.join(built) or 'nothing'}") from None
  if num_classes and num_classes != num:
    raise ValueError(f"--num_classes={num_classes}, but {name} in {data_dir} has {num} classes "
                     f"(its label feature): leave --num_classes out")
  train_split, eval_split = data_splits(dataset, data_dir, name)
  return experiment.DataSource(
      records.list_shards(data_dir, name, train_split),
      records.list_shards(data_dir, name, eval_split), num, class_names, "tfds")


def exit_if_preempted(status, model_dir):
  """The end of a training binary whose run stopped on SIGTERM (status 'preempted'): says so and
  exits with loop.PREEMPTED_EXIT_CODE (143), not 0, so that schedulers and scripts can tell it from
  a finished run. Any other status returns."""
  if status != "preempted":
    return
  print(f"Preempted (SIGTERM): checkpoint saved in {model_dir}; rerun the same command to resume. "
        f"Exit status {loop.PREEMPTED_EXIT_CODE}.", flush=True)
  sys.exit(loop.PREEMPTED_EXIT_CODE)
