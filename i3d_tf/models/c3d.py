"""3D-ConvNet baseline (paper, Sec. 2.2): C3D-like, 8 3x3x3 convs, 5 max pools, 2 FC of 4096.

As in the paper: batch norm after every convolution and fully connected layer, and the first
pool has temporal stride 2 (C3D's has 1), which lets clips be 16 frames of 112x112 and batches
larger. Trained from scratch. The FC-6 input size is fixed by the clip geometry
(clip_frames x crop_size^2); longer test inputs (240 frames) are cut into consecutive clips whose
logits are averaged. An opt-in width_multiplier m scales every conv's channels and FC-6/FC-7's units.
"""
import math

import keras
import tensorflow as tf

from i3d_tf import layers
from i3d_tf.models import width as width_lib

CONV_CHANNELS = (("conv1a", 64), ("conv2a", 128), ("conv3a", 256), ("conv3b", 256),
                 ("conv4a", 512), ("conv4b", 512), ("conv5a", 512), ("conv5b", 512))
# Each pool follows the conv named here: ksize = strides (t, h, w); pool1 is the paper's change.
POOLS = {"conv1a": (2, 2, 2), "conv2a": (2, 2, 2), "conv3b": (2, 2, 2), "conv4b": (2, 2, 2),
         "conv5b": (2, 2, 2)}


def pooled_geometry(clip_frames, crop_size):
  """(t, h, w) of the conv5b/pool5 map: five 'SAME' stride-2 pools (16x112x112 -> 1x4x4)."""
  t, s = clip_frames, crop_size
  for _ in POOLS:
    t, s = math.ceil(t / 2), math.ceil(s / 2)
  return t, s, s


@layers.serializable
class C3D(keras.Model):
  """[B, T, H, W, 3] -> logits [B, num_classes]; T a multiple of clip_frames, H = W = crop_size.

  Args:
    clip_frames, crop_size: the training clip geometry (the paper's 16 frames of 112x112); the
      first fully connected layer's input size depends on it.
    fc_units: width of FC-6 and FC-7 at width_multiplier 1.0 (4096 in the paper; smaller for
      tests).
    width_multiplier: every conv's channels and the FC units times this (opt-in; 1.0 is the
      paper's network).
  """

  def __init__(self, num_classes, in_channels=3, clip_frames=16, crop_size=112, fc_units=4096,
               dropout_rate=0.5, sync_batch_norm=False, width_multiplier=1.0, name="c3d",
               **kwargs):
    super().__init__(name=name, **kwargs)
    self.num_classes = num_classes
    self.in_channels = in_channels
    self.clip_frames = clip_frames
    self.crop_size = crop_size
    self.fc_units_at_width_1 = fc_units
    self.dropout_rate = dropout_rate
    self.sync_batch_norm = sync_batch_norm
    self.width_multiplier = width_multiplier = width_lib.check(width_multiplier, name)
    self.fc_units = width_lib.scaled(fc_units, width_multiplier)
    # (name, output channels) of the 8 convs at this width.
    self.conv_channels = tuple((n, width_lib.scaled(c, width_multiplier))
                               for n, c in CONV_CHANNELS)
    dtype = self.dtype_policy
    # Each layer is also the attribute of its name (conv1a, ..., fc6, fc6_batch_norm, ...), where
    # tf.train.Checkpoint tracks it; the lists keep the order.
    self.convs = [layers.track(self, n, layers.Unit3D(
        c, (3, 3, 3), sync_batch_norm=sync_batch_norm, name=n, dtype=dtype))
                  for n, c in self.conv_channels]
    self.fcs = [layers.track(self, n, keras.layers.Dense(
        self.fc_units, use_bias=False, name=n, dtype=dtype)) for n in ("fc6", "fc7")]
    self.fc_bns = [layers.track(self, f"{n}_batch_norm", layers.sonnet_batch_norm(
        name=f"{n}_batch_norm", synchronized=sync_batch_norm, dtype=dtype))
                   for n in ("fc6", "fc7")]
    self.dropout = keras.layers.Dropout(dropout_rate, dtype=dtype)
    self.logits = keras.layers.Dense(num_classes, name="logits", dtype=dtype)

  def build(self, input_shape=None):
    # Built from the geometry alone: no forward pass (the full model has 79M parameters).
    channels = self.in_channels
    for unit, (_, width) in zip(self.convs, self.conv_channels):
      unit.build((None, None, None, None, channels))
      channels = width
    t, h, w = pooled_geometry(self.clip_frames, self.crop_size)
    features = t * h * w * channels
    for fc, bn in zip(self.fcs, self.fc_bns):
      fc.build((None, features))
      bn.build((None, self.fc_units))
      features = self.fc_units
    self.logits.build((None, features))
    self.built = True

  def _clips(self, inputs):
    """[B, T, H, W, C] -> [B * n, clip_frames, H, W, C] with n = T // clip_frames."""
    shape = inputs.shape
    if shape.rank != 5:
      raise ValueError(f"C3D expects video [B, T, H, W, C]; got shape {shape}")
    if shape[2] is not None and (shape[2], shape[3]) != (self.crop_size, self.crop_size):
      raise ValueError(f"C3D was built for {self.crop_size}x{self.crop_size} crops (its FC-6 "
                       f"input size depends on it); got input of shape {shape}")
    if shape[-1] is not None and shape[-1] != self.in_channels:
      raise ValueError(f"C3D expects {self.in_channels} channels; got input of shape {shape}")
    if shape[1] is not None and shape[1] < self.clip_frames:
      raise ValueError(f"C3D needs at least clip_frames={self.clip_frames} frames; got input "
                       f"of shape {shape}")
    dynamic = tf.shape(inputs)
    num_clips = dynamic[1] // self.clip_frames
    inputs = inputs[:, :num_clips * self.clip_frames]  # a tail shorter than a clip is dropped
    clips = tf.reshape(inputs, [-1, self.clip_frames, self.crop_size, self.crop_size,
                                self.in_channels])
    return clips, dynamic[0], num_clips

  def call(self, inputs, training=False):
    inputs = tf.cast(tf.convert_to_tensor(inputs), self.compute_dtype)
    net, batch, num_clips = self._clips(inputs)  # [B*n, 16, 112, 112, 3]
    for unit, (name, _) in zip(self.convs, self.conv_channels):
      net = unit(net, training=training)
      if name in POOLS:
        net = layers.max_pool3d_same(net, POOLS[name], POOLS[name])
    t, h, w = pooled_geometry(self.clip_frames, self.crop_size)
    net = tf.reshape(net, [-1, t * h * w * self.conv_channels[-1][1]])  # [B*n, 8192]
    for fc, bn in zip(self.fcs, self.fc_bns):
      net = self.dropout(tf.nn.relu(bn(fc(net), training=training)), training=training)
    logits = self.logits(net)  # [B*n, classes]
    logits = tf.reshape(logits, [batch, num_clips, self.num_classes])
    return tf.reduce_mean(logits, axis=1)  # [B, classes]: clips averaged

  def get_config(self):
    return {**layers.base_config(self), "num_classes": self.num_classes,
            "in_channels": self.in_channels, "clip_frames": self.clip_frames,
            "crop_size": self.crop_size, "fc_units": self.fc_units_at_width_1,
            "dropout_rate": self.dropout_rate, "sync_batch_norm": self.sync_batch_norm,
            "width_multiplier": self.width_multiplier}
