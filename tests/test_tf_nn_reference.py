"""Our logits against an independent forward pass of the release's graph written from raw tf.nn ops.

The reference below reads every width from the weights' shapes and follows the release's
i3d.py: conv3d and max_pool3d with 'SAME' padding, Sonnet batch norm at test time from the moving
statistics ((x - mean) / sqrt(var + 1e-3) + beta, no scale), the 2x7x7 VALID average pool, a 1x1x1
conv with bias, squeeze of H and W, mean over time.
"""
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import deepmind
from i3d_tf.models import i3d
from tests import deepmind_fixtures as fx


def _unit(x, weights, name, stride=(1, 1, 1), batch_norm=True, relu=True):
  x = tf.nn.conv3d(x, weights[f"{name}/conv_3d/w"], strides=(1,) + stride + (1,), padding="SAME")
  if f"{name}/conv_3d/b" in weights:
    x = x + weights[f"{name}/conv_3d/b"]
  if batch_norm:
    mean = weights[f"{name}/batch_norm/moving_mean"]
    variance = weights[f"{name}/batch_norm/moving_variance"]
    x = (x - mean) / tf.sqrt(variance + 1e-3) + weights[f"{name}/batch_norm/beta"]
  return tf.nn.relu(x) if relu else x


def _max_pool(x, ksize, strides):
  return tf.nn.max_pool3d(x, (1,) + ksize + (1,), (1,) + strides + (1,), padding="SAME")


def _mixed(x, weights, name):
  b2 = "Conv3d_0a_3x3" if name == "Mixed_5b" else "Conv3d_0b_3x3"  # the release's spelling
  branch_0 = _unit(x, weights, f"{name}/Branch_0/Conv3d_0a_1x1")
  branch_1 = _unit(_unit(x, weights, f"{name}/Branch_1/Conv3d_0a_1x1"), weights,
                   f"{name}/Branch_1/Conv3d_0b_3x3")
  branch_2 = _unit(_unit(x, weights, f"{name}/Branch_2/Conv3d_0a_1x1"), weights,
                   f"{name}/Branch_2/{b2}")
  branch_3 = _unit(_max_pool(x, (3, 3, 3), (1, 1, 1)), weights, f"{name}/Branch_3/Conv3d_0b_1x1")
  return tf.concat([branch_0, branch_1, branch_2, branch_3], axis=4)


def reference_logits(video, weights):
  """The release's InceptionI3d up to 'Logits', eval mode; weights: {name without scope: array}."""
  x = _unit(video, weights, "Conv3d_1a_7x7", stride=(2, 2, 2))
  x = _max_pool(x, (1, 3, 3), (1, 2, 2))
  x = _unit(x, weights, "Conv3d_2b_1x1")
  x = _unit(x, weights, "Conv3d_2c_3x3")
  x = _max_pool(x, (1, 3, 3), (1, 2, 2))
  x = _mixed(x, weights, "Mixed_3b")
  x = _mixed(x, weights, "Mixed_3c")
  x = _max_pool(x, (3, 3, 3), (2, 2, 2))
  for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
    x = _mixed(x, weights, name)
  x = _max_pool(x, (2, 2, 2), (2, 2, 2))
  x = _mixed(x, weights, "Mixed_5b")
  x = _mixed(x, weights, "Mixed_5c")
  x = tf.nn.avg_pool3d(x, (1, 2, 7, 7, 1), (1, 1, 1, 1, 1), padding="VALID")
  x = _unit(x, weights, "Logits/Conv3d_0c_1x1", batch_norm=False, relu=False)
  x = tf.squeeze(x, [2, 3])  # [B, T, classes]
  return tf.reduce_mean(x, axis=1)


def _names_and_shapes(channels, num_classes):
  """The release's names and shapes: from its real RGB index when ../shared is there."""
  try:
    shapes = fx.release_layout("rgb_scratch" if channels == 3 else "flow_scratch")
    scope = "RGB/inception_i3d/" if channels == 3 else "Flow/inception_i3d/"
    shapes = {n[len(scope):]: s for n, s in shapes.items()}
  except pytest.skip.Exception:
    model = i3d.InceptionI3D(400, in_channels=channels)
    model.build((None, None, 224, 224, channels))
    shapes = {k: tuple(v.shape) for k, v in model.deepmind_variables().items()}
  return {n: s[:-1] + (num_classes,) if n.startswith("Logits/") else s for n, s in shapes.items()}


@pytest.mark.parametrize("channels,batch,frames,num_classes", [(3, 2, 16, 400), (2, 1, 11, 51)])
def test_logits_match_tf_nn_reference(tmp_path, channels, batch, frames, num_classes):
  weights = fx.random_values(_names_and_shapes(channels, num_classes), seed=channels)
  stats = [v for n, v in weights.items() if n.endswith("moving_mean")]
  assert all(np.abs(s).max() > 0.1 for s in stats)  # non-trivial moving statistics
  path = fx.write_checkpoint(tmp_path / "model.ckpt",
                             {f"Some/scope/{n}": v for n, v in weights.items()})
  model = deepmind.load_deepmind_checkpoint(path)

  video = tf.random.uniform((batch, frames, 224, 224, channels), -1.0, 1.0, seed=7)
  ours = model(video, training=False).numpy()
  expected = reference_logits(video, weights).numpy()
  assert ours.shape == expected.shape == (batch, num_classes)
  assert np.linalg.norm(expected) > 1.0  # the comparison is not between near-zero vectors
  error = np.abs(ours - expected).max() / np.abs(expected).max()
  print(f"relative error {error:.2e}")
  assert error < 1e-4, f"max |ours - reference| / max |reference| = {error:.2e}"
  np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
  # Predictions are the softmax of those logits.
  predictions = i3d.InceptionI3D(num_classes, in_channels=channels, final_endpoint="Predictions")
  predictions.build((None, None, 224, 224, channels))
  for key, var in predictions.deepmind_variables().items():
    var.assign(model.deepmind_variables()[key])
  np.testing.assert_allclose(predictions(video).numpy(), tf.nn.softmax(expected).numpy(),
                             rtol=1e-4, atol=1e-6)
