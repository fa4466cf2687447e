"""2D building block with TF-slim's semantics: conv2d (TF 'SAME') + BatchNorm(scale=False) + ReLU.

Like `layers.Unit3D` it records its variable names in the checkpoint's layout: `slim_variables()`
gives {'weights': kernel, 'biases': bias, 'BatchNorm/beta', 'BatchNorm/moving_mean',
'BatchNorm/moving_variance'} (slim's inception_v1 arg scope: no gamma, epsilon 0.001).
"""
import keras
import tensorflow as tf

from i3d_tf import layers


@layers.serializable
class Unit2D(keras.layers.Layer):
  """Conv2D (TF 'SAME', no bias unless asked) + optional batch norm + optional ReLU.

  Input and output are [B, H, W, C]; the kernel is [kh, kw, C_in, C_out], as in slim checkpoints.
  """

  def __init__(self, output_channels, kernel_shape=(1, 1), stride=(1, 1), activation="relu",
               use_batch_norm=True, use_bias=False, kernel_initializer="glorot_uniform",
               sync_batch_norm=False, **kwargs):
    super().__init__(**kwargs)
    self.output_channels = output_channels
    self.kernel_shape = tuple(kernel_shape)
    self.stride = tuple(stride)
    self.activation_name = activation
    self.use_batch_norm = use_batch_norm
    self.use_bias = use_bias
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    self.conv = keras.layers.Conv2D(
        output_channels, self.kernel_shape, strides=self.stride, padding="same",
        use_bias=use_bias, kernel_initializer=self.kernel_initializer, name="conv_2d",
        dtype=self.dtype_policy)
    # Same configuration as the 3D units (no scale, eps 1e-3): slim's inception_v1 arg scope.
    self.bn = (layers.sonnet_batch_norm(synchronized=sync_batch_norm, dtype=self.dtype_policy)
               if use_batch_norm else None)

  def build(self, input_shape):
    self.conv.build(input_shape)
    if self.bn is not None:
      self.bn.build(tuple(input_shape[:-1]) + (self.output_channels,))
    self.built = True

  def call(self, inputs, training=False):
    net = self.conv(inputs)
    if self.bn is not None:
      net = self.bn(net, training=training)
    if self.activation_name == "relu":
      net = tf.nn.relu(net)
    return net

  def slim_variables(self):
    """TF-slim's names within this unit's scope -> variables."""
    out = {"weights": self.conv.kernel}
    if self.use_bias:
      out["biases"] = self.conv.bias
    if self.bn is not None:
      out["BatchNorm/beta"] = self.bn.beta
      out["BatchNorm/moving_mean"] = self.bn.moving_mean
      out["BatchNorm/moving_variance"] = self.bn.moving_variance
    return out

  def get_config(self):
    config = super().get_config()
    config.update(output_channels=self.output_channels, kernel_shape=self.kernel_shape,
                  stride=self.stride, activation=self.activation_name,
                  use_batch_norm=self.use_batch_norm, use_bias=self.use_bias,
                  sync_batch_norm=self.sync_batch_norm,
                  kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
    return config


def max_pool2d_same(inputs, ksize, strides):
  """tf.nn.max_pool2d with TF 'SAME' padding; ksize/strides are (h, w)."""
  return tf.nn.max_pool2d(inputs, ksize=(1,) + tuple(ksize) + (1,),
                          strides=(1,) + tuple(strides) + (1,), padding="SAME")
