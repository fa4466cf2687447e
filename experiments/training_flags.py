"""Flags and data resolution shared by train_kinetics.py and finetune.py.

`--dataset` names -> TFDS builder names (the builders in datasets/): kinetics400/600/700 ->
i3d_kinetics/<n>, ucf101 / hmdb51 -> i3d_ucf101/split<N>, i3d_hmdb51/split<N>, synthetic_motion; or
`mediasequence` for MediaSequence shards (--data_dir: a folder or glob; files whose name contains the
split name). Enum flags reject unknown values with the list of valid ones.
"""
import os

from absl import flags

from i3d_tf.models import registry
from i3d_tf.training import distribute
from i3d_tf.training import experiment
from i3d_tf.training import schedules

DATASETS = ("kinetics400", "kinetics600", "kinetics700", "ucf101", "hmdb51", "synthetic_motion",
            "mediasequence")
SPLITS = {"kinetics400": ("train", "validation"), "kinetics600": ("train", "validation"),
          "kinetics700": ("train", "validation"), "ucf101": ("train", "test"),
          "hmdb51": ("train", "test"), "synthetic_motion": ("train", "test"),
          "mediasequence": ("train", "validation")}


def tfds_name(dataset, split_number=1, synthetic_config=None):
  """The TFDS builder name (with config) of a --dataset value."""
  if dataset.startswith("kinetics"):
    return f"i3d_kinetics/{dataset[len('kinetics'):]}"
  if dataset in ("ucf101", "hmdb51"):
    return f"i3d_{dataset}/split{split_number}"
  if dataset == "synthetic_motion":
    return f"synthetic_motion/{synthetic_config}" if synthetic_config else "synthetic_motion"
  raise ValueError(f"--dataset={dataset!r} has no TFDS builder")


# absl's module name of the test-only flags (listed by --helpfull, never by a binary's --help).
INTERNAL_FLAGS_MODULE = "i3d_tf_internal_testing_flags"


def define_flags(default_model="i3d_rgb"):
  """Defines the flags common to the training binaries.

  A binary calls `flags.adopt_module_key_flags(training_flags)` after this, so that its --help
  lists them (absl shows only the main module's key flags there).
  """
  flags.DEFINE_enum("model", default_model, list(registry.names()), "Model from the registry.")
  flags.DEFINE_enum("dataset", None, list(DATASETS),
                    "Dataset. Without --data_dir and --dataset: the embedded synthetic_motion set.")
  flags.DEFINE_string("data_dir", None, "TFDS data_dir holding the built shards (or, for "
                      "--dataset=mediasequence, a folder or glob of SequenceExample shards).")
  flags.DEFINE_integer("num_classes", None, "Classes, for --dataset=mediasequence only.")
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


def default_model_dir(model, dataset, suffix=""):
  return os.path.join("runs", f"{model}_{dataset}{suffix}")


def default_schedule(model):
  return "release_flow" if "flow" in model else "release_rgb"


def resolve_data(dataset, data_dir, record_format="tfds", split_number=1, num_classes=None,
                 synthetic_config=None):
  """An experiment.DataSource for a --dataset/--data_dir pair."""
  from i3d_tf.data import records  # pylint: disable=import-outside-toplevel
  train_split, eval_split = SPLITS[dataset]
  if dataset == "mediasequence" or record_format == "mediasequence":
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
  name = tfds_name(dataset, split_number, synthetic_config)
  num, class_names = records.dataset_info(data_dir, name)
  return experiment.DataSource(
      records.list_shards(data_dir, name, train_split),
      records.list_shards(data_dir, name, eval_split), num, class_names, "tfds")


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
      inject_nan_at_step=FLAGS.inject_nan_at_step)
  values.update(overrides)
  return experiment.ExperimentConfig(**values)
