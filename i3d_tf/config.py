"""One typed experiment config: every training setting declared once, from flag to run folder.

`ExperimentConfig(data, model, clip, init, trainer, runtime)` holds six frozen dataclasses. Each
field is declared once (`setting(...)`) with its one default, its help text, the flag name the
binaries give it (the field's name unless said) and its check; `experiments/training_flags.py`
derives the flags from these fields, `validate` runs the checks (the message names the flag), and
`to_json`/`from_json` is the "config" part of a run's run_config.json (`from_json` also reads the
flat layout that runs written before this module hold). `override(config, "trainer.momentum=0.8")`
and `load_file` change a config by field path.
"""
import dataclasses
import json
import re
import typing
from typing import Optional

from i3d_tf.models import registry

# The choices of the enum settings: declared here, read by the modules that act on them.
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")       # distribute.make_strategy
PRECISIONS = ("none", "bfloat16", "mixed_float16")                # distribute.set_mixed_precision
LR_SCHEDULES = ("release_rgb", "release_flow", "plateau", "cosine", "constant")  # schedules.py
FINETUNE_MODES = ("full", "fixed")
RECORD_FORMATS = ("tfds", "mediasequence")
SYNTHETIC_CONFIGS = ("small", "standard")  # datasets/synthetic_motion's builder configs
DEFAULT_CLUSTER_WAIT_S = 600.0
# --dataset's short names; any built <builder>[/<config>][:version] is taken too.
DATASETS = ("kinetics400", "kinetics600", "kinetics700", "ucf101", "hmdb51", "synthetic_motion",
            "mediasequence")
_TFDS_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?(:\d+\.\d+\.\d+)?$")
_CONFIG_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def is_tfds_name(dataset):
  """True for a `<builder>[/<config>][:version]` value of --dataset (not a short name)."""
  return bool(dataset) and dataset not in DATASETS and bool(_TFDS_NAME_RE.match(dataset))


def _valid_dataset(value):
  return value is None or value in DATASETS or is_tfds_name(value)


def _valid_config_name(value):
  return value is None or bool(_CONFIG_NAME_RE.match(value))


# (test, what the value must be): the message is "--<flag> must be <what>", or, where <what>
# starts with ':', "--<flag>=<value><what>".
_POSITIVE = (lambda v: v is None or v > 0, "a positive integer")
_AT_LEAST_0_END = (lambda v: v >= 0, ">= 0 (0: only at the end)")
_AT_LEAST_0 = (lambda v: v >= 0, ">= 0")
_DATASET_FORMS = (
    _valid_dataset, f": expected one of {', '.join(DATASETS)}, or a built <builder>/<config> in --data_dir "
    f"(e.g. i3d_ucf101/split1_s128_max2s, i3d_video_folder/mysports)")


def setting(default, help, flag=None, check=None, choices=None, hidden=False):  # pylint: disable=redefined-builtin
  """A config field: its one default, help text, flag name (default: the field's), check
  ((test, what it must be)), choices (an enum) and whether --help hides it (test-only)."""
  return dataclasses.field(default=default, metadata=dict(
      help=help, flag=flag, check=check, choices=choices, hidden=hidden))


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which dataset, where its shards are and how they are stored."""
  dataset: Optional[str] = setting(
      None, f"{' | '.join(DATASETS)}, or any built <builder>/<config> in --data_dir (e.g. "
      "i3d_ucf101/split1_s128_max2s, i3d_video_folder/mysports). Without --data_dir and "
      "--dataset (training): the embedded synthetic_motion set.", check=_DATASET_FORMS)
  dataset_config: Optional[str] = setting(
      None, "The build config of --dataset to read, replacing its default (e.g. "
      "--dataset=ucf101 --dataset_config=split1_s128_max2s).",
      check=(_valid_config_name, ": a config name (letters, digits, '_', '-', '.'), e.g. "
             "split1_s128_max2s"))
  data_dir: Optional[str] = setting(
      None, "TFDS data_dir holding the built shards (or, for --dataset=mediasequence, a folder "
      "or glob of SequenceExample shards).")
  record_format: str = setting("tfds", "Shard format.", choices=RECORD_FORMATS)
  num_classes: Optional[int] = setting(
      None, "Classes, for --dataset=mediasequence only (a TFDS build names its own; a different "
      "value there is an error).", check=_POSITIVE)
  split: int = setting(1, "Official train/test split (--dataset=ucf101 / hmdb51; a "
                       "<builder>/<config> names its build).", choices=(1, 2, 3))
  synthetic_config: str = setting(
      "small", "Config of the embedded synthetic_motion set (small: the ~10 min default).",
      choices=SYNTHETIC_CONFIGS)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Which registered model, and the options its builder takes."""
  name: str = setting("i3d_rgb", "Model from the registry.", flag="model",
                      choices=registry.names())
  width_multiplier: float = setting(
      1.0, "Every model's channels times this (convs, LSTM units, fusion and FC layers; never "
      "the logits). 1.0: the paper's / the release's networks, the only width --init=imagenet "
      "fits; the embedded default's reduced configuration uses less.",
      check=(lambda v: v > 0, "a positive number (1.0: the paper's network)"))
  dropout_rate: float = setting(0.5, "Dropout before the logits (training only).",
                                check=(lambda v: 0 <= v < 1, "in [0, 1) (the release's 0.5)"))
  final_pool_padding: str = setting(
      "VALID", "I3D's final 2x7x7 pool: the release's VALID, or SAME for small clips.",
      choices=("VALID", "SAME"))
  sync_batch_norm: bool = setting(False, "Synchronise batch norm across replicas (the release's "
                                  "was per replica).")
  lstm_gamma_init: Optional[float] = setting(
      None, "ConvNet+LSTM: initial gamma of its recurrent batch norms (default: Cooijmans et "
      "al.'s 0.1; the synthetic miniature uses 1.0).")
  batch_norm_decay: Optional[float] = setting(
      None, "Batch-norm moving-average decay (release 0.999).",
      check=(lambda v: v is None or 0 < v < 1, "in (0, 1) (the release's 0.999)"))


@dataclasses.dataclass(frozen=True)
class ClipConfig:
  """Clip geometry; None keeps the registry's (64 frames, 224 px, whole videos up to 250)."""
  train_frames: Optional[int] = setting(None, "Frames per training clip (registry's: 64).",
                                        check=_POSITIVE)
  test_frames: Optional[int] = setting(None, "Frames per test clip (default: the whole video).",
                                       check=_POSITIVE)
  frame_stride: Optional[int] = setting(
      None, "Frames between a clip's sampled frames, every stream (registry's: Table 1's, e.g. 5 "
      "for ConvNet+LSTM; single-stride models).", check=_POSITIVE)
  crop_size: Optional[int] = setting(None, "Crop size (registry's: 224).", check=_POSITIVE)
  max_test_frames: Optional[int] = setting(None, "Longest test video (registry's: 250 = 10 s).",
                                           check=_POSITIVE)
  random_flip: bool = setting(True, "Random left-right flip in training (flow x negated). Off "
                              "where a mirror changes the class (the synthetic set's directions).")


@dataclasses.dataclass(frozen=True)
class InitConfig:
  """Where the weights start from, and which of them train."""
  source: Optional[str] = setting(
      "scratch", "scratch | imagenet | <checkpoint>: a run's model_dir or a DeepMind-layout "
      "checkpoint prefix.", flag="init")
  imagenet_checkpoint: Optional[str] = setting(
      "checkpoints/inception_v1/inception_v1.ckpt",
      "slim's Inception-v1 checkpoint, for --init=imagenet.")
  allow_partial_init: bool = setting(
      False, "--init: load the variables that fit and keep those of another shape (another "
      "stream's first conv: Flow weights into an RGB model) at random initialisation, with a "
      "warning. Without it that is an error.")
  finetune_mode: str = setting(
      "full", "fixed: train the last layer only (the paper's Fixed); full: Full-FT.",
      flag="mode", choices=FINETUNE_MODES)


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
  """The optimisation: batch, steps, learning rate, evaluation and checkpoint cadence."""
  batch_size: int = setting(48, "Global batch size (split over all replicas).", check=_POSITIVE)
  train_steps: int = setting(115_000, "Training steps.", check=_POSITIVE)
  learning_rate: float = setting(0.1, "Base learning rate.",
                                 check=(lambda v: v > 0, "a positive number"))
  lr_schedule: Optional[str] = setting(
      None, "Learning-rate schedule; default: the model's release schedule in the registry "
      "(release_flow for i3d_flow, release_rgb otherwise; see i3d_tf/training/schedules.py).",
      choices=LR_SCHEDULES)
  warmup_steps: int = setting(0, "Linear learning-rate warm-up steps (0: none, as the release).",
                              check=_AT_LEAST_0)
  momentum: float = setting(0.9, "SGD momentum.", check=(lambda v: 0 <= v < 1, "in [0, 1)"))
  weight_decay: float = setting(1e-7, "L2 weight decay on the conv kernels.", check=_AT_LEAST_0)
  eval_every: int = setting(5000, "Evaluate every N steps (0: only at the end).",
                            check=_AT_LEAST_0_END)
  checkpoint_every: int = setting(1000, "Checkpoint every N steps.", check=_AT_LEAST_0_END)
  log_every: int = setting(10, "TensorBoard scalars every N steps.", check=_POSITIVE)
  keep_checkpoints: int = setting(3, "How many of the newest checkpoints model_dir keeps.",
                                  check=_POSITIVE)
  eval_batch_size: int = setting(1, "Videos per evaluation batch (equal lengths only).",
                                 check=_POSITIVE)
  eval_max_videos: Optional[int] = setting(None, "Evaluate on at most this many videos.",
                                           check=_POSITIVE)
  seed: Optional[int] = setting(None, "Random seed.")
  deterministic: bool = setting(False, "Reproducible run: seeded, deterministic tf.data order "
                                "and ops (slower).")
  mixed_precision: str = setting("none", "Mixed precision.", choices=PRECISIONS)
  inject_nan_at_step: int = setting(-1, "Testing: make the loss NaN at this step.", hidden=True)


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
  """Where the run lives and what it runs on."""
  model_dir: Optional[str] = setting(
      None, "Where the run's checkpoints, logs, metrics and SavedModel go (default "
      "runs/<model>_<dataset>). Rerun to resume.")
  strategy: str = setting("default", "tf.distribute strategy; multi_worker reads TF_CONFIG.",
                          choices=STRATEGIES)
  tpu: Optional[str] = setting(None, "TPU address, for --strategy=tpu.")
  cluster_wait_seconds: float = setting(
      DEFAULT_CLUSTER_WAIT_S, "--strategy=multi_worker: how long a task waits for its peers: at "
      "the start for the cluster of TF_CONFIG to connect, then in each all-reduce for the other "
      "tasks to join it; past it the task stops, naming the tasks missing. A stopped or dead peer "
      "is found sooner (TF's heartbeats, ~10 s). The chief's evaluation and export are waited out "
      "without this bound.", check=(lambda v: v > 0, "a positive number of seconds"))
  export_saved_model: bool = setting(True, "Write a SavedModel into model_dir/saved_model at the "
                                     "end.")
  progress_bar: bool = setting(True, "Show a progress bar while training.")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  """One training run's settings, section by section (see the module docstring)."""
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  clip: ClipConfig = dataclasses.field(default_factory=ClipConfig)
  init: InitConfig = dataclasses.field(default_factory=InitConfig)
  trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
  runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)


@dataclasses.dataclass(frozen=True)
class Setting:
  """One field of ExperimentConfig as the flags and the checks see it."""
  section: str         # 'trainer'
  name: str            # 'momentum'
  flag: str            # 'momentum' (the binaries' flag; the field's name unless declared)
  type: type           # bool, int, float or str
  optional: bool       # None is a value (Optional[...])
  default: typing.Any
  help: str
  choices: Optional[tuple]
  check: Optional[tuple]
  hidden: bool

  @property
  def path(self):
    return f"{self.section}.{self.name}"


def _base_type(annotation):
  """(bool | int | float | str, optional) of a field's annotation."""
  args = typing.get_args(annotation)
  if typing.get_origin(annotation) is typing.Union and type(None) in args:
    return next(a for a in args if a is not type(None)), True
  return annotation, False


def _settings():
  out = []
  for section in dataclasses.fields(ExperimentConfig):
    hints = typing.get_type_hints(section.type)
    for f in dataclasses.fields(section.type):
      kind, optional = _base_type(hints[f.name])
      meta = f.metadata
      out.append(Setting(section.name, f.name, meta["flag"] or f.name, kind, optional, f.default,
                         meta["help"], tuple(meta["choices"]) if meta["choices"] else None,
                         meta["check"], meta["hidden"]))
  return tuple(out)


SETTINGS = _settings()
_BY_PATH = {s.path: s for s in SETTINGS}
_BY_FLAG = {s.flag: s for s in SETTINGS}
if len(_BY_FLAG) != len(SETTINGS):
  raise AssertionError("two config fields declare the same flag name")
# run_config.json's flat "config" layout (runs written before this module) names each setting by
# its flag, or by its field where the two differ: init.finetune_mode was "finetune_mode".
_FLAT_KEYS = {**_BY_FLAG, **{s.name: s for s in SETTINGS if s.name not in ("name", "source")}}


def settings():
  """Every field of ExperimentConfig as a Setting, section by section."""
  return SETTINGS


def setting_of_flag(flag):
  return _BY_FLAG[flag]


def get(config, path_or_flag):
  """The value of a setting by path ('trainer.momentum') or flag name ('momentum')."""
  s = _BY_PATH.get(path_or_flag) or _BY_FLAG[path_or_flag]
  return getattr(getattr(config, s.section), s.name)


def replace(config, values):
  """A copy of `config` with {path, flag or field name: value} set (typed values; no parsing)."""
  sections = {}
  for key, value in values.items():
    s = _BY_PATH.get(key) or _FLAT_KEYS.get(key)
    if s is None:
      raise ValueError(f"unknown config setting {key!r}; valid: {', '.join(sorted(_BY_PATH))}")
    sections.setdefault(s.section, {})[s.name] = value
  return dataclasses.replace(config, **{
      name: dataclasses.replace(getattr(config, name), **fields)
      for name, fields in sections.items()})


# ------------------------------------------------------------------------------------ checks


def check_clip_geometry(model, final_pool_padding, crop_size=None, train_frames=None):
  """A ValueError naming --crop_size / --train_frames when the clip is too small for `model`."""
  spec = registry.get(model).input_spec
  min_frames, min_crop = registry.minimum_clip(model, final_pool_padding)
  crop = crop_size or spec.crop_size
  if crop < min_crop:
    raise ValueError(
        f"--crop_size={crop} is too small for --model={model} with the release's VALID final "
        f"pool (--final_pool_padding=VALID): its 2x7x7 pool needs crops of at least {min_crop} "
        f"px (registry's {spec.crop_size}). Pass --final_pool_padding=SAME for small crops, or "
        f"--crop_size>={min_crop}.")
  frames = [train_frames] if train_frames else [s.train_frames for s in spec.streams]
  if min(frames) < min_frames:
    raise ValueError(
        f"--train_frames={min(frames)} is too short for --model={model} with the release's VALID "
        f"final pool (--final_pool_padding=VALID): it needs clips of at least {min_frames} "
        f"frames. Pass --final_pool_padding=SAME for short clips, or --train_frames>="
        f"{min_frames}.")


def check_setting(s, value):
  """A ValueError naming --<flag> when `value` is of the wrong type, not a choice or fails the
  setting's check."""
  if value is None:
    if not s.optional:
      raise ValueError(f"--{s.flag} needs a value (it has no 'None')")
    return
  numeric = s.type is float and isinstance(value, int) and not isinstance(value, bool)
  if not (isinstance(value, s.type) or numeric) or (s.type is int and isinstance(value, bool)):
    raise ValueError(f"--{s.flag}={value!r}: expected {s.type.__name__}")
  if s.choices and value not in s.choices:
    raise ValueError(f"--{s.flag}={value!r} is not one of: "
                     f"{', '.join(str(c) for c in s.choices)}")
  if s.check:
    test, expected = s.check
    if not test(value):
      raise ValueError(f"--{s.flag}={value!r}{expected}" if expected.startswith(":")
                       else f"--{s.flag} must be {expected}")


def validate(config):
  """Checks every setting and the cross-field rules; returns config, else a ValueError naming
  the flag and what it expects (the messages the flags gave before they were derived)."""
  for s in SETTINGS:
    check_setting(s, get(config, s.path))
  model = config.model
  check_clip_geometry(model.name, model.final_pool_padding, config.clip.crop_size,
                      config.clip.train_frames)
  if model.lstm_gamma_init is not None and model.name != "lstm":
    raise ValueError(f"--lstm_gamma_init applies to --model=lstm only, not --model={model.name}")
  return config


def lr_schedule(config):
  """The run's schedule: --lr_schedule, else the model's release schedule (the registry's)."""
  return config.trainer.lr_schedule or registry.get(config.model.name).release_schedule


# ------------------------------------------------------------------------- JSON and overrides


def to_dict(config):
  """{section: {field: value}}: the "config" part of run_config.json."""
  return dataclasses.asdict(config)


def to_json(config):
  return json.dumps(to_dict(config), indent=2, sort_keys=True)


def is_flat_layout(values):
  """Whether a run_config "config" dict has the flat layout of runs written before sections."""
  return not isinstance(values.get("trainer"), dict) and "model_dir" in values


def from_dict(values, base=None):
  """ExperimentConfig from {section: {field: value}} (all or some; the rest from `base` or the
  defaults) or from the flat layout of older runs ({flag or field name: value}). Unknown keys are
  a ValueError naming the valid ones."""
  base = base or ExperimentConfig()
  if is_flat_layout(values):
    unknown = sorted(set(values) - set(_FLAT_KEYS))
    if unknown:
      raise ValueError(f"run config: unknown settings {unknown}")
    return replace(base, {_FLAT_KEYS[k].path: _from_json_value(_FLAT_KEYS[k], v)
                          for k, v in values.items()})
  flat = {}
  for section, fields in values.items():
    if section not in _section_names() or not isinstance(fields, dict):
      raise ValueError(f"config: unknown section {section!r}; valid: "
                       f"{', '.join(_section_names())}")
    for name, value in fields.items():
      flat[f"{section}.{name}"] = value
  unknown = sorted(set(flat) - set(_BY_PATH))
  if unknown:
    raise ValueError(f"config: unknown settings {unknown}; valid: {', '.join(sorted(_BY_PATH))}")
  return replace(base, {k: _from_json_value(_BY_PATH[k], v) for k, v in flat.items()})


def _from_json_value(s, value):
  return float(value) if s.type is float and isinstance(value, int) else value


def from_json(text, base=None):
  return from_dict(json.loads(text), base)


def _section_names():
  return tuple(f.name for f in dataclasses.fields(ExperimentConfig))


def of_run(run):
  """The ExperimentConfig of a run_config.json dict (either layout), or None where the folder
  holds no training config (an imported checkpoint)."""
  values = run.get("config")
  return from_dict(values) if values else None


def parse_value(s, text):
  """A setting's value from text, typed by the field: 'none' for None where optional."""
  if s.optional and text.strip().lower() in ("none", "null"):
    return None
  try:
    if s.type is bool:
      lowered = text.strip().lower()
      if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(text)
      return lowered in ("true", "1", "yes")
    return s.type(text)
  except ValueError:
    raise ValueError(f"{s.path}={text!r}: expected {s.type.__name__}"
                     f"{' or none' if s.optional else ''}") from None


def override(config, *assignments):
  """A copy of `config` with 'section.field=value' assignments applied (typed by the field) and
  validated. Unknown keys are a ValueError naming the valid ones."""
  values = {}
  for assignment in assignments:
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or key not in _BY_PATH:
      raise ValueError(f"override {assignment!r}: expected section.field=value with one of "
                       f"{', '.join(sorted(_BY_PATH))}")
    values[key] = parse_value(_BY_PATH[key], text)
  return validate(replace(config, values))


def load_file(path, base=None):
  """A config from a JSON file of {section: {field: value}} (some or all; the rest from base),
  validated."""
  try:
    with open(path, encoding="utf-8") as f:
      values = json.load(f)
  except OSError as e:
    raise ValueError(f"--config_file={path}: {e.strerror or e}") from None
  except ValueError as e:
    raise ValueError(f"--config_file={path}: not JSON ({e})") from None
  try:
    return validate(from_dict(values, base))
  except ValueError as e:
    raise ValueError(f"--config_file={path}: {e}") from None
