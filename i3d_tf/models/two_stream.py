"""Two-Stream baseline (paper, Sec. 2.3): Inception-v1 on one RGB frame and on 10 stacked flows.

The flow network's first convolution takes 20 channels (10 frames x (x, y)); from ImageNet its
filters are the RGB ones averaged over colour and repeated. The two streams' logits are averaged
(the paper averages predictions) and the whole is trained end to end. At test, 25 RGB frames and
250 flow frames (25 stacks of 10) give 25 snapshots per stream, averaged. An opt-in
width_multiplier narrows both Inception-v1s (the logits average has no layer of its own).
"""
import keras
import tensorflow as tf

from i3d_tf import layers
from i3d_tf.models import inception_v1
from i3d_tf.models import width as width_lib


def check_streams(inputs, names, model_name):
  """Multi-stream models take a dict {stream: [B, T, H, W, C]}; a clear error otherwise."""
  if not isinstance(inputs, dict) or any(n not in inputs for n in names):
    got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
    raise ValueError(f"{model_name} expects a dict with streams {list(names)} of "
                     f"[B, T, H, W, C] tensors; got {got}")
  return {n: tf.convert_to_tensor(inputs[n]) for n in names}


def stack_flow(flow, stack, exact=False):
  """[B, T, H, W, 2] -> [B*S, H, W, 2*stack] (channels: x0, y0, x1, y1, ...), S = T // stack.

  A tail shorter than a stack is dropped (a test video whose length is not a multiple of 10);
  with `exact` (training) it is an error instead.
  """
  frames = flow.shape[1]
  if frames is not None and (frames < stack or (exact and frames % stack)):
    raise ValueError(f"flow has {frames} frames, not a multiple of the stack of {stack} "
                     f"(input shape {flow.shape})")
  shape = tf.shape(flow)
  snapshots = shape[1] // stack
  net = tf.reshape(flow[:, :snapshots * stack],
                   [shape[0], snapshots, stack, shape[2], shape[3], flow.shape[-1]])
  net = tf.transpose(net, [0, 1, 3, 4, 2, 5])  # [B, S, H, W, stack, 2]
  return tf.reshape(net, [-1, shape[2], shape[3], stack * flow.shape[-1]]), snapshots


@layers.serializable
class TwoStream2D(keras.Model):
  """{'rgb': [B, Tr, H, W, 3], 'flow': [B, 10*S, H, W, 2]} -> logits [B, num_classes]."""

  def __init__(self, num_classes, flow_stack=10, dropout_rate=0.2, sync_batch_norm=False,
               width_multiplier=1.0, name="two_stream", **kwargs):
    super().__init__(name=name, **kwargs)
    self.num_classes = num_classes
    self.flow_stack = flow_stack
    self.dropout_rate = dropout_rate
    self.sync_batch_norm = sync_batch_norm
    self.width_multiplier = width_multiplier = width_lib.check(width_multiplier, name)
    # Global average pooling = slim's 7x7 VALID pool on 224 crops, and works at other sizes.
    self.rgb_net = inception_v1.InceptionV1(num_classes, in_channels=3, global_pool=True,
                                            dropout_rate=dropout_rate,
                                            sync_batch_norm=sync_batch_norm,
                                            width_multiplier=width_multiplier,
                                            name="rgb_inception_v1", dtype=self.dtype_policy)
    self.flow_net = inception_v1.InceptionV1(num_classes, in_channels=2 * flow_stack,
                                             global_pool=True, dropout_rate=dropout_rate,
                                             sync_batch_norm=sync_batch_norm,
                                             width_multiplier=width_multiplier,
                                             name="flow_inception_v1", dtype=self.dtype_policy)

  def build(self, input_shape=None):
    self.rgb_net.build((None, None, None, 3))
    self.flow_net.build((None, None, None, 2 * self.flow_stack))
    self.built = True

  def call(self, inputs, training=False):
    streams = check_streams(inputs, ("rgb", "flow"), self.name)
    rgb, flow = streams["rgb"], streams["flow"]
    batch = tf.shape(rgb)[0]
    frames = tf.reshape(rgb, tf.concat([[-1], tf.shape(rgb)[2:]], axis=0))  # [B*Tr, H, W, 3]
    rgb_logits = tf.reshape(self.rgb_net(frames, training=training),
                            [batch, -1, self.num_classes])                # [B, Tr, classes]
    stacks, _ = stack_flow(flow, self.flow_stack, exact=training)        # [B*S, H, W, 20]
    flow_logits = tf.reshape(self.flow_net(stacks, training=training),
                             [batch, -1, self.num_classes])               # [B, S, classes]
    # Snapshots averaged within each stream, then the two streams averaged.
    return 0.5 * (tf.reduce_mean(rgb_logits, axis=1) + tf.reduce_mean(flow_logits, axis=1))

  def get_config(self):
    return {**layers.base_config(self), "num_classes": self.num_classes,
            "flow_stack": self.flow_stack, "dropout_rate": self.dropout_rate,
            "sync_batch_norm": self.sync_batch_norm, "width_multiplier": self.width_multiplier}

  def imagenet_parts(self):
    """The 2D Inception-v1s that `--init=imagenet` copies slim's ImageNet weights into
    (checkpoints/inflation.init_from_imagenet reads the checkpoint: models read no files)."""
    return [self.rgb_net, self.flow_net]
