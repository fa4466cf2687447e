"""Run checkpoints name every variable by its attribute path; runs made before (variables by release
name or by position, `run_checkpoints.checkpoint_variables`) still resume and load."""
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import run_checkpoints
from i3d_tf.checkpoints import runs
from i3d_tf.training import experiment
from i3d_tf.training import loop
from i3d_tf.training import testing


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
  """Toy shards to train on, without an evaluation set: the checkpoint layout is what is tested,
  not evaluation, which costs a model run of its own at each run's end."""
  data = testing.toy_data_source(str(tmp_path_factory.mktemp("toy_shards")), num_videos=8)
  return experiment.DataSource(data.train_files, [], data.num_classes, data.class_names)


def _config(model_dir, model, train_steps):
  # Quarter width: the layouts are the same at any width, and the full-width I3D took ~40 s here.
  options = dict(model=model, train_steps=train_steps, checkpoint_every=2,
                 width_multiplier=0.25)
  if model == "c3d":  # a baseline: its old checkpoints named variables by position
    options.update(train_frames=None, final_pool_padding="VALID", dropout_rate=0.0,
                   width_multiplier=0.125)
  return testing.toy_config(model_dir, **options)


def _model_keys(prefix):
  return [k for k, _ in tf.train.list_variables(prefix)
          if k.startswith("model/") and k.endswith("/.ATTRIBUTES/VARIABLE_VALUE")]


# Both namings load; resuming reads either through the same map (checkpoint_variables, in
# loop.Trainer's restore) and writes the same new layout, so it runs once, on the C3D run: the
# I3D's second training run (another trace of its train step) was most of this file's time.
@pytest.mark.parametrize("model,resume", [("i3d_flow", False), ("c3d", True)])
def test_a_run_made_before_paths_resumes_and_loads(model, resume, toy_data, tmp_path,
                                                   monkeypatch):
  model_dir = str(tmp_path / "run")
  # The run as the code before this change wrote it: the model part is checkpoint_variables' map.
  with monkeypatch.context() as patch:
    patch.setattr(loop.Trainer, "_checkpointed_model",
                  lambda self: run_checkpoints.checkpoint_variables(self.model))
    original_state = loop.Trainer._checkpointed_state  # pylint: disable=protected-access
    patch.setattr(loop.Trainer, "_checkpointed_state",
                  lambda self, optimizer=None: original_state(self, optimizer=self.optimizer))
    status, _, old = experiment.run(_config(model_dir, model, 2), toy_data)
  assert status == "done"
  old_prefix = tf.train.latest_checkpoint(model_dir)
  assert run_checkpoints.is_legacy_checkpoint(old_prefix)
  if model == "c3d":  # by position
    assert any(k.startswith("model/variable_0000/") for k in _model_keys(old_prefix))
  else:  # by release name, '/' escaped as '.S'
    assert any(k.startswith("model/Conv3d_1a_7x7.Sconv_3d.Sw/") for k in _model_keys(old_prefix))
  trained = {v.path: v.numpy() for v in old.model.variables if "seed_generator" not in v.path}

  # Loads: every variable restored (a lost one would keep its fresh value and fail the check).
  loaded, _ = runs.load_run(model_dir)
  for v in loaded.variables:
    if "seed_generator" not in v.path:
      np.testing.assert_array_equal(v.numpy(), trained[v.path], err_msg=v.path)

  if not resume:
    return
  # Resumes at its step, optimizer state included, and the new checkpoint has paths.
  messages = []
  status, _, resumed = experiment.run(_config(model_dir, model, 4), toy_data,
                                      echo=messages.append)
  assert status == "done" and "at step 2 of 4" in messages[0], messages[:1]
  new_prefix = tf.train.latest_checkpoint(model_dir)
  assert new_prefix.endswith("ckpt-4") and not run_checkpoints.is_legacy_checkpoint(new_prefix)
  keys = _model_keys(new_prefix)
  assert len(keys) == len([v for v in resumed.model.variables if "seed_generator" not in v.path])
  assert not any("variable_" in k for k in keys)
  # The optimizer's momentum slots are named after their variable's path, not a position.
  slots = [k for k, _ in tf.train.list_variables(new_prefix) if k.startswith("optimizer/")]
  assert sum(k.endswith("_momentum/.ATTRIBUTES/VARIABLE_VALUE") for k in slots) == len(
      resumed.train_variables), slots[:5]
  assert not any("_trainable_variables" in k for k in slots)
  loaded, _ = runs.load_run(model_dir)
  for a, b in zip(loaded.variables, resumed.model.variables):
    if "seed_generator" in a.path:
      continue
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
