"""Every registered model goes through the training binaries' code path at reduced size.

`experiments/train_kinetics.py` and `experiments/finetune.py` are flag parsers around
`experiment.run`; this runs it for every `--model` in the registry: training from scratch, then the
paper's Fixed fine-tuning from that run (only the classifier changes), then Full fine-tuning, each
ending with its evaluation on the held-out toy split.
"""
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.models import classifier as classifier_lib
from i3d_tf.models import registry
from i3d_tf.training import experiment
from i3d_tf.training import testing


def _overrides(model):
  """Reduced settings each model accepts (I3D: SAME pool and 8 frames; others keep Table 1), at a
  quarter of the channels: the code path, the variables and which of them train are the same at
  any width (tracing dominates: 178 s for the seven, was 223 s at full width)."""
  options = dict(model=model, crop_size=32, eval_max_videos=2, train_steps=2,
                 checkpoint_every=2, width_multiplier=0.25)
  if registry.is_release_i3d(model):
    options.update(train_frames=8, final_pool_padding="SAME")
  else:
    options.update(train_frames=None, final_pool_padding="VALID", dropout_rate=0.0)
  return options


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
  return testing.toy_data_source(str(tmp_path_factory.mktemp("toy_shards")), num_videos=8)


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(registry.names()))
def test_model_trains_finetunes_fixed_and_full_and_evaluates(model, toy_data, tmp_path):
  source_dir = str(tmp_path / "source")
  status, final, _ = experiment.run(testing.toy_config(source_dir, **_overrides(model)), toy_data)
  assert status == "done", (model, status)
  assert final and "top1" in final, final

  fixed = testing.toy_config(str(tmp_path / "fixed"), init=source_dir, finetune_mode="fixed",
                             **_overrides(model))
  status, _, trainer = experiment.run(fixed, toy_data)
  assert status == "done", (model, status)
  classifier = {v.path for layer in classifier_lib.classifier_layers(trainer.model)
                for v in layer.trainable_variables}
  trained = {v.path for v in trainer.train_variables}
  assert classifier and trained == classifier, (model, sorted(trained ^ classifier)[:5])
  # Every other weight, batch-norm statistics included, is the source run's.
  source = tf.train.load_checkpoint(tf.train.latest_checkpoint(source_dir))
  saved = [source.get_tensor(name) for name in source.get_variable_to_shape_map()
           if name.startswith("model/") and "/.ATTRIBUTES/" in name and "OPTIMIZER_SLOT" not in name]
  frozen = [v for v in trainer.model.weights if v.path not in classifier]
  assert frozen
  unchanged = [v.path for v in frozen if any(
      a.shape == tuple(v.shape) and np.array_equal(a, v.numpy()) for a in saved)]
  assert len(unchanged) == len(frozen), (model, sorted(
      {v.path for v in frozen} - set(unchanged))[:5])

  full = testing.toy_config(str(tmp_path / "full"), init=source_dir, finetune_mode="full",
                            **_overrides(model))
  status, final, trainer = experiment.run(full, toy_data)
  assert status == "done", (model, status)
  assert len(trainer.train_variables) > len(classifier)
