"""Building blocks with the semantics of DeepMind's Sonnet I3D: Unit3D and Sonnet-style batch norm.

Keras 3 layer names may not contain '/', so each block records its DeepMind variable names in
`deepmind_variables()` (e.g. {'conv_3d/w': kernel, 'batch_norm/beta': beta, ...}); models join them
with their scope to get the release's full names.

Every layer and model of i3d_tf is registered serialisable (package "i3d_tf": `.keras` files load
without custom_objects), passes its dtype policy to its sub-layers, and holds its sub-layers as
attributes (`track`), where both Keras and tf.train.Checkpoint find them.
"""
import keras
import tensorflow as tf

from i3d_tf import strided_conv

# Sonnet v1 BatchNorm as the release used it: no scale (gamma), epsilon 1e-3, decay 0.999.
BN_EPSILON = 1e-3
BN_DECAY = 0.999


serializable = keras.saving.register_keras_serializable(package="i3d_tf")


def track(owner, attribute, layer):
  """Holds `layer` as `owner.<attribute>` and returns it.

  Keras wraps dicts and lists of layers in its own containers, which tf.train.Checkpoint does not
  follow; an attribute is followed by both (checkpoint keys are then attribute paths).
  """
  setattr(owner, attribute, layer)
  return layer


def base_config(layer):
  """What keras.layers.Layer.get_config gives: name, trainable and the dtype policy."""
  return {"name": layer.name, "trainable": layer.trainable,
          "dtype": keras.dtype_policies.serialize(layer.dtype_policy)}


def sonnet_batch_norm(name="batch_norm", synchronized=False, dtype=None):
  """A Keras BatchNormalization configured like the release's snt.BatchNorm(scale=False)."""
  return keras.layers.BatchNormalization(
      axis=-1, momentum=BN_DECAY, epsilon=BN_EPSILON, center=True, scale=False,
      synchronized=synchronized, name=name, dtype=dtype)


class SameConv3D(keras.layers.Conv3D):
  """keras.layers.Conv3D whose strided 'SAME' convolution has space-to-depth gradients.

  Same variables, forward op and output as Conv3D; only how the gradient is computed differs
  (i3d_tf/strided_conv.py says why). Private to Unit3D, which serialises its own arguments.
  """

  def convolution_op(self, inputs, kernel):
    if self.padding != "same" or any(d != 1 for d in self.dilation_rate):
      return super().convolution_op(inputs, kernel)
    return strided_conv.conv3d_same(inputs, kernel, self.strides)


@serializable
class Unit3D(keras.layers.Layer):
  """Conv3D (TF 'SAME' padding, no bias unless asked) + optional batch norm + optional ReLU.

  Input and output are [B, T, H, W, C]. The kernel is [kt, kh, kw, C_in, C_out], as in the release.
  """

  def __init__(self, output_channels, kernel_shape=(1, 1, 1), stride=(1, 1, 1),
               activation="relu", use_batch_norm=True, use_bias=False, padding="same",
               sync_batch_norm=False, kernel_initializer="glorot_uniform", **kwargs):
    super().__init__(**kwargs)
    self.output_channels = output_channels
    self.kernel_shape = tuple(kernel_shape)
    self.stride = tuple(stride)
    self.activation_name = activation
    self.use_batch_norm = use_batch_norm
    self.use_bias = use_bias
    self.padding = padding
    self.sync_batch_norm = sync_batch_norm
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    # Keras 3 on the TF backend passes 'same' straight to tf.nn.convolution as 'SAME': TF's
    # asymmetric padding (the extra row/column/frame at the end), as in the release.
    self.conv = SameConv3D(
        output_channels, self.kernel_shape, strides=self.stride, padding=padding,
        use_bias=use_bias, kernel_initializer=self.kernel_initializer, name="conv_3d",
        dtype=self.dtype_policy)
    self.bn = (sonnet_batch_norm(synchronized=sync_batch_norm, dtype=self.dtype_policy)
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

  def deepmind_variables(self):
    """DeepMind's names within this unit's scope -> variables."""
    out = {"conv_3d/w": self.conv.kernel}
    if self.use_bias:
      out["conv_3d/b"] = self.conv.bias
    if self.bn is not None:
      out["batch_norm/beta"] = self.bn.beta
      out["batch_norm/moving_mean"] = self.bn.moving_mean
      out["batch_norm/moving_variance"] = self.bn.moving_variance
    return out

  def get_config(self):
    config = super().get_config()
    config.update(output_channels=self.output_channels, kernel_shape=self.kernel_shape,
                  stride=self.stride, activation=self.activation_name,
                  use_batch_norm=self.use_batch_norm, use_bias=self.use_bias,
                  padding=self.padding, sync_batch_norm=self.sync_batch_norm,
                  kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
    return config


def max_pool3d_same(inputs, ksize, strides):
  """tf.nn.max_pool3d with TF 'SAME' padding; ksize/strides are (t, h, w)."""
  return tf.nn.max_pool3d(inputs, ksize=(1,) + tuple(ksize) + (1,),
                          strides=(1,) + tuple(strides) + (1,), padding="SAME")
