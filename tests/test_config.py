"""i3d_tf/config.py and the experiments registry: defaults, checks, JSON, overrides, old runs."""
import dataclasses
import json
import os

import pytest

from experiments.configs import registry as experiments
from i3d_tf import config as config_lib
from i3d_tf.models import registry as models

OLD_RUN = os.path.join(os.path.dirname(__file__), "data", "run_before_issue18")


def test_every_setting_is_declared_once_with_help_and_a_unique_flag():
  flags = [s.flag for s in config_lib.settings()]
  assert len(flags) == len(set(flags))
  assert all(s.help for s in config_lib.settings())
  # The flag names users and the README know.
  for flag in ("model", "init", "batch_size", "momentum", "lr_schedule", "tpu", "mode", "split"):
    assert flag in flags
  assert config_lib.setting_of_flag("init").path == "init.source"
  assert config_lib.setting_of_flag("mode").path == "init.finetune_mode"


def test_json_round_trip_keeps_every_value_and_type():
  config = config_lib.override(
      config_lib.ExperimentConfig(), "model.name=c3d", "trainer.momentum=0.8", "data.split=3",
      "clip.crop_size=96", "model.sync_batch_norm=true", "runtime.tpu=grpc://10.0.0.2:8470")
  back = config_lib.from_json(config_lib.to_json(config))
  assert back == config
  assert isinstance(back.runtime.cluster_wait_seconds, float) and back.data.split == 3


def test_old_flat_run_config_loads():
  """tests/data/run_before_issue18 was written by main before the config had sections."""
  with open(os.path.join(OLD_RUN, "run_config.json"), encoding="utf-8") as f:
    run = json.load(f)
  assert config_lib.is_flat_layout(run["config"])
  config = config_lib.validate(config_lib.of_run(run))
  assert config.model.name == "i3d_flow" and config.model.width_multiplier == 0.0625
  assert config.init.finetune_mode == "full" and config.init.source == "scratch"
  assert (config.clip.crop_size, config.clip.train_frames) == (32, 8)
  assert config.trainer.lr_schedule == "cosine" and config.trainer.train_steps == 2
  assert config_lib.of_run({"model": "i3d_rgb"}) is None  # an imported folder: no config


def test_override_parses_by_field_type_and_names_valid_keys():
  base = config_lib.ExperimentConfig()
  config = config_lib.override(base, "trainer.seed=7", "clip.crop_size=none",
                               "trainer.deterministic=1", "trainer.learning_rate=3")
  assert config.trainer.seed == 7 and config.clip.crop_size is None
  assert config.trainer.deterministic is True and config.trainer.learning_rate == 3.0
  assert base.trainer.seed is None  # configs are values: the base is unchanged
  with pytest.raises(ValueError, match=r"trainer\.momentum.*trainer\.seed"):
    config_lib.override(base, "trainer.momentom=0.8")
  with pytest.raises(ValueError, match="expected section.field=value"):
    config_lib.override(base, "trainer.momentum")
  with pytest.raises(ValueError, match=r"trainer\.batch_size='many': expected int"):
    config_lib.override(base, "trainer.batch_size=many")
  with pytest.raises(ValueError, match=r"trainer\.batch_size='none': expected int$"):
    config_lib.override(base, "trainer.batch_size=none")  # not Optional
  with pytest.raises(ValueError, match="--batch_size needs a value"):
    config_lib.validate(config_lib.replace(base, {"batch_size": None}))


@pytest.mark.parametrize("assignment,message", [
    ("trainer.momentum=1", "--momentum must be in [0, 1)"),
    ("trainer.batch_size=0", "--batch_size must be a positive integer"),
    ("trainer.log_every=0", "--log_every must be a positive integer"),
    ("trainer.eval_every=-1", "--eval_every must be >= 0 (0: only at the end)"),
    ("model.dropout_rate=1", "--dropout_rate must be in [0, 1)"),
    ("trainer.learning_rate=-0.1", "--learning_rate must be a positive number"),
    ("runtime.cluster_wait_seconds=0", "--cluster_wait_seconds must be a positive number"),
    ("model.batch_norm_decay=1", "--batch_norm_decay must be in (0, 1)"),
    ("runtime.strategy=gpus", "--strategy='gpus' is not one of: default, mirrored"),
    ("model.name=resnet", "--model='resnet' is not one of: i3d_rgb"),
    ("data.dataset=Kinetics!", "--dataset='Kinetics!'"),
    ("clip.crop_size=112", "--crop_size=112 is too small for --model=i3d_rgb"),
    ("model.lstm_gamma_init=1", "--lstm_gamma_init applies to --model=lstm only"),
])
def test_validation_names_the_flag(assignment, message):
  with pytest.raises(ValueError) as e:
    config_lib.override(config_lib.ExperimentConfig(), assignment)
  assert message in str(e.value)


def test_clip_geometry_is_checked_with_the_model_and_padding():
  base = config_lib.ExperimentConfig()
  config_lib.override(base, "clip.crop_size=112", "model.final_pool_padding=SAME")
  with pytest.raises(ValueError, match="--train_frames=8 is too short for --model=i3d_flow"):
    config_lib.override(base, "model.name=i3d_flow", "clip.train_frames=8")


def test_config_file_sets_some_fields_over_a_base(tmp_path):
  path = tmp_path / "exp.json"
  path.write_text(json.dumps({"trainer": {"momentum": 0.5}, "model": {"name": "c3d"}}))
  base = experiments.get("finetune")
  config = config_lib.load_file(str(path), base)
  assert config.trainer.momentum == 0.5 and config.model.name == "c3d"
  assert config.trainer.train_steps == 5000  # the rest is the base's
  path.write_text(json.dumps({"trainer": {"momentom": 0.5}}))
  with pytest.raises(ValueError, match=r"exp\.json: config: unknown settings \['trainer.momentom'\]"):
    config_lib.load_file(str(path))
  with pytest.raises(ValueError, match=r"--config_file=.*missing\.json: No such file"):
    config_lib.load_file(str(tmp_path / "missing.json"))


def test_the_release_schedule_is_the_registry_s():
  base = config_lib.ExperimentConfig()
  assert base.trainer.lr_schedule is None
  for name in models.names():
    config = config_lib.replace(base, {"model": name})
    assert config_lib.lr_schedule(config) == models.get(name).release_schedule
  assert models.get("i3d_flow").release_schedule == "release_flow"
  assert config_lib.lr_schedule(config_lib.replace(base, {"lr_schedule": "cosine"})) == "cosine"


def test_registered_experiments():
  names = experiments.names()
  assert names[:2] == ("train_kinetics", "finetune")
  for model in models.names():
    assert experiments.synthetic_reduced_name(model) in names
  for name in names:
    assert isinstance(experiments.get(name), config_lib.ExperimentConfig)  # each validates
  assert experiments.get("train_kinetics") == config_lib.ExperimentConfig()
  finetune = experiments.get("finetune")
  assert (finetune.data.dataset, finetune.trainer.train_steps, finetune.trainer.learning_rate,
          finetune.trainer.lr_schedule, finetune.trainer.eval_every, finetune.init.source) == (
              "ucf101", 5000, 0.01, "cosine", 1000, None)
  reduced = experiments.get("synthetic_reduced/i3d_flow")
  assert reduced.model.name == "i3d_flow" and reduced.model.width_multiplier == 0.25
  assert reduced.model.final_pool_padding == "SAME" and reduced.clip.random_flip is False
  with pytest.raises(ValueError, match="registered: train_kinetics, finetune"):
    experiments.get("table9")
  with pytest.raises(ValueError, match="registered twice"):
    experiments.register("finetune", config_lib.ExperimentConfig)


def test_sections_are_frozen_values():
  config = config_lib.ExperimentConfig()
  with pytest.raises(dataclasses.FrozenInstanceError):
    config.trainer.momentum = 0.5  # pytype: disable=not-writable
