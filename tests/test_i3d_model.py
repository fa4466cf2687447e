"""InceptionI3D: the release's parameter counts, endpoints and the short-clip error."""
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.models import i3d
from i3d_tf.models import registry


def _trainable_count(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


@pytest.mark.parametrize("channels,expected", [(3, 12_689_984), (2, 12_668_032)])
def test_parameter_counts_match_release(channels, expected):
  model = i3d.InceptionI3D(400, in_channels=channels)
  model.build((None, None, 224, 224, channels))
  assert _trainable_count(model) == expected
  # 230 variables per stream in every released checkpoint (moving statistics included).
  assert len(model.deepmind_variables()) == 230


def test_endpoints_in_release_order_and_shapes():
  model = i3d.InceptionI3D(7, in_channels=3, final_endpoint="Predictions")
  out, endpoints = model.call_with_endpoints(tf.zeros((2, 16, 224, 224, 3)))
  assert tuple(endpoints) == i3d.VALID_ENDPOINTS
  assert endpoints["Conv3d_1a_7x7"].shape == (2, 8, 112, 112, 64)
  assert endpoints["Mixed_3c"].shape == (2, 8, 28, 28, 480)
  assert endpoints["Mixed_4f"].shape == (2, 4, 14, 14, 832)
  assert endpoints["Mixed_5c"].shape == (2, 2, 7, 7, 1024)
  assert endpoints["Logits"].shape == (2, 7)
  np.testing.assert_allclose(tf.reduce_sum(out, axis=-1), 1.0, rtol=1e-5)


def test_final_endpoint_truncates_network():
  model = i3d.InceptionI3D(5, in_channels=2, final_endpoint="Mixed_3c")
  out = model(tf.zeros((1, 8, 64, 64, 2)))
  assert out.shape == (1, 4, 8, 8, 480)
  assert not any("Logits" in name for name in model.deepmind_variables())


def test_short_clip_error_says_to_loop():
  model = i3d.InceptionI3D(4, in_channels=3)
  with pytest.raises(ValueError, match="loop shorter clips"):
    model(tf.zeros((1, 8, 224, 224, 3)))


def test_same_final_pool_accepts_short_small_clips():
  model = i3d.InceptionI3D(4, in_channels=3, final_pool_padding="SAME")
  assert model(tf.zeros((2, 4, 64, 64, 3))).shape == (2, 4)


def test_wrong_channel_count_is_named():
  model = i3d.InceptionI3D(4, in_channels=2, final_pool_padding="SAME")
  model(tf.zeros((1, 4, 32, 32, 2)))
  with pytest.raises(ValueError, match="2 input channels"):
    model(tf.zeros((1, 4, 32, 32, 3)))


def test_registry_names_valid_models():
  # Building every registered model: the shared model test (tests/test_models_shared.py).
  with pytest.raises(ValueError, match="i3d_rgb"):
    registry.get("nope")
