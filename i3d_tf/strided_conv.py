"""A strided 'SAME' Conv3D whose gradients are computed as a stride-1 convolution (space-to-depth).

Why: without oneDNN (TensorFlow's default on CPUs without AVX-512 VNNI/BF16 or AMX, e.g. AVX2-only
AMD EPYC), TensorFlow's Conv3DBackpropFilter / BackpropInput kernels for I3D's first conv (7x7x7,
stride 2) with 8-32 output channels (the quarter-width model) are pathologically slow, seconds where
48 or more channels take milliseconds (BENCHMARKS.md, 'Training step by CPU kernel path'). A
stride-s convolution equals a stride-1 convolution of the input rearranged into s x s x s blocks
(space-to-depth) with the kernel rearranged the same way; its gradients are fast on every kernel
path. The forward pass stays tf.nn.convolution itself, so outputs are unchanged; the gradients equal
the strided op's within float rounding (tests/test_strided_conv.py). Used where TensorFlow runs
Eigen's kernels; with oneDNN's (every i3d_tf binary: i3d_tf/cpu_kernels.py) the strided op's own
gradient is faster.
"""
import math

import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port  # pylint: disable=no-name-in-module

# None: space-to-depth gradients where TensorFlow runs without oneDNN (Eigen's kernels, the slow
# case; with oneDNN the strided op's own gradient is the faster one); True / False force either
# (benchmarks/train_step.py times both side by side).
SPACE_TO_DEPTH_GRADIENTS = None


def _space_to_depth_gradients():
  if SPACE_TO_DEPTH_GRADIENTS is not None:
    return SPACE_TO_DEPTH_GRADIENTS
  return not _pywrap_util_port.IsMklEnabled()


def _same_geometry(size, kernel, stride):
  """(padding before, padding after, blocked kernel) of one axis of the space-to-depth form."""
  out = -(-size // stride)  # TF 'SAME': ceil(size / stride)
  pad_total = max((out - 1) * stride + kernel - size, 0)
  blocks = -(-kernel // stride)  # the kernel in blocks of `stride`, zero-padded at the end
  padded = (out - 1 + blocks) * stride  # >= (out - 1) * stride + kernel, a multiple of stride
  before = pad_total // 2
  return before, padded - size - before, blocks


class _SpaceToDepth:
  """The rearrangement of one strided convolution's input and kernel into s x s x s blocks.

  input [B, T, H, W, C] -> [B, T', H', W', st*sh*sw*C]; kernel [kt, kh, kw, C, O] ->
  [bt, bh, bw, st*sh*sw*C, O]; and back, for gradients (linear maps: the adjoint of a zero pad
  is a slice).
  """

  def __init__(self, input_shape, kernel_shape, strides):
    self.strides = list(strides)
    self.sizes = list(input_shape[1:4])
    self.kernel = list(kernel_shape[:3])
    self.channels, self.out_channels = kernel_shape[3], kernel_shape[4]
    geometry = [_same_geometry(self.sizes[i], self.kernel[i], strides[i]) for i in range(3)]
    self.pads = [(before, after) for before, after, _ in geometry]
    self.blocks = [blocks for _, _, blocks in geometry]
    self.lengths = [(self.sizes[i] + sum(self.pads[i])) // strides[i] for i in range(3)]
    self.depth = math.prod(strides) * self.channels

  def inputs(self, inputs):
    batch = tf.shape(inputs)[0]
    net = tf.pad(inputs, [[0, 0]] + [list(p) for p in self.pads] + [[0, 0]])
    net = tf.reshape(net, [batch, self.lengths[0], self.strides[0], self.lengths[1],
                           self.strides[1], self.lengths[2], self.strides[2], self.channels])
    net = tf.transpose(net, [0, 1, 3, 5, 2, 4, 6, 7])  # [B, T', H', W', st, sh, sw, C]
    return tf.reshape(net, [batch] + self.lengths + [self.depth])

  def inputs_back(self, blocked):
    batch = tf.shape(blocked)[0]
    net = tf.reshape(blocked, [batch] + self.lengths + self.strides + [self.channels])
    net = tf.transpose(net, [0, 1, 4, 2, 5, 3, 6, 7])  # [B, T', st, H', sh, W', sw, C]
    net = tf.reshape(net, [batch] + [self.lengths[i] * self.strides[i] for i in range(3)] +
                     [self.channels])
    return net[:, self.pads[0][0]:self.pads[0][0] + self.sizes[0],
               self.pads[1][0]:self.pads[1][0] + self.sizes[1],
               self.pads[2][0]:self.pads[2][0] + self.sizes[2], :]

  def kernel_of(self, kernel):
    padded = tf.pad(kernel, [[0, self.blocks[i] * self.strides[i] - self.kernel[i]]
                             for i in range(3)] + [[0, 0], [0, 0]])
    padded = tf.reshape(padded, [self.blocks[0], self.strides[0], self.blocks[1],
                                 self.strides[1], self.blocks[2], self.strides[2],
                                 self.channels, self.out_channels])
    padded = tf.transpose(padded, [0, 2, 4, 1, 3, 5, 6, 7])  # [bt, bh, bw, st, sh, sw, C, O]
    return tf.reshape(padded, self.blocks + [self.depth, self.out_channels])

  def kernel_back(self, blocked):
    net = tf.reshape(blocked, self.blocks + self.strides + [self.channels, self.out_channels])
    net = tf.transpose(net, [0, 3, 1, 4, 2, 5, 6, 7])  # [bt, st, bh, sh, bw, sw, C, O]
    net = tf.reshape(net, [self.blocks[i] * self.strides[i] for i in range(3)] +
                     [self.channels, self.out_channels])
    return net[:self.kernel[0], :self.kernel[1], :self.kernel[2]]


_UNIT = [1, 1, 1, 1, 1]


def space_to_depth_conv3d(inputs, kernel, strides):
  """tf.nn.convolution(inputs, kernel, strides, 'SAME') computed as a stride-1 VALID convolution.

  inputs [B, T, H, W, C] with static T, H, W; kernel [kt, kh, kw, C, O]; strides (st, sh, sw).
  """
  blocks = _SpaceToDepth(inputs.shape, kernel.shape, strides)
  return tf.nn.convolution(blocks.inputs(inputs), blocks.kernel_of(kernel), strides=1,
                           padding="VALID")


def conv3d_same(inputs, kernel, strides):
  """tf.nn.convolution(inputs, kernel, strides, 'SAME'); strided: space-to-depth gradients.

  The forward value is the strided op's own. Inputs of unknown T, H or W fall back to the
  strided op's own gradients (the rearrangement needs static sizes).
  """
  strides = tuple(int(s) for s in strides)
  if (not _space_to_depth_gradients() or all(s == 1 for s in strides)
      or not inputs.shape[1:4].is_fully_defined()):
    return tf.nn.convolution(inputs, kernel, strides=strides, padding="SAME")

  @tf.custom_gradient
  def conv(inputs, kernel):  # tensors: the kernel variable is read outside, its gradient flows
    outputs = tf.nn.convolution(inputs, kernel, strides=strides, padding="SAME")

    def grad(upstream):  # [B, T/st, H/sh, W/sw, O], the gradient of the stride-1 form's output
      blocks = _SpaceToDepth(inputs.shape, kernel.shape, strides)
      blocked_inputs, blocked_kernel = blocks.inputs(inputs), blocks.kernel_of(kernel)
      d_inputs = tf.raw_ops.Conv3DBackpropInputV2(
          input_sizes=tf.shape(blocked_inputs), filter=blocked_kernel, out_backprop=upstream,
          strides=_UNIT, padding="VALID")
      d_kernel = tf.raw_ops.Conv3DBackpropFilterV2(
          input=blocked_inputs, filter_sizes=tf.shape(blocked_kernel), out_backprop=upstream,
          strides=_UNIT, padding="VALID")
      return blocks.inputs_back(d_inputs), blocks.kernel_back(d_kernel)

    return outputs, grad

  return conv(tf.convert_to_tensor(inputs), tf.convert_to_tensor(kernel))
