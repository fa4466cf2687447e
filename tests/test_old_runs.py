"""Runs made before issue 18's typed config (tests/data/run_before_issue18: a flat run_config.json
written by main at 62c4557) still load for evaluation and resume training."""
import os
import shutil

import numpy as np

from i3d_tf import config as config_lib
from i3d_tf.checkpoints import runs
from i3d_tf.training import experiment
from i3d_tf.training import task as task_lib
from i3d_tf.training import testing

OLD_RUN = os.path.join(os.path.dirname(__file__), "data", "run_before_issue18")


def _copy(tmp_path, name):
  path = str(tmp_path / name)
  shutil.copytree(OLD_RUN, path)
  return path


def test_an_old_run_loads_for_evaluation(tmp_path):
  run_dir = _copy(tmp_path, "old")
  model, run = runs.load_run(run_dir)
  spec = runs.clip_spec_of_run(run)
  logits = model(task_lib.example_inputs(spec), training=False)
  assert logits.shape == (1, 4) and np.all(np.isfinite(logits.numpy()))
  assert config_lib.of_run(run).model.name == run["model"] == "i3d_flow"


def test_an_old_run_resumes_with_its_own_config(tmp_path):
  """The config read back from the old run_config.json resumes it (model_dir checks pass), and
  the run folder is rewritten in the sectioned layout."""
  run_dir = _copy(tmp_path, "old")
  old = config_lib.of_run(runs.read_run_config(run_dir))
  config = config_lib.replace(old, {"model_dir": run_dir, "train_steps": 3,
                                    "checkpoint_every": 3})
  data = testing.toy_data_source(str(tmp_path / "shards"))
  said = []
  status, final, trainer = experiment.run(config, data, echo=said.append)
  assert status == "done" and int(trainer.step.numpy()) == 3, said
  assert f"Resuming {run_dir} at step 2 of 3." in said
  assert final["num_examples"] == 2
  run = runs.read_run_config(run_dir)
  assert not config_lib.is_flat_layout(run["config"])
  assert config_lib.of_run(run) == config
