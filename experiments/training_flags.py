"""Flags and data resolution shared by train_kinetics.py, finetune.py, evaluate.py and
extract_features.py.

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
import re
import sys

from absl import flags

from i3d_tf.models import registry
from i3d_tf.training import distribute
from i3d_tf.training import experiment
from i3d_tf.training import loop
from i3d_tf.training import schedules

DATASETS = ("kinetics400", "kinetics600", "kinetics700", "ucf101", "hmdb51", "synthetic_motion",
            "mediasequence")
SPLITS = {"kinetics400": ("train", "validation"), "kinetics600": ("train", "validation"),
          "kinetics700": ("train", "validation"), "ucf101": ("train", "test"),
          "hmdb51": ("train", "test"), "synthetic_motion": ("train", "test"),
          "mediasequence": ("train", "validation")}
# A TFDS name as datasets/ and `tfds build` write it: builder[/config][:version].
_TFDS_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?(:\d+\.\d+\.\d+)?$")
_CONFIG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
EVAL_SPLITS = ("validation", "test")  # the held-out split of a build, the first it has


def is_tfds_name(dataset):
  """True for a `<builder>[/<config>][:version]` value of --dataset (not a short name)."""
  return bool(dataset) and dataset not in DATASETS and bool(_TFDS_NAME_RE.match(dataset))


def check_dataset(dataset):
  """Raises ValueError naming the valid forms unless `dataset` is a short name or a TFDS name."""
  if dataset is None or dataset in DATASETS or is_tfds_name(dataset):
    return
  raise ValueError(f"--dataset={dataset!r}: expected one of {', '.join(DATASETS)}, or a built "
                   f"<builder>/<config> in --data_dir (e.g. i3d_ucf101/split1_s128_max2s, "
                   f"i3d_video_folder/mysports)")


def _valid_dataset(value):
  try:
    check_dataset(value)
  except ValueError as e:
    raise flags.ValidationError(str(e)) from None
  return True


def _valid_config(value):
  if value is None or _CONFIG_RE.match(value):
    return True
  raise flags.ValidationError(f"--dataset_config={value!r}: a config name (letters, digits, "
                              f"'_', '-', '.'), e.g. split1_s128_max2s")


def define_dataset_flags(default=None, flag_values=flags.FLAGS):
  """--dataset and --dataset_config, as every binary that reads a dataset takes them."""
  flags.DEFINE_string(
      "dataset", default, f"{' | '.join(DATASETS)}, or any built <builder>/<config> in "
      "--data_dir (e.g. i3d_ucf101/split1_s128_max2s, i3d_video_folder/mysports). Without "
      "--data_dir and --dataset (training): the embedded synthetic_motion set.",
      flag_values=flag_values)
  flags.register_validator("dataset", _valid_dataset, flag_values=flag_values)
  flags.DEFINE_string("dataset_config", None, "The build config of --dataset to read, replacing "
                      "its default (e.g. --dataset=ucf101 "
                      "--dataset_config=split1_s128_max2s).",
                      flag_values=flag_values)
  flags.register_validator("dataset_config", _valid_config, flag_values=flag_values)


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


def define_flags(default_model="i3d_rgb"):
  """Defines the flags common to the training binaries.

  A binary calls `flags.adopt_module_key_flags(training_flags)` after this, so that its --help
  lists them (absl shows only the main module's key flags there).
  """
  flags.DEFINE_enum("model", default_model, list(registry.names()), "Model from the registry.")
  define_dataset_flags()
  flags.DEFINE_string("data_dir", None, "TFDS data_dir holding the built shards (or, for "
                      "--dataset=mediasequence, a folder or glob of SequenceExample shards).")
  flags.DEFINE_integer("num_classes", None, "Classes, for --dataset=mediasequence only (a TFDS "
                       "build names its own; a different value there is an error).")
  flags.DEFINE_string("model_dir", None, "Where the run's checkpoints, logs, metrics and "
                      "SavedModel go (default runs/<model>_<dataset>). Rerun to resume.")
  flags.DEFINE_string("init", "scratch", "scratch | imagenet | <checkpoint>: a run's model_dir "
                      "or a DeepMind-layout checkpoint prefix.")
  flags.DEFINE_string("imagenet_checkpoint", "checkpoints/inception_v1/inception_v1.ckpt",
                      "slim's Inception-v1 checkpoint, for --init=imagenet.")
  flags.DEFINE_integer("batch_size", 48, "Global batch size (split over all replicas).")
  flags.DEFINE_integer("train_steps", 115_000, "Training steps.")
  flags.DEFINE_float("learning_rate", 0.1, "Base learning rate.")
  flags.DEFINE_enum("lr_schedule", None, list(schedules.SCHEDULES),
                    "Learning-rate schedule; default release_flow for flow models, release_rgb "
                    "otherwise (see i3d_tf/training/schedules.py).")
  flags.DEFINE_integer("warmup_steps", 0, "Linear learning-rate warm-up steps (0: none, as the "
                       "release).")
  flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
  flags.DEFINE_float("weight_decay", 1e-7, "L2 weight decay on the conv kernels.")
  flags.DEFINE_float("dropout_rate", 0.5, "Dropout before the logits (training only).")
  flags.DEFINE_enum("strategy", "default", list(distribute.STRATEGIES),
                    "tf.distribute strategy; multi_worker reads TF_CONFIG.")
  flags.DEFINE_string("tpu", None, "TPU address, for --strategy=tpu.")
  flags.DEFINE_enum("mixed_precision", "none", list(distribute.PRECISIONS), "Mixed precision.")
  flags.DEFINE_bool("sync_batch_norm", False, "Synchronise batch norm across replicas (the "
                    "release's was per replica).")
  flags.DEFINE_integer("eval_every", 5000, "Evaluate every N steps (0: only at the end).")
  flags.DEFINE_integer("checkpoint_every", 1000, "Checkpoint every N steps.")
  flags.DEFINE_integer("log_every", 10, "TensorBoard scalars every N steps.")
  flags.DEFINE_integer("train_frames", None, "Frames per training clip (registry's: 64).")
  flags.DEFINE_integer("test_frames", None, "Frames per test clip (default: the whole video).")
  flags.DEFINE_integer("frame_stride", None, "Frames between a clip's sampled frames, every stream "
                       "(registry's: Table 1's, e.g. 5 for ConvNet+LSTM; single-stride models).")
  flags.DEFINE_integer("max_test_frames", None, "Longest test video (registry's: 250 = 10 s).")
  flags.DEFINE_integer("crop_size", None, "Crop size (registry's: 224).")
  flags.DEFINE_enum("final_pool_padding", "VALID", ["VALID", "SAME"],
                    "I3D's final 2x7x7 pool: the release's VALID, or SAME for small clips.")
  flags.DEFINE_float("width_multiplier", 1.0, "Every model's channels times this (convs, LSTM "
                     "units, fusion and FC layers; never the logits). 1.0: the paper's / the "
                     "release's networks, the only width --init=imagenet fits; the embedded "
                     "default's reduced configuration uses less.")
  flags.DEFINE_float("lstm_gamma_init", None, "ConvNet+LSTM: initial gamma of its recurrent batch "
                     "norms (default: Cooijmans et al.'s 0.1; the synthetic miniature uses 1.0).")
  flags.DEFINE_bool("random_flip", True, "Random left-right flip in training (flow x negated). "
                    "Off where a mirror changes the class (the synthetic set's directions).")
  flags.DEFINE_float("batch_norm_decay", None, "Batch-norm moving-average decay (release 0.999).")
  flags.DEFINE_integer("eval_batch_size", 1, "Videos per evaluation batch (equal lengths only).")
  flags.DEFINE_integer("eval_max_videos", None, "Evaluate on at most this many videos.")
  flags.DEFINE_integer("seed", None, "Random seed.")
  flags.DEFINE_bool("deterministic", False, "Reproducible run: seeded, deterministic tf.data "
                    "order and ops (slower).")
  flags.DEFINE_enum("record_format", "tfds", ["tfds", "mediasequence"], "Shard format.")
  # Test-only: registered under a module of its own, so that no binary's --help shows it (only
  # --helpfull); binaries adopt this module's key flags (adopt_module_key_flags).
  flags.DEFINE_flag(flags.Flag(flags.IntegerParser(), flags.ArgumentSerializer(),
                               "inject_nan_at_step", -1,
                               "Testing: make the loss NaN at this step."),
                    module_name=INTERNAL_FLAGS_MODULE)
  flags.DEFINE_bool("allow_partial_init", False, "--init: load the variables that fit and keep "
                    "those of another shape (another stream's first conv: Flow weights into an "
                    "RGB model) at random initialisation, with a warning. Without it that is an "
                    "error.")
  flags.DEFINE_float("cluster_wait_seconds", distribute.DEFAULT_CLUSTER_WAIT_S,
                     "--strategy=multi_worker: how long a task waits for its peers: at the "
                     "start for the cluster of TF_CONFIG to connect, then in each all-reduce for "
                     "the other tasks to join it; past it the task stops, naming the tasks "
                     "missing. A stopped or dead peer is found sooner (TF's heartbeats, ~10 s). "
                     "The chief's evaluation and export are waited out without this bound.")
  register_validators()


# (flag, test, what it must be): checked when the flags are parsed, before anything is built.
_POSITIVE = ("batch_size", "train_steps", "log_every", "eval_batch_size", "crop_size",
             "train_frames", "test_frames", "frame_stride", "max_test_frames", "eval_max_videos")
_CHECKS = (
    [(name, lambda v: v is None or v > 0, "a positive integer") for name in _POSITIVE] + [
        ("checkpoint_every", lambda v: v >= 0, ">= 0 (0: only at the end)"),
        ("eval_every", lambda v: v >= 0, ">= 0 (0: only at the end)"),
        ("warmup_steps", lambda v: v >= 0, ">= 0"),
        ("learning_rate", lambda v: v > 0, "a positive number"),
        ("momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
        ("weight_decay", lambda v: v >= 0, ">= 0"),
        ("dropout_rate", lambda v: 0 <= v < 1, "in [0, 1) (the release's 0.5)"),
        ("width_multiplier", lambda v: v > 0, "a positive number (1.0: the paper's network)"),
        ("batch_norm_decay", lambda v: v is None or 0 < v < 1, "in (0, 1) (the release's 0.999)"),
        ("cluster_wait_seconds", lambda v: v > 0, "a positive number of seconds"),
    ])


def register_validators(flag_values=flags.FLAGS):
  """Parse-time checks of the common flags: the message names the flag and what it expects."""
  for name, test, expected in _CHECKS:
    flags.register_validator(
        name, test, message=f"--{name} must be {expected}", flag_values=flag_values)

  def geometry(values):
    # The embedded synthetic set's reduced configuration (no --data_dir) picks the SAME pool
    # itself unless --final_pool_padding is given; experiment.run checks the final values.
    if values["data_dir"] is None and not flag_values["final_pool_padding"].present:
      return True
    if values["crop_size"] is None and values["train_frames"] is None:
      return True
    try:
      experiment.check_clip_geometry(values["model"], values["final_pool_padding"],
                                     values["crop_size"], values["train_frames"])
    except ValueError as e:
      raise flags.ValidationError(str(e)) from None
    return True
  flags.register_multi_flags_validator(
      ["model", "final_pool_padding", "crop_size", "train_frames", "data_dir"], geometry,
      flag_values=flag_values)


def default_model_dir(model, dataset, suffix=""):
  """runs/<model>_<dataset><suffix>; a <builder>/<config> dataset as <builder>_<config>."""
  return os.path.join("runs", f"{model}_{dataset.replace('/', '_').replace(':', '_')}{suffix}")


def default_schedule(model):
  return "release_flow" if "flow" in model else "release_rgb"


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


def config_from_flags(FLAGS, model_dir, **overrides):  # pylint: disable=invalid-name
  """ExperimentConfig from the common flags (+ overrides)."""
  values = dict(
      model=FLAGS.model, model_dir=model_dir, init=FLAGS.init,
      imagenet_checkpoint=FLAGS.imagenet_checkpoint, batch_size=FLAGS.batch_size,
      train_steps=FLAGS.train_steps, learning_rate=FLAGS.learning_rate,
      lr_schedule=FLAGS.lr_schedule or default_schedule(FLAGS.model),
      warmup_steps=FLAGS.warmup_steps, momentum=FLAGS.momentum,
      weight_decay=FLAGS.weight_decay, dropout_rate=FLAGS.dropout_rate, strategy=FLAGS.strategy,
      mixed_precision=FLAGS.mixed_precision, sync_batch_norm=FLAGS.sync_batch_norm,
      eval_every=FLAGS.eval_every, checkpoint_every=FLAGS.checkpoint_every,
      log_every=FLAGS.log_every, train_frames=FLAGS.train_frames, test_frames=FLAGS.test_frames,
      frame_stride=FLAGS.frame_stride,
      crop_size=FLAGS.crop_size, max_test_frames=FLAGS.max_test_frames,
      final_pool_padding=FLAGS.final_pool_padding, batch_norm_decay=FLAGS.batch_norm_decay,
      random_flip=FLAGS.random_flip, width_multiplier=FLAGS.width_multiplier,
      lstm_gamma_init=FLAGS.lstm_gamma_init,
      eval_batch_size=FLAGS.eval_batch_size, eval_max_videos=FLAGS.eval_max_videos,
      seed=FLAGS.seed, deterministic=FLAGS.deterministic,
      inject_nan_at_step=FLAGS.inject_nan_at_step, allow_partial_init=FLAGS.allow_partial_init,
      cluster_wait_seconds=FLAGS.cluster_wait_seconds)
  values.update(overrides)
  return experiment.ExperimentConfig(**values)
