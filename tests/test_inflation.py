"""Inflation of I3D from a 2D Inception-v1: the boring-video fixed point, slim -> I3D, flow."""
import math

import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import inflation, slim
from i3d_tf.models import i3d, inception_v1
from tests.test_inception_v1 import random_slim_arrays

SIZE = 32  # pixels; 32 -> 1x1 at Mixed_5c, every spatial padding as at 224
FRAMES = 112  # enough for Mixed_5c (temporal receptive field 99 frames) to have clean positions


def _randomised_2d(seed=0):
  """A built 2D trunk with random weights and non-trivial BN statistics."""
  model = inception_v1.InceptionV1(in_channels=3, final_endpoint="Mixed_5c")
  model.build((None, None, None, 3))
  rng = np.random.default_rng(seed)
  for name, var in model.slim_variables().items():
    shape = tuple(var.shape)
    if name.endswith("moving_variance"):
      value = rng.uniform(0.5, 2.0, shape)
    elif name.endswith(("beta", "moving_mean")):
      value = rng.normal(0.0, 0.2, shape)
    else:
      value = rng.normal(0.0, math.sqrt(2.0 / np.prod(shape[:-1])), shape)
    var.assign(value.astype(np.float32))
  return model


def _same_window(length, kernel, stride):
  """TF 'SAME': output length and, per output position, the input range [start, end]."""
  out = math.ceil(length / stride)
  pad_before = max((out - 1) * stride + kernel - length, 0) // 2
  return out, [(j * stride - pad_before, j * stride - pad_before + kernel - 1) for j in range(out)]


def _clean_after(length, clean, kernel, stride, is_pool):
  """Positions whose value never saw temporal zero padding, after one SAME conv or max pool.

  A conv is clean where its whole window lies on clean inputs; a max pool ignores padding, so it
  is clean where the in-range part of its window is clean.
  """
  out, windows = _same_window(length, kernel, stride)
  result = set()
  for j, (start, end) in enumerate(windows):
    if is_pool:
      start, end = max(start, 0), min(end, length - 1)
    if all(t in clean for t in range(start, end + 1)):
      result.add(j)
  return out, result


def clean_positions(frames):
  """{I3D endpoint: temporal positions unaffected by temporal padding}, layer by layer."""
  length, clean, result = frames, set(range(frames)), {}
  for endpoint in i3d.VALID_ENDPOINTS[:i3d.VALID_ENDPOINTS.index("Mixed_5c") + 1]:
    if endpoint in i3d.MAX_POOLS:
      (kt, _, _), (st, _, _) = i3d.MAX_POOLS[endpoint]
      length, clean = _clean_after(length, clean, kt, st, is_pool=True)
    elif endpoint.startswith("Mixed"):
      # 1x1 branches keep `clean`; the 3x3x3 conv branches (and pool+1x1) shrink it.
      _, conv_clean = _clean_after(length, clean, 3, 1, is_pool=False)
      _, pool_clean = _clean_after(length, clean, 3, 1, is_pool=True)
      clean = clean & conv_clean & pool_clean
    else:
      kt, st = {"Conv3d_1a_7x7": (7, 2), "Conv3d_2b_1x1": (1, 1), "Conv3d_2c_3x3": (3, 1)}[endpoint]
      length, clean = _clean_after(length, clean, kt, st, is_pool=False)
    result[endpoint] = sorted(clean)
  return result


def test_boring_video_gives_2d_activations_at_every_endpoint():
  model_2d = _randomised_2d()
  model_3d = i3d.InceptionI3D(in_channels=3, final_endpoint="Mixed_5c")
  model_3d.build((None, None, None, None, 3))
  assigned = inflation.inflate_i3d_from_2d(model_3d, model_2d)
  assert len(assigned) == len(model_3d.deepmind_variables())

  image = tf.random.uniform((1, SIZE, SIZE, 3), -1.0, 1.0, seed=3)
  video = tf.repeat(image[:, tf.newaxis], FRAMES, axis=1)  # [1, T, H, W, 3], all frames equal
  _, ends_2d = model_2d.call_with_endpoints(image, training=False)
  _, ends_3d = model_3d.call_with_endpoints(video, training=False)
  clean = clean_positions(FRAMES)
  saw_padding = False
  for endpoint_3d, positions in clean.items():
    endpoint_2d = endpoint_3d.replace("Conv3d", "Conv2d").replace("MaxPool3d", "MaxPool")
    expected = ends_2d[endpoint_2d].numpy()[:, np.newaxis]  # [1, 1, H, W, C]
    got = ends_3d[endpoint_3d].numpy()
    assert positions, f"{endpoint_3d}: no clean temporal position; raise FRAMES"
    assert got.shape[2:] == expected.shape[2:], endpoint_3d
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got[:, positions], np.broadcast_to(
        expected, (1, len(positions)) + expected.shape[2:]), rtol=1e-4, atol=1e-4,
        err_msg=endpoint_3d)
    border = sorted(set(range(got.shape[1])) - set(positions))
    if border and np.abs(got[:, border] - expected).max() > 1e-3 * scale:
      saw_padding = True
  # The comparison is restricted for a reason: the zero-padded borders do differ.
  assert saw_padding


def test_clean_positions_tracker():
  clean = clean_positions(FRAMES)
  # 7 taps, stride 2 on 112 frames: TF pads 2 frames before and 3 after.
  assert clean["Conv3d_1a_7x7"] == list(range(1, 54))
  assert len(clean["Mixed_5c"]) >= 1


def test_init_i3d_from_slim_checkpoint(tmp_path):
  arrays = random_slim_arrays(seed=1)
  prefix = slim.write_checkpoint(str(tmp_path / "inception_v1.ckpt"), arrays)
  rgb = i3d.InceptionI3D(num_classes=5, in_channels=3)
  flow = i3d.InceptionI3D(num_classes=5, in_channels=2)
  for model in (rgb, flow):
    model.build((None, None, None, None, model.in_channels))
  logits_before = rgb.deepmind_variables()["Logits/Conv3d_0c_1x1/conv_3d/w"].numpy().copy()
  names = inflation.init_i3d_from_imagenet(rgb, prefix)
  inflation.init_from_imagenet(flow, prefix)
  assert len(names) == len(rgb.deepmind_variables()) - 2  # all but the new logits
  np.testing.assert_array_equal(
      rgb.deepmind_variables()["Logits/Conv3d_0c_1x1/conv_3d/w"].numpy(), logits_before)

  w2d = arrays["InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"]
  w3d = rgb.deepmind_variables()["Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"].numpy()
  assert w3d.shape == (3,) + w2d.shape
  np.testing.assert_allclose(w3d, np.broadcast_to(w2d / 3, w3d.shape), rtol=1e-6)
  np.testing.assert_array_equal(
      rgb.deepmind_variables()["Mixed_4d/Branch_1/Conv3d_0b_3x3/batch_norm/moving_variance"],
      arrays["InceptionV1/Mixed_4d/Branch_1/Conv2d_0b_3x3/BatchNorm/moving_variance"])

  # Flow: the first layer's RGB filters averaged over colour, repeated for x and y, 7 taps.
  first_2d = arrays["InceptionV1/Conv2d_1a_7x7/weights"]  # [7, 7, 3, 64]
  first_flow = flow.deepmind_variables()["Conv3d_1a_7x7/conv_3d/w"].numpy()  # [7, 7, 7, 2, 64]
  assert first_flow.shape == (7, 7, 7, 2, 64)
  expected = first_2d.mean(axis=2, keepdims=True).repeat(2, axis=2) / 7
  np.testing.assert_allclose(first_flow, np.broadcast_to(expected, first_flow.shape), rtol=1e-5)


def test_wrong_checkpoint_is_named_before_inflation(tmp_path):
  arrays = random_slim_arrays()
  arrays["InceptionV1/Mixed_3c/Branch_3/Conv2d_0b_1x1/weights"] = np.zeros((1, 1, 256, 65),
                                                                           np.float32)
  prefix = slim.write_checkpoint(str(tmp_path / "bad.ckpt"), arrays)
  model = i3d.InceptionI3D(num_classes=5, in_channels=3)
  with pytest.raises(slim.SlimCheckpointError, match="Mixed_3c/Branch_3/Conv2d_0b_1x1/weights"):
    inflation.init_i3d_from_imagenet(model, prefix)


def test_mismatched_models_are_named():
  model_2d = inception_v1.InceptionV1(in_channels=3, final_endpoint="Mixed_4f")
  model_3d = i3d.InceptionI3D(in_channels=3, final_endpoint="Mixed_5b")
  with pytest.raises(inflation.InflationError, match="Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"):
    inflation.inflate_i3d_from_2d(model_3d, model_2d)


def test_two_stream_i3d_inflates_both_streams(tmp_path):
  two_stream_i3d = pytest.importorskip("i3d_tf.models.two_stream_i3d")
  arrays = random_slim_arrays(seed=2)
  prefix = slim.write_checkpoint(str(tmp_path / "inception_v1.ckpt"), arrays)
  model = two_stream_i3d.TwoStreamI3D(num_classes=5)
  model.build(None)
  inflation.init_from_imagenet(model, prefix)
  w2d = arrays["InceptionV1/Conv2d_2c_3x3/weights"]
  for stream in (model.rgb, model.flow):
    w3d = stream.deepmind_variables()["Conv3d_2c_3x3/conv_3d/w"].numpy()
    np.testing.assert_allclose(w3d, np.broadcast_to(w2d / 3, w3d.shape), rtol=1e-6)


def test_narrow_2d_inflates_into_an_i3d_of_the_same_width_only():
  """Both models scale channels by the same rule, so a reduced 2D net inflates into the same width."""
  model_2d = inception_v1.InceptionV1(in_channels=3, final_endpoint="Mixed_5c",
                                      width_multiplier=0.25)
  model_3d = i3d.InceptionI3D(in_channels=2, final_endpoint="Mixed_5c", width_multiplier=0.25)
  names = inflation.inflate_i3d_from_2d(model_3d, model_2d)
  assert len(names) == len(model_3d.deepmind_variables())
  w2d = model_2d.slim_variables()["Mixed_4b/Branch_1/Conv2d_0b_3x3/weights"].numpy()
  w3d = model_3d.deepmind_variables()["Mixed_4b/Branch_1/Conv3d_0b_3x3/conv_3d/w"].numpy()
  assert w3d.shape == (3, 3, 3, 24, 52)
  np.testing.assert_allclose(w3d, np.broadcast_to(w2d / 3, w3d.shape), rtol=1e-6)
  full_3d = i3d.InceptionI3D(in_channels=3, final_endpoint="Mixed_5c")
  with pytest.raises(inflation.InflationError, match="wrong shape"):
    inflation.inflate_i3d_from_2d(full_3d, model_2d)
