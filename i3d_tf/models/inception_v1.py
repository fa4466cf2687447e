"""2D Inception-v1 with batch norm, layer for layer TF-slim's `inception_v1` (nets/inception_v1.py).

Endpoint names, kernel sizes, strides, 'SAME' padding, BatchNorm without gamma (eps 1e-3) and the
7x7 VALID average pool are slim's; `slim_variables()` gives slim's variable names (without the
'InceptionV1/' scope) so that i3d_tf/checkpoints/slim.py can load an ImageNet checkpoint and
i3d_tf/checkpoints/inflation.py can inflate it into I3D. Also the per-frame backbone of the
ConvNet+LSTM, Two-Stream and 3D-Fused baselines. An opt-in `width_multiplier` narrows every conv
(not the logits) with I3D's rule (models/width.py), keeping slim's names; 1.0 is slim's layout.
"""
import keras
import tensorflow as tf

from i3d_tf import layers
from i3d_tf import layers_2d
from i3d_tf.models import width as width_lib
from i3d_tf.models.i3d import MIXED_WIDTHS

VALID_ENDPOINTS = (
    "Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
    "Mixed_4f", "MaxPool_5a_2x2", "Mixed_5b", "Mixed_5c", "AvgPool_0a_7x7", "Logits",
    "Predictions",
)

# Max pools: name -> (ksize (h, w), strides (h, w)).
MAX_POOLS = {
    "MaxPool_2a_3x3": ((3, 3), (2, 2)),
    "MaxPool_3a_3x3": ((3, 3), (2, 2)),
    "MaxPool_4a_3x3": ((3, 3), (2, 2)),
    "MaxPool_5a_2x2": ((2, 2), (2, 2)),
}

FINAL_POOL = (7, 7)  # slim's AvgPool_0a_7x7, VALID, on the 7x7 map of a 224x224 image
FEATURE_CHANNELS = 1024  # channels of Mixed_5c / the final pool (at width 1.0)


def feature_channels(width_multiplier=1.0):
  """Channels of Mixed_5c / the final pool: its four branches' outputs, each scaled (1024 at 1.0)."""
  b0, _, b1b, _, b2b, b3 = MIXED_WIDTHS["Mixed_5c"]
  return sum(width_lib.scaled(c, width_multiplier) for c in (b0, b1b, b2b, b3))


@layers.serializable
class InceptionBlock2D(keras.layers.Layer):
  """One Mixed_* block of slim's inception_v1: four branches concatenated on channels."""

  def __init__(self, widths, scope, sync_batch_norm=False, **kwargs):
    super().__init__(**kwargs)
    self.widths = tuple(widths)
    self.scope = scope
    self.sync_batch_norm = sync_batch_norm
    b0, b1a, b1b, b2a, b2b, b3 = widths
    # slim spells Mixed_5b's third-branch 3x3 conv 'Conv2d_0a_3x3' (the I3D release kept it).
    b2_name = "Conv2d_0a_3x3" if scope == "Mixed_5b" else "Conv2d_0b_3x3"

    def unit(c, k, name):  # held as attribute `name` too (tracked by tf.train.Checkpoint)
      return layers.track(self, name, layers_2d.Unit2D(
          c, k, sync_batch_norm=sync_batch_norm, name=name, dtype=self.dtype_policy))

    # slim's names within the block -> units.
    self.units = {
        "Branch_0/Conv2d_0a_1x1": unit(b0, (1, 1), "b0_0a_1x1"),
        "Branch_1/Conv2d_0a_1x1": unit(b1a, (1, 1), "b1_0a_1x1"),
        "Branch_1/Conv2d_0b_3x3": unit(b1b, (3, 3), "b1_0b_3x3"),
        "Branch_2/Conv2d_0a_1x1": unit(b2a, (1, 1), "b2_0a_1x1"),
        f"Branch_2/{b2_name}": unit(b2b, (3, 3), "b2_0b_3x3"),
        "Branch_3/Conv2d_0b_1x1": unit(b3, (1, 1), "b3_0b_1x1"),
    }
    self._b2_name = b2_name

  def call(self, inputs, training=False):
    u = self.units
    branch_0 = u["Branch_0/Conv2d_0a_1x1"](inputs, training=training)
    branch_1 = u["Branch_1/Conv2d_0b_3x3"](
        u["Branch_1/Conv2d_0a_1x1"](inputs, training=training), training=training)
    branch_2 = u[f"Branch_2/{self._b2_name}"](
        u["Branch_2/Conv2d_0a_1x1"](inputs, training=training), training=training)
    branch_3 = u["Branch_3/Conv2d_0b_1x1"](
        layers_2d.max_pool2d_same(inputs, (3, 3), (1, 1)), training=training)
    return tf.concat([branch_0, branch_1, branch_2, branch_3], axis=3)

  def slim_variables(self):
    return {f"{scope}/{k}": v for scope, unit in self.units.items()
            for k, v in unit.slim_variables().items()}

  def get_config(self):
    config = super().get_config()
    config.update(widths=self.widths, scope=self.scope, sync_batch_norm=self.sync_batch_norm)
    return config


@layers.serializable

class InceptionV1(keras.Model):
  """slim's Inception-v1: images [B, H, W, C] in [-1, 1] -> logits [B, num_classes].

  Args:
    num_classes: logits (1001 for slim's ImageNet checkpoints: class 0 is 'background').
    in_channels: 3 for RGB; other values for stacked flow (optional; inferred when built).
    final_endpoint: build up to this endpoint only (one of VALID_ENDPOINTS).
    dropout_rate: dropout before the logits in training (slim's dropout_keep_prob=0.8).
    global_pool: average the last feature map over all positions instead of slim's 7x7 VALID
      pool (the same on a 224x224 input; needed for other sizes).
    width_multiplier: every conv's channels times this, the logits' excepted (opt-in reduced
      configurations); 1.0, the default, is slim's network, the only width an ImageNet
      checkpoint fits.

  `call_with_endpoints` returns (output, {endpoint: tensor}); 'AvgPool_0a_7x7' is
  [B, 1, 1, feature_channels] (1024 at width 1.0) and 'Logits' [B, num_classes].
  """

  def __init__(self, num_classes=1001, in_channels=None, final_endpoint="Logits",
               dropout_rate=0.2, global_pool=False, sync_batch_norm=False,
               width_multiplier=1.0, name="inception_v1", **kwargs):
    super().__init__(name=name, **kwargs)
    if final_endpoint not in VALID_ENDPOINTS:
      raise ValueError(f"final_endpoint={final_endpoint!r} is not one of {VALID_ENDPOINTS}")
    self.num_classes = num_classes
    self.in_channels = in_channels
    self.final_endpoint = final_endpoint
    self.dropout_rate = dropout_rate
    self.global_pool = global_pool
    self.sync_batch_norm = sync_batch_norm
    self.width_multiplier = width_multiplier = width_lib.check(width_multiplier, name)
    self.feature_channels = feature_channels(width_multiplier)
    width = lambda c: width_lib.scaled(c, width_multiplier)
    self._endpoints = VALID_ENDPOINTS[:VALID_ENDPOINTS.index(final_endpoint) + 1]

    dtype = self.dtype_policy

    def unit(c, k, stride=(1, 1), name=None):
      return layers_2d.Unit2D(width(c), k, stride=stride, sync_batch_norm=sync_batch_norm,
                              name=name, dtype=dtype)

    blocks = {}
    for endpoint in self._endpoints:
      if endpoint == "Conv2d_1a_7x7":
        blocks[endpoint] = unit(64, (7, 7), (2, 2), name="Conv2d_1a_7x7")
      elif endpoint == "Conv2d_2b_1x1":
        blocks[endpoint] = unit(64, (1, 1), name="Conv2d_2b_1x1")
      elif endpoint == "Conv2d_2c_3x3":
        blocks[endpoint] = unit(192, (3, 3), name="Conv2d_2c_3x3")
      elif endpoint in MIXED_WIDTHS:
        blocks[endpoint] = InceptionBlock2D(
            tuple(width(c) for c in MIXED_WIDTHS[endpoint]), endpoint,
            sync_batch_norm=sync_batch_norm, name=endpoint, dtype=dtype)
      elif endpoint == "Logits":
        self.dropout = keras.layers.Dropout(dropout_rate, name="dropout", dtype=dtype)
        blocks[endpoint] = layers_2d.Unit2D(
            num_classes, (1, 1), activation=None, use_batch_norm=False, use_bias=True,
            name="Conv2d_0c_1x1", dtype=dtype)
      if endpoint in blocks:  # also the attribute named by its endpoint (checkpoint tracking)
        layers.track(self, endpoint, blocks[endpoint])
    self.blocks = blocks

  def build(self, input_shape):
    if self.in_channels is None:
      self.in_channels = int(input_shape[-1])
    # Trace once so every variable exists; no variable depends on the spatial size.
    size = 224 if self._needs_valid_pool() else 32
    self.call_with_endpoints(tf.zeros((1, size, size, self.in_channels)), training=False)
    self.built = True

  def _needs_valid_pool(self):
    return "AvgPool_0a_7x7" in self._endpoints and not self.global_pool

  def _check_input(self, inputs):
    if inputs.shape.rank != 4:
      raise ValueError(f"InceptionV1 expects images [B, H, W, C]; got a tensor of shape "
                       f"{inputs.shape}")
    channels = inputs.shape[-1]
    if self.in_channels is not None and channels is not None and channels != self.in_channels:
      raise ValueError(f"InceptionV1 was built for {self.in_channels} input channels; got "
                       f"{channels} in input of shape {inputs.shape}")

  def call_with_endpoints(self, inputs, training=False):
    """Returns (output of final_endpoint, {endpoint: tensor}). Maps are [B, H, W, C]."""
    inputs = tf.convert_to_tensor(inputs)
    self._check_input(inputs)
    net = tf.cast(inputs, self.compute_dtype)
    endpoints = {}
    for endpoint in self._endpoints:
      if endpoint in MAX_POOLS:
        net = layers_2d.max_pool2d_same(net, *MAX_POOLS[endpoint])
      elif endpoint == "AvgPool_0a_7x7":
        if self.global_pool:
          net = tf.reduce_mean(net, axis=[1, 2], keepdims=True)  # [B, 1, 1, features]
        else:
          net = tf.nn.avg_pool2d(net, ksize=FINAL_POOL, strides=1, padding="VALID")
      elif endpoint == "Logits":
        net = self.dropout(net, training=training)
        net = self.blocks[endpoint](net, training=training)  # [B, h, w, classes]
        # slim squeezes h = w = 1; averaging also serves larger inputs.
        net = tf.reduce_mean(net, axis=[1, 2])
      elif endpoint == "Predictions":
        net = tf.nn.softmax(net)
      else:
        net = self.blocks[endpoint](net, training=training)
      endpoints[endpoint] = net
    return net, endpoints

  def call(self, inputs, training=False):
    net, _ = self.call_with_endpoints(inputs, training=training)
    return net

  def slim_variables(self):
    """slim's variable names (without the 'InceptionV1/' scope) -> variables."""
    out = {}
    for endpoint, block in self.blocks.items():
      scope = endpoint if endpoint != "Logits" else "Logits/Conv2d_0c_1x1"
      for k, v in block.slim_variables().items():
        out[f"{scope}/{k}"] = v
    return out

  def get_config(self):
    return {**layers.base_config(self),
            "num_classes": self.num_classes, "in_channels": self.in_channels,
            "final_endpoint": self.final_endpoint, "dropout_rate": self.dropout_rate,
            "global_pool": self.global_pool, "sync_batch_norm": self.sync_batch_norm,
            "width_multiplier": self.width_multiplier}


def frame_features(backbone, frames, training=False):
  """Pooled per-frame features: frames [B, T, H, W, C] -> [B, T, F] (final_endpoint AvgPool).

  F = backbone.feature_channels (1024 at width 1.0).
  """
  shape = tf.shape(frames)
  flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))   # [B*T, H, W, C]
  pooled = backbone(flat, training=training)                          # [B*T, 1, 1, F]
  return tf.reshape(pooled, [shape[0], shape[1], backbone.feature_channels])
