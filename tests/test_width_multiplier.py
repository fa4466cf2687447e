"""--width_multiplier for every registered model: exact at 1.0, reaches every builder, and refuses
an ImageNet checkpoint at m < 1 (how each layer scales: the shared model test, models/testing.py).

The reduced widths are what the synthetic miniature of the paper trains on 2 cores; 1.0 must stay
the paper's / the release's network, and an ImageNet checkpoint must refuse a narrower one.
"""
import numpy as np
import pytest

from i3d_tf import config as config_lib
from i3d_tf.models import registry, width
from i3d_tf.training import task
from i3d_tf.training import init as init_lib

# Trainable parameters of every registered model at width 1.0 (400 classes), as measured before
# width_multiplier reached the baselines: any change to the full-width networks shows here.
FULL_WIDTH_PARAMS = {
    "i3d_rgb": 12_689_984,
    "i3d_flow": 12_668_032,
    "i3d_two_stream": 25_358_016,
    "lstm": 8_950_720,
    "c3d": 79_634_576,
    "two_stream": 12_058_560,
    "fused_3d": 39_755_824,
}
QUARTER = 0.25


def _trainable(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def _config(name, width_multiplier):
  """A training config with a tiny clip geometry, as the synthetic miniature runs it."""
  extra = {"crop_size": 32}
  if registry.is_release_i3d(name):
    extra.update(final_pool_padding="SAME", train_frames=8)
  if name == "c3d":  # FC-6's input is sized by the clip: 16 frames of 56x56 -> 1x2x2 at conv5b
    extra.update(crop_size=56, train_frames=16)
  return config_lib.replace(config_lib.ExperimentConfig(), dict(
      model=name, dropout_rate=0.0, width_multiplier=width_multiplier, **extra))


def test_every_registered_model_is_covered():
  assert set(FULL_WIDTH_PARAMS) == set(registry.names())


def test_scaling_rule():
  assert width.scaled(64, 1.0) == 64 and width.scaled(64, 0.25) == 16
  assert width.scaled(48, 0.25) == 12 and width.scaled(3, 0.1) == 1  # at least one channel
  for bad in (0, -0.5, "wide", None):
    with pytest.raises(ValueError, match="width_multiplier"):
      width.check(bad)


# The release's I3D counts are checked with its layout (test_i3d_model.py: each stream;
# test_saved_model.py: the two streams): built here, the baselines.
RELEASE_I3D = ("i3d_rgb", "i3d_flow", "i3d_two_stream")


def test_the_release_counts_are_the_ones_checked_elsewhere():
  assert FULL_WIDTH_PARAMS["i3d_two_stream"] == (FULL_WIDTH_PARAMS["i3d_rgb"]
                                                 + FULL_WIDTH_PARAMS["i3d_flow"])
  assert all(registry.is_release_i3d(name) for name in RELEASE_I3D)


@pytest.mark.parametrize("name", sorted(set(FULL_WIDTH_PARAMS) - set(RELEASE_I3D)))
def test_full_width_is_unchanged(name):
  """The default width has the parameter count of before (the shared model test,
  i3d_tf/models/testing.py, checks that the default is 1.0 and how a narrower model scales)."""
  default = registry.build_model(name, 400)
  default.build(None)
  assert default.width_multiplier == 1.0
  assert _trainable(default) == FULL_WIDTH_PARAMS[name]


@pytest.mark.parametrize("name", sorted(FULL_WIDTH_PARAMS))
def test_the_flag_reaches_every_builder(name):
  options = task.model_options(_config(name, QUARTER))
  assert options["width_multiplier"] == QUARTER
  model = registry.build_model(name, 5, **options)
  assert model.width_multiplier == QUARTER  # built and run at a reduced width: models/testing.py


def test_the_fusion_and_recurrent_layers_are_scaled_too():
  lstm = registry.build_model("lstm", 5, width_multiplier=QUARTER, max_steps=4)
  lstm.build(None)
  assert lstm.lstm_units == 128 and tuple(lstm.lstm.kernel_h.shape) == (128, 4 * 128)
  assert tuple(lstm.lstm.kernel_x.shape) == (256, 4 * 128)  # Mixed_5c: 96 + 96 + 32 + 32
  fused = registry.build_model("fused_3d", 5, width_multiplier=QUARTER)
  fused.build(None)
  assert tuple(fused.fusion.deepmind_variables()["conv_3d/w"].shape) == (3, 3, 3, 512, 128)
  assert tuple(fused.logits.kernel.shape) == (128, 5)
  c3d = registry.build_model("c3d", 5, width_multiplier=QUARTER)
  c3d.build(None)
  assert [u.output_channels for u in c3d.convs] == [16, 32, 64, 64, 128, 128, 128, 128]
  assert tuple(c3d.fcs[0].kernel.shape) == (1 * 4 * 4 * 128, 1024)
  assert tuple(c3d.fcs[1].kernel.shape) == (1024, 1024)
  for name in ("two_stream", "i3d_two_stream"):  # both streams narrowed
    model = registry.build_model(name, 5, width_multiplier=QUARTER)
    streams = [getattr(model, a) for a in ("rgb_net", "flow_net", "rgb", "flow")
               if hasattr(model, a)]
    assert len(streams) == 2 and all(s.width_multiplier == QUARTER for s in streams), name


@pytest.fixture(scope="module")
def slim_checkpoint(tmp_path_factory):
  from i3d_tf.checkpoints import slim  # pylint: disable=import-outside-toplevel
  from tests.test_inception_v1 import random_slim_arrays  # pylint: disable=import-outside-toplevel
  path = tmp_path_factory.mktemp("imagenet") / "inception_v1.ckpt"
  return slim.write_checkpoint(str(path), random_slim_arrays(seed=1))


@pytest.mark.parametrize("name", ["i3d_rgb", "i3d_flow", "i3d_two_stream", "lstm", "two_stream",
                                  "fused_3d"])
def test_imagenet_init_at_another_width_names_the_flag(name, slim_checkpoint):
  model = registry.build_model(name, 5, **task.model_options(_config(name, QUARTER)))
  model.build(None)
  before = [v.numpy().copy() for v in model.trainable_weights[:3]]
  with pytest.raises(ValueError, match=r"--init=imagenet needs --width_multiplier=1\.0.*"
                                       r"width_multiplier=0\.25") as info:
    init_lib.initialize(model, "imagenet", slim_checkpoint)
  assert f"{model.name} was built" in str(info.value)  # the model, not one of its parts
  for old, var in zip(before, model.trainable_weights[:3]):
    np.testing.assert_array_equal(old, var.numpy())  # nothing was assigned


def test_c3d_still_has_no_imagenet_initialisation(slim_checkpoint):
  model = registry.build_model("c3d", 5, width_multiplier=QUARTER, crop_size=56)
  with pytest.raises(ValueError, match="no ImageNet initialisation"):
    init_lib.initialize(model, "imagenet", slim_checkpoint)
