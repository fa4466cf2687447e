"""A recipe's steps run in-process: a training step is its registered experiment (on the folders
reproduce was given) trained by i3d_tf.training.experiment.run, an evaluation is
experiments/evaluate_runs.py's `evaluate`. No subprocess and no flag parsing: the config is the
registry's (experiments/configs/registry.py).

Flag-free, so that reproduce and the tests import it (a binary's flags would clash with theirs).
"""
import json
import os

from experiments.configs import registry as experiments
from experiments.configs import synthetic
from i3d_tf import config as config_lib


class Preempted(Exception):
  """A training step stopped on SIGTERM after saving its checkpoint (the loop's 'preempted')."""


def step_config(command, paths):
  """The ExperimentConfig of a training command: its registered experiment on the folders of
  `paths` (data_dir, runs, imagenet), validated."""
  config = experiments.get(command.experiment)
  return config_lib.validate(config_lib.replace(config, command.values(**paths, placed_only=True)))


def miniature_config(model, data_dir, runs_dir, steps):
  """The miniature's registered synthetic/<model> experiment at `steps` (--synthetic_steps) on
  these folders, validated."""
  config = experiments.get(synthetic.experiment_name(model))
  return config_lib.validate(config_lib.replace(
      config, synthetic.miniature_values(model, data_dir, runs_dir, steps)))


def is_done(command, paths):
  """True when the step's output is already complete (so a rerun can skip it): an evaluation's
  metrics.json exists; a training run's metrics.json has reached its train_steps."""
  if not command.experiment:
    return os.path.exists(os.path.join(command.values(**paths)["output_dir"], "metrics.json"))
  config = step_config(command, paths)
  return run_reached(config.runtime.model_dir, config.trainer.train_steps)


def run_reached(model_dir, train_steps):
  """Whether model_dir's metrics.json has reached step `train_steps`."""
  path = os.path.join(model_dir or "", "metrics.json")
  if not model_dir or not os.path.exists(path):
    return False
  with open(path) as f:
    return json.load(f).get("step", 0) >= train_steps


def train(config):
  """Trains (or resumes) one run in-process, as train_kinetics / finetune do with its flags."""
  # TensorFlow is imported only when a step runs: reproduce's dry run (and --help) loads none.
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import experiment  # pylint: disable=import-outside-toplevel
  import keras  # pylint: disable=import-outside-toplevel
  data = config.data
  source = training_flags.resolve_data(
      data.dataset, data.data_dir, data.record_format, split_number=data.split,
      num_classes=data.num_classes,
      synthetic_config=data.synthetic_config if data.dataset == "synthetic_motion" else None,
      dataset_config=data.dataset_config)
  status, _, _ = experiment.run(config, source)
  keras.backend.clear_session()  # the next step builds its own model
  if status == "preempted":
    raise Preempted(f"preempted (SIGTERM): checkpoint saved in {config.runtime.model_dir}; "
                    f"rerun reproduce to resume")


def evaluate(values):
  """experiments/evaluate.py's work in-process, for an evaluation command's {flag: value}."""
  from experiments import evaluate_runs  # pylint: disable=import-outside-toplevel

  def listed(name):
    return values[name].split(",") if values.get(name) else None
  evaluate_runs.evaluate(listed("run_dirs"), values["data_dir"], values["dataset"],
                         fuse_run_dirs=listed("fuse_run_dirs"), splits=listed("splits"),
                         output_dir=values["output_dir"])


def user_errors():
  """Errors whose message says all (the binaries print them without a traceback)."""
  from i3d_tf.training import experiment  # pylint: disable=import-outside-toplevel
  return experiment.USER_ERRORS + (ValueError, FileNotFoundError)
