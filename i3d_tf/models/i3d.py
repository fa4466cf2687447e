"""Inflated Inception-v1 (I3D), layer for layer the graph of DeepMind's kinetics-i3d release.

Endpoints, kernel sizes, strides, 'SAME' padding, Sonnet batch norm (no scale, eps 1e-3) and the
VALID 2x7x7 final average pool are the release's; so are the variable names, exposed by
`deepmind_variables()` for checkpoint import/export (see i3d_tf/checkpoints/deepmind.py).
"""
import keras
import tensorflow as tf

from i3d_tf import layers
from i3d_tf.models import width as width_lib

# The release's endpoints, in order.
VALID_ENDPOINTS = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
    "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c", "Logits", "Predictions",
)

# Inception block widths: (b0 1x1, b1 1x1, b1 3x3, b2 1x1, b2 3x3, b3 pool-proj 1x1).
MIXED_WIDTHS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

# Max pools: name -> (ksize (t, h, w), strides (t, h, w)).
MAX_POOLS = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}

# The first conv: 7x7x7, stride (t, h, w) = 2 (the release's).
FIRST_CONV_STRIDE = (2, 2, 2)
# The release's final pool: kernel (t, h, w) = (2, 7, 7), stride 1, VALID.
FINAL_POOL = (2, 7, 7)


def final_map_size(frames, size):
  """(t, h, w) of the map the final pool sees for a [frames, size, size] clip: each strided layer
  (the first conv, the max pools) takes ceil(n / stride) under TF 'SAME' padding, on any backend."""
  shape = [frames, size, size]
  for strides in (FIRST_CONV_STRIDE,) + tuple(s for _, s in MAX_POOLS.values()):
    shape = [-(-n // s) for n, s in zip(shape, strides)]
  return tuple(shape)


def _smallest(axis):
  """The smallest clip extent whose final map holds one VALID window along `axis` (0: t, 1: h)."""
  n = 1
  while final_map_size(n, n)[axis] < FINAL_POOL[axis]:
    n += 1
  return n


# The smallest clip the VALID final pool has a window in: 9 frames (a 2-frame map) and 193 px
# (a 7x7 map). Below it TensorFlow's kernels disagree (oneDNN raises; Eigen returns an empty pool
# whose mean is NaN), so the model raises itself (InceptionI3D._check_final_map).
MIN_FRAMES_VALID = _smallest(0)
MIN_SIZE_VALID = _smallest(1)


_TOO_SMALL = (f"InceptionI3D with the release's VALID 2x7x7 final pool needs clips of at least "
              f"{MIN_FRAMES_VALID} frames of {MIN_SIZE_VALID}x{MIN_SIZE_VALID} px (a final map of "
              f"{FINAL_POOL[0]}x{FINAL_POOL[1]}x{FINAL_POOL[2]}); loop shorter clips to length "
              f"(see i3d_tf.data), crop larger, or build the model with final_pool_padding='SAME'")


def minimum_clip(final_pool_padding="VALID"):
  """(frames, crop) of the smallest clip an InceptionI3D with this final pool takes."""
  if str(final_pool_padding).upper() == "SAME":
    return 1, 1
  return MIN_FRAMES_VALID, MIN_SIZE_VALID


@layers.serializable
class InceptionBlock(keras.layers.Layer):
  """One Mixed_* block: four branches concatenated on channels, as in the release."""

  def __init__(self, widths, scope, sync_batch_norm=False, **kwargs):
    super().__init__(**kwargs)
    self.widths = tuple(widths)
    self.scope = scope
    self.sync_batch_norm = sync_batch_norm
    b0, b1a, b1b, b2a, b2b, b3 = widths
    # The release spells Mixed_5b's third-branch 3x3 conv 'Conv3d_0a_3x3' (sic).
    b2_name = "Conv3d_0a_3x3" if scope == "Mixed_5b" else "Conv3d_0b_3x3"

    def unit(c, k, name):  # held as attribute `name` too (tracked by tf.train.Checkpoint)
      return layers.track(self, name, layers.Unit3D(
          c, k, sync_batch_norm=sync_batch_norm, name=name, dtype=self.dtype_policy))

    # DeepMind's names within the block -> units.
    self.units = {
        "Branch_0/Conv3d_0a_1x1": unit(b0, (1, 1, 1), "b0_0a_1x1"),
        "Branch_1/Conv3d_0a_1x1": unit(b1a, (1, 1, 1), "b1_0a_1x1"),
        "Branch_1/Conv3d_0b_3x3": unit(b1b, (3, 3, 3), "b1_0b_3x3"),
        "Branch_2/Conv3d_0a_1x1": unit(b2a, (1, 1, 1), "b2_0a_1x1"),
        f"Branch_2/{b2_name}": unit(b2b, (3, 3, 3), "b2_0b_3x3"),
        "Branch_3/Conv3d_0b_1x1": unit(b3, (1, 1, 1), "b3_0b_1x1"),
    }
    self._b2_name = b2_name

  def call(self, inputs, training=False):
    u = self.units
    branch_0 = u["Branch_0/Conv3d_0a_1x1"](inputs, training=training)
    branch_1 = u["Branch_1/Conv3d_0b_3x3"](
        u["Branch_1/Conv3d_0a_1x1"](inputs, training=training), training=training)
    branch_2 = u[f"Branch_2/{self._b2_name}"](
        u["Branch_2/Conv3d_0a_1x1"](inputs, training=training), training=training)
    branch_3 = u["Branch_3/Conv3d_0b_1x1"](
        layers.max_pool3d_same(inputs, (3, 3, 3), (1, 1, 1)), training=training)
    return tf.concat([branch_0, branch_1, branch_2, branch_3], axis=4)

  def deepmind_variables(self):
    return {f"{scope}/{k}": v for scope, unit in self.units.items()
            for k, v in unit.deepmind_variables().items()}

  def get_config(self):
    config = super().get_config()
    config.update(widths=self.widths, scope=self.scope, sync_batch_norm=self.sync_batch_norm)
    return config


@layers.serializable

class InceptionI3D(keras.Model):
  """Inflated Inception-v1 for video: [B, T, H, W, C] in [-1, 1] -> logits [B, num_classes].

  Args:
    num_classes: number of logits (400 for Kinetics-400).
    in_channels: 3 for RGB, 2 for flow (optional; inferred when the model is built).
    final_endpoint: build the network up to this endpoint only (one of VALID_ENDPOINTS).
    dropout_rate: dropout before the logits, in training only (the release's keep_prob=0.5).
    final_pool_padding: 'VALID' (the release: 2x7x7 pool, needs >= 9 frames and 224 px) or 'SAME'
      (opt-in: any clip length and size; logits averaged over all positions).
    sync_batch_norm: synchronise batch statistics across replicas (the release did not).
    width_multiplier: scales every layer's channels but the logits' (opt-in, for reduced
      configurations on small machines; the same rule as every registered model, see
      models/width.py); 1.0, the default, is exactly the release's network.

  Calling the model returns the output of `final_endpoint`: logits [B, num_classes] for 'Logits'
  (the default, what losses want), probabilities for 'Predictions', a feature map otherwise. `call_with_endpoints` returns
  (output, {endpoint: tensor}) for every endpoint computed.
  """

  def __init__(self, num_classes=400, in_channels=None, final_endpoint="Logits",
               dropout_rate=0.5, final_pool_padding="VALID", sync_batch_norm=False,
               width_multiplier=1.0, name="inception_i3d", **kwargs):
    super().__init__(name=name, **kwargs)
    if final_endpoint not in VALID_ENDPOINTS:
      raise ValueError(f"final_endpoint={final_endpoint!r} is not one of {VALID_ENDPOINTS}")
    final_pool_padding = final_pool_padding.upper()
    if final_pool_padding not in ("VALID", "SAME"):
      raise ValueError(f"final_pool_padding={final_pool_padding!r}: expected 'VALID' or 'SAME'")
    self.num_classes = num_classes
    self.in_channels = in_channels
    self.final_endpoint = final_endpoint
    self.dropout_rate = dropout_rate
    self.final_pool_padding = final_pool_padding
    self.sync_batch_norm = sync_batch_norm
    self.width_multiplier = width_multiplier = width_lib.check(width_multiplier, name)
    width = lambda c: width_lib.scaled(c, width_multiplier)
    self._endpoints = VALID_ENDPOINTS[:VALID_ENDPOINTS.index(final_endpoint) + 1]

    dtype = self.dtype_policy

    def unit(c, k, stride=(1, 1, 1), name=None):
      return layers.Unit3D(width(c), k, stride=stride, sync_batch_norm=sync_batch_norm, name=name,
                           dtype=dtype)

    # Endpoint name -> layer (the parameter-free max pools have none); each layer is also the
    # attribute named by its endpoint (tracked by tf.train.Checkpoint).
    blocks = {}
    for endpoint in self._endpoints:
      if endpoint == "Conv3d_1a_7x7":
        blocks[endpoint] = unit(64, (7, 7, 7), FIRST_CONV_STRIDE, name="Conv3d_1a_7x7")
      elif endpoint == "Conv3d_2b_1x1":
        blocks[endpoint] = unit(64, (1, 1, 1), name="Conv3d_2b_1x1")
      elif endpoint == "Conv3d_2c_3x3":
        blocks[endpoint] = unit(192, (3, 3, 3), name="Conv3d_2c_3x3")
      elif endpoint in MIXED_WIDTHS:
        blocks[endpoint] = InceptionBlock(
            tuple(width(c) for c in MIXED_WIDTHS[endpoint]), endpoint,
            sync_batch_norm=sync_batch_norm, name=endpoint, dtype=dtype)
      elif endpoint == "Logits":
        self.dropout = keras.layers.Dropout(dropout_rate, name="dropout", dtype=dtype)
        blocks[endpoint] = layers.Unit3D(
            num_classes, (1, 1, 1), activation=None, use_batch_norm=False, use_bias=True,
            name="Conv3d_0c_1x1", dtype=dtype)
      if endpoint in blocks:
        layers.track(self, endpoint, blocks[endpoint])
    self.blocks = blocks

  def build(self, input_shape):
    if self.in_channels is None:
      self.in_channels = int(input_shape[-1])
    # Trace once so every variable exists (checkpoint restore needs a built model).
    needs_valid_pool = "Logits" in self._endpoints and self.final_pool_padding == "VALID"
    size = (MIN_FRAMES_VALID, MIN_SIZE_VALID) if needs_valid_pool else (2, 32)
    dummy = tf.zeros((1, size[0], size[1], size[1], self.in_channels))
    self.call_with_endpoints(dummy, training=False)
    self.built = True

  def _check_input(self, inputs):
    if inputs.shape.rank != 5:
      raise ValueError(f"InceptionI3D expects video [B, T, H, W, C]; got a tensor of shape "
                       f"{inputs.shape}")
    channels = inputs.shape[-1]
    if self.in_channels is not None and channels is not None and channels != self.in_channels:
      raise ValueError(f"InceptionI3D was built for {self.in_channels} input channels "
                       f"(3 = RGB, 2 = flow); got {channels} in input of shape {inputs.shape}")
    if "Logits" in self._endpoints and self.final_pool_padding == "VALID":
      frames = inputs.shape[1]
      message = _TOO_SMALL
      if frames is not None and frames < MIN_FRAMES_VALID:
        raise ValueError(f"{message}; got {frames} frames in input of shape {inputs.shape}")
      return tf.debugging.assert_greater_equal(
          tf.shape(inputs)[1], MIN_FRAMES_VALID, message=message)
    return None

  def call_with_endpoints(self, inputs, training=False):
    """Returns (output of final_endpoint, {endpoint: tensor}). Shapes are [B, T, H, W, C]."""
    inputs = tf.convert_to_tensor(inputs)
    check = self._check_input(inputs)
    net = tf.cast(inputs, self.compute_dtype)
    if check is not None:
      with tf.control_dependencies([check]):
        net = tf.identity(net)
    endpoints = {}
    for endpoint in self._endpoints:
      if endpoint in MAX_POOLS:
        net = layers.max_pool3d_same(net, *MAX_POOLS[endpoint])
      elif endpoint == "Logits":
        net = self._check_final_map(net, inputs)
        # [B, T', H', W', 1024] -> [B, T'-1, H'-6, W'-6, 1024] (VALID) -> logits [B, classes]
        net = tf.nn.avg_pool3d(net, ksize=(1,) + FINAL_POOL + (1,), strides=(1, 1, 1, 1, 1),
                               padding=self.final_pool_padding)
        net = self.dropout(net, training=training)
        net = self.blocks[endpoint](net, training=training)  # [B, T'', h, w, classes]
        # The release squeezes h = w = 1 and averages over time; averaging over space too is
        # the same there and also serves larger inputs and the SAME pool.
        net = tf.reduce_mean(net, axis=[1, 2, 3])
      elif endpoint == "Predictions":
        net = tf.nn.softmax(net)
      else:
        net = self.blocks[endpoint](net, training=training)
      endpoints[endpoint] = net
    return net, endpoints

  def call(self, inputs, training=False):
    net, _ = self.call_with_endpoints(inputs, training=training)
    return net

  def _check_final_map(self, net, inputs):
    """`net` [B, T', H', W', C], after a ValueError (static shapes) or an assertion (dynamic)
    where the VALID final pool would have no window: TensorFlow's own kernels either raise or
    return an empty pool, depending on the backend."""
    if self.final_pool_padding != "VALID":
      return net
    message = _TOO_SMALL
    static = net.shape[1:4]
    if all(d is not None for d in static):
      if any(d < k for d, k in zip(static, FINAL_POOL)):
        raise ValueError(f"{message}; got input of shape {inputs.shape} (final map "
                         f"{tuple(static)})")
      return net
    check = tf.debugging.assert_greater_equal(tf.shape(net)[1:4], tf.constant(FINAL_POOL),
                                              message=message)
    with tf.control_dependencies([check]):
      return tf.identity(net)

  def deepmind_variables(self):
    """The release's variable names (without the 'RGB/inception_i3d/' scope) -> variables."""
    out = {}
    for endpoint, block in self.blocks.items():
      for k, v in block.deepmind_variables().items():
        out[f"{endpoint}/{k}" if endpoint != "Logits" else f"Logits/Conv3d_0c_1x1/{k}"] = v
    return out

  def get_config(self):
    return {**layers.base_config(self),
            "num_classes": self.num_classes, "in_channels": self.in_channels,
            "final_endpoint": self.final_endpoint, "dropout_rate": self.dropout_rate,
            "final_pool_padding": self.final_pool_padding,
            "sync_batch_norm": self.sync_batch_norm, "width_multiplier": self.width_multiplier}
