"""The strided 'SAME' Conv3D with space-to-depth gradients (i3d_tf/strided_conv.py): the same
outputs as tf.nn.convolution, and gradients equal to the strided op's on both CPU kernel paths."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from i3d_tf import layers
from i3d_tf import strided_conv


@pytest.fixture(autouse=True)
def space_to_depth_gradients(monkeypatch):
  """Every test here checks the space-to-depth form, whichever kernels this process runs."""
  monkeypatch.setattr(strided_conv, "SPACE_TO_DEPTH_GRADIENTS", True)

# (input [B, T, H, W, C], kernel (t, h, w), strides): I3D's first conv, odd and small sizes,
# unequal strides, a kernel smaller than its stride.
CASES = [
    ((2, 16, 20, 20, 2), (7, 7, 7), (2, 2, 2)),
    ((1, 9, 23, 17, 3), (7, 7, 7), (2, 2, 2)),
    ((2, 5, 12, 13, 3), (3, 3, 3), (1, 2, 2)),
    ((1, 7, 11, 11, 2), (1, 2, 2), (3, 3, 3)),
]


def _strided_gradients(inputs, kernel, strides, upstream):
  """The strided op's own gradients (what TensorFlow registers for Conv3D)."""
  s = (1,) + tuple(strides) + (1,)
  d_input = tf.raw_ops.Conv3DBackpropInputV2(input_sizes=inputs.shape, filter=kernel,
                                             out_backprop=upstream, strides=s, padding="SAME")
  d_kernel = tf.raw_ops.Conv3DBackpropFilterV2(input=inputs, filter_sizes=kernel.shape,
                                               out_backprop=upstream, strides=s, padding="SAME")
  return d_input, d_kernel


def _inputs(shape, kernel, out_channels=5, seed=0):
  rng = np.random.default_rng(seed)
  x = tf.constant(rng.standard_normal(shape), tf.float32)
  w = tf.constant(rng.standard_normal(tuple(kernel) + (shape[-1], out_channels)), tf.float32)
  return x, w


def _close(a, b, what):
  scale = float(np.max(np.abs(b))) or 1.0
  np.testing.assert_allclose(np.asarray(a) / scale, np.asarray(b) / scale, atol=1e-5, err_msg=what)


@pytest.mark.parametrize("shape,kernel,strides", CASES)
def test_space_to_depth_form_equals_the_strided_convolution(shape, kernel, strides):
  x, w = _inputs(shape, kernel)
  expected = tf.nn.convolution(x, w, strides=strides, padding="SAME")
  got = strided_conv.space_to_depth_conv3d(x, w, strides)
  assert got.shape == expected.shape
  _close(got, expected, "space-to-depth forward")


@pytest.mark.parametrize("shape,kernel,strides,compiled",
                         [case + (False,) for case in CASES] + [CASES[0] + (True,)])
def test_gradients_equal_the_strided_ops(shape, kernel, strides, compiled):
  x, w = _inputs(shape, kernel)
  upstream = tf.random.stateless_normal(
      tf.nn.convolution(x, w, strides=strides, padding="SAME").shape, seed=(1, 2))

  def grads(x, w):
    with tf.GradientTape() as tape:
      tape.watch([x, w])
      y = strided_conv.conv3d_same(x, w, strides)
    return y, tape.gradient(y, [x, w], output_gradients=upstream)

  y, (d_input, d_kernel) = (tf.function(grads) if compiled else grads)(x, w)
  # The forward value is the strided op's own, bit for bit.
  np.testing.assert_array_equal(y, tf.nn.convolution(x, w, strides=strides, padding="SAME"))
  want_input, want_kernel = _strided_gradients(x, w, strides, upstream)
  _close(d_input, want_input, "input gradient")
  _close(d_kernel, want_kernel, "kernel gradient")


def test_unit3d_uses_it_and_keeps_its_variables():
  """I3D's first unit: the graph of its gradient holds no strided filter gradient, and the conv
  keeps the name and the one kernel the release's layout maps (Conv3d_1a_7x7/conv_3d/w)."""
  unit = layers.Unit3D(4, (7, 7, 7), stride=(2, 2, 2), name="Conv3d_1a_7x7")
  x = tf.zeros((1, 8, 16, 16, 2))
  unit(x)

  @tf.function
  def kernel_gradient(x):
    with tf.GradientTape() as tape:
      y = tf.reduce_sum(unit(x, training=True))
    return tape.gradient(y, unit.conv.kernel)

  graph = kernel_gradient.get_concrete_function(x).graph
  strides = [op.get_attr("strides") for op in graph.get_operations()
             if op.type == "Conv3DBackpropFilterV2"]
  assert strides and all(list(s) == [1, 1, 1, 1, 1] for s in strides), strides
  assert unit.conv.name == "conv_3d"
  assert [v.name for v in unit.conv.weights] == ["kernel"]
  assert set(unit.deepmind_variables()) == {"conv_3d/w", "batch_norm/beta",
                                            "batch_norm/moving_mean",
                                            "batch_norm/moving_variance"}


_EIGEN_CHECK = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port
    assert not _pywrap_util_port.IsMklEnabled(), "oneDNN is on"
    from i3d_tf import strided_conv
    assert strided_conv._space_to_depth_gradients()  # the default where oneDNN is off
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, 8, 14, 14, 2)), tf.float32)
    w = tf.constant(rng.standard_normal((7, 7, 7, 2, 16)), tf.float32)
    s = (1, 2, 2, 2, 1)
    dy = tf.constant(rng.standard_normal((2, 4, 7, 7, 16)), tf.float32)
    with tf.GradientTape() as tape:
      tape.watch([x, w])
      y = strided_conv.conv3d_same(x, w, (2, 2, 2))
    dx, dw = tape.gradient(y, [x, w], output_gradients=dy)
    want_dx = tf.raw_ops.Conv3DBackpropInputV2(input_sizes=x.shape, filter=w, out_backprop=dy,
                                               strides=s, padding="SAME")
    want_dw = tf.raw_ops.Conv3DBackpropFilterV2(input=x, filter_sizes=w.shape, out_backprop=dy,
                                                strides=s, padding="SAME")
    for got, want in ((dx, want_dx), (dw, want_dw)):
      scale = float(np.max(np.abs(want)))
      np.testing.assert_allclose(got / scale, want / scale, atol=1e-5)
    print("equal")
""")


def test_gradients_equal_on_eigens_kernels_too():
  """TF_ENABLE_ONEDNN_OPTS=0: Eigen's kernels, TensorFlow's default on CPUs without AVX-512 VNNI
  (where the strided filter gradient with 16 output channels is the slow one)."""
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0")
  result = subprocess.run([sys.executable, "-c", _EIGEN_CHECK], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
  assert result.returncode == 0 and "equal" in result.stdout, result.stderr[-3000:]
