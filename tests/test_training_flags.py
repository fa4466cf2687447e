"""The training binaries' flags, derived from i3d_tf/config.py's fields: each flag a binary lists
changes the field of the config it would run (generated from the fields, so a new field is
covered), flags not given keep the base experiment's values, --experiment / --config_file /
--override, and --tpu reaching the strategy."""
import json

from absl import flags
import pytest

from experiments import training_flags
from experiments.configs import registry as experiments
from i3d_tf import config as config_lib
from i3d_tf.training import distribute
from i3d_tf.training import experiment
from i3d_tf.training import testing

BINARIES = ("train_kinetics", "finetune")
# Flags whose other value needs another flag to make a valid config.
_COMPANIONS = {"lstm_gamma_init": ["--model=lstm"]}


def _parse(binary, *argv):
  """(flag values, the config the binary would run) for `argv`, without training."""
  values = flags.FlagValues()
  training_flags.define_flags(binary, flag_values=values)
  values(["prog", *argv])
  return values, training_flags.config_from_flags(values, binary)


def _other_value(s, default):
  """A valid value of setting `s` other than `default`."""
  if s.type is bool:
    return not default
  if s.choices:
    return next(c for c in s.choices if c != default)
  if s.type is int:
    return default * 2 if default else 300
  if s.type is float:
    return default / 2 if default else 0.5
  return f"{default or 'other'}_x"


def _argv(s, value):
  if s.type is bool:
    return f"--{s.flag}" if value else f"--no{s.flag}"
  return f"--{s.flag}={value}"


@pytest.mark.parametrize("binary", BINARIES)
def test_every_flag_a_binary_lists_changes_its_config_field(binary):
  base = experiments.get(binary)
  listed = training_flags.setting_flags(binary)
  assert {s.flag for s in listed} == {s.flag for s in config_lib.settings()} - set(
      training_flags.OMITTED[binary])
  for s in listed:
    default = config_lib.get(base, s.path)
    value = _other_value(s, default)
    _, config = _parse(binary, "--data_dir=/d", *_COMPANIONS.get(s.flag, []), _argv(s, value))
    assert config_lib.get(config, s.path) == value, (binary, s.flag, value)
    assert config_lib.get(config, s.path) != default


@pytest.mark.parametrize("binary", BINARIES)
def test_help_defaults_are_the_binary_experiment_and_flags_not_given_keep_them(binary):
  base = experiments.get(binary)
  values, config = _parse(binary, "--data_dir=/d")
  for s in training_flags.setting_flags(binary):
    default = values[s.flag].default
    assert (s.type(default) if s.choices and default is not None else default) == \
        config_lib.get(base, s.path), s.flag
  assert config == config_lib.replace(base, {"data_dir": "/d"})
  assert values.find_module_defining_flag("inject_nan_at_step") == \
      training_flags.INTERNAL_FLAGS_MODULE  # test-only: not in --help


def test_finetune_defaults_and_its_flags():
  _, config = _parse("finetune", "--data_dir=/d", "--split=3", "--mode=fixed", "--init=runs/k")
  assert (config.data.dataset, config.data.split, config.init.finetune_mode) == ("ucf101", 3,
                                                                                  "fixed")
  assert (config.trainer.train_steps, config.trainer.learning_rate, config.trainer.lr_schedule,
          config.trainer.eval_every, config.init.source) == (5000, 0.01, "cosine", 1000, "runs/k")


def test_synthetic_datasets_get_the_reduced_configuration():
  reduced = experiments.get("synthetic_reduced/i3d_flow")
  _, embedded = _parse("train_kinetics", "--model=i3d_flow")
  assert embedded == reduced
  _, built = _parse("train_kinetics", "--model=i3d_flow", "--dataset=synthetic_motion/small",
                    "--data_dir=/d")
  assert built == config_lib.replace(reduced, {"dataset": "synthetic_motion/small",
                                               "data_dir": "/d"})
  _, given = _parse("train_kinetics", "--model=i3d_flow", "--batch_size=5")
  assert given.trainer.batch_size == 5 and given.clip.crop_size == reduced.clip.crop_size


def test_experiment_config_file_and_override(tmp_path, capsys):
  _, config = _parse("train_kinetics", "--experiment=finetune", "--data_dir=/d")
  assert config.trainer.train_steps == 5000 and config.data.dataset == "ucf101"
  path = tmp_path / "c.json"
  path.write_text(json.dumps({"trainer": {"momentum": 0.5, "seed": 3}}))
  _, config = _parse("train_kinetics", "--data_dir=/d", f"--config_file={path}", "--seed=4",
                     "--override=trainer.weight_decay=0", "--override=clip.random_flip=false")
  assert config.trainer.momentum == 0.5 and config.trainer.seed == 4  # a flag over the file
  assert config.trainer.weight_decay == 0.0 and config.clip.random_flip is False
  with pytest.raises(flags.IllegalFlagValueError, match="trainer.momentom"):
    _parse("train_kinetics", "--data_dir=/d", "--override=trainer.momentom=1")
  with pytest.raises(flags.IllegalFlagValueError, match="registered: train_kinetics"):
    _parse("train_kinetics", "--experiment=nope")
  values, _ = _parse("train_kinetics", "--data_dir=/d")
  values["experiment"].value = "help"
  with pytest.raises(SystemExit) as e:
    training_flags.exit_if_experiment_help(values)
  assert e.value.code == 0
  assert "synthetic_reduced/i3d_rgb" in capsys.readouterr().out


def test_bad_values_are_refused_when_parsed_naming_the_flag():
  with pytest.raises(flags.IllegalFlagValueError, match="--momentum must be in"):
    _parse("train_kinetics", "--momentum=1")
  with pytest.raises(flags.IllegalFlagValueError, match="--crop_size=112 is too small"):
    _parse("train_kinetics", "--crop_size=112", "--data_dir=/d")
  _parse("train_kinetics", "--crop_size=112")  # the embedded set's reduced config: SAME pool


def test_tpu_reaches_the_strategy(monkeypatch, tmp_path):
  """--tpu is what distribute.make_strategy receives as the TPU address."""
  _, config = _parse("train_kinetics", "--data_dir=/d", "--strategy=tpu",
                     "--tpu=grpc://10.0.0.2:8470")
  assert config.runtime.tpu == "grpc://10.0.0.2:8470"
  asked = {}

  class Reached(Exception):
    pass

  def make_strategy(name, tpu_address=None, cluster_wait_seconds=None):
    asked.update(name=name, tpu_address=tpu_address, cluster_wait_seconds=cluster_wait_seconds)
    raise Reached()
  monkeypatch.setattr(distribute, "make_strategy", make_strategy)
  toy = testing.toy_config(str(tmp_path / "run"), strategy="tpu", tpu="grpc://10.0.0.2:8470",
                           cluster_wait_seconds=7.0)
  data = testing.toy_data_source(str(tmp_path / "shards"), num_videos=4)
  with pytest.raises(Reached):
    experiment.run(toy, data)
  assert asked == {"name": "tpu", "tpu_address": "grpc://10.0.0.2:8470",
                   "cluster_wait_seconds": 7.0}
