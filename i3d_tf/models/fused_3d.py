"""3D-Fused two-stream baseline (paper, Sec. 2.4; Feichtenhofer et al. 2016).

5 RGB frames 10 apart and the 10-frame flow stacks starting at them go through two Inception-v1
trunks; their Mixed_5c maps (the last layer before the average pool: [B, 5, 7, 7, 1024] each)
are concatenated and fused by a 3x3x3 Conv3D of 512 channels with batch norm and ReLU, a 3x3x3
3D max pool and a fully connected classifier, the new layers initialised with Gaussian noise.
Trained end to end. Our choices where the paper is silent: the max pool has stride 2 in time and
space ('SAME'), and its output is averaged over positions before the classifier (this gives the
paper's 39M parameters; a flattened input would add ~10M). Being convolutional in time, the same
network takes the test input (25 RGB frames and 25 flow stacks) whole. An opt-in width_multiplier m
narrows both trunks (Mixed_5c: 1024 -> ~1024 m channels each) and the fusion conv (512 -> 512 m).
"""
import keras
import tensorflow as tf

from i3d_tf import layers
from i3d_tf.models import inception_v1
from i3d_tf.models import width as width_lib
from i3d_tf.models.two_stream import check_streams, stack_flow

NEW_LAYER_STDDEV = 0.01


@layers.serializable
class Fused3D(keras.Model):
  """{'rgb': [B, S, H, W, 3], 'flow': [B, 10*S, H, W, 2]} -> logits [B, num_classes].

  fusion_channels is the width at width_multiplier 1.0 (512); the fusion conv gets it times m.
  """

  def __init__(self, num_classes, flow_stack=10, fusion_channels=512, dropout_rate=0.5,
               sync_batch_norm=False, width_multiplier=1.0, name="fused_3d", **kwargs):
    super().__init__(name=name, **kwargs)
    self.num_classes = num_classes
    self.flow_stack = flow_stack
    self.fusion_channels_at_width_1 = fusion_channels
    self.dropout_rate = dropout_rate
    self.sync_batch_norm = sync_batch_norm
    self.width_multiplier = width_multiplier = width_lib.check(width_multiplier, name)
    self.fusion_channels = width_lib.scaled(fusion_channels, width_multiplier)
    self.rgb_net = inception_v1.InceptionV1(in_channels=3, final_endpoint="Mixed_5c",
                                            sync_batch_norm=sync_batch_norm,
                                            width_multiplier=width_multiplier,
                                            name="rgb_inception_v1", dtype=self.dtype_policy)
    self.flow_net = inception_v1.InceptionV1(in_channels=2 * flow_stack, final_endpoint="Mixed_5c",
                                             sync_batch_norm=sync_batch_norm,
                                             width_multiplier=width_multiplier,
                                             name="flow_inception_v1", dtype=self.dtype_policy)
    gaussian = keras.initializers.RandomNormal(stddev=NEW_LAYER_STDDEV)
    self.fusion = layers.Unit3D(self.fusion_channels, (3, 3, 3), kernel_initializer=gaussian,
                                sync_batch_norm=sync_batch_norm, name="fusion_conv3d",
                                dtype=self.dtype_policy)
    self.dropout = keras.layers.Dropout(dropout_rate, dtype=self.dtype_policy)
    self.logits = keras.layers.Dense(num_classes, kernel_initializer=gaussian, name="logits",
                                     dtype=self.dtype_policy)

  def build(self, input_shape=None):
    self.rgb_net.build((None, None, None, 3))
    self.flow_net.build((None, None, None, 2 * self.flow_stack))
    self.fusion.build((None, None, None, None, self._fused_channels()))
    self.logits.build((None, self.fusion_channels))
    self.built = True

  def _fused_channels(self):
    return self.rgb_net.feature_channels + self.flow_net.feature_channels  # 2048 at width 1.0

  def call(self, inputs, training=False):
    streams = check_streams(inputs, ("rgb", "flow"), self.name)
    rgb, flow = streams["rgb"], streams["flow"]
    if (rgb.shape[1] is not None and flow.shape[1] is not None
        and (rgb.shape[1] * self.flow_stack != flow.shape[1] if training
             else flow.shape[1] < self.flow_stack)):
      raise ValueError(f"{self.name}: each of the {rgb.shape[1]} RGB frames needs a stack of "
                       f"{self.flow_stack} flow frames; got rgb {rgb.shape}, flow {flow.shape}")
    # At test, a video's last RGB frames may lack a whole flow stack: keep the S aligned pairs.
    snapshots = tf.minimum(tf.shape(rgb)[1], tf.shape(flow)[1] // self.flow_stack)
    rgb = rgb[:, :snapshots]
    flow = flow[:, :snapshots * self.flow_stack]
    shape = tf.shape(rgb)
    frames = tf.reshape(rgb, tf.concat([[-1], shape[2:]], axis=0))         # [B*S, H, W, 3]
    rgb_maps = self.rgb_net(frames, training=training)                     # [B*S, 7, 7, 1024]
    stacks, _ = stack_flow(flow, self.flow_stack, exact=training)          # [B*S, H, W, 20]
    flow_maps = self.flow_net(stacks, training=training)                   # [B*S, 7, 7, 1024]
    maps = tf.concat([rgb_maps, flow_maps], axis=-1)                       # [B*S, 7, 7, 2048]
    map_shape = tf.shape(maps)
    maps = tf.reshape(maps, [shape[0], shape[1], map_shape[1], map_shape[2],
                             self._fused_channels()])                      # [B, S, 7, 7, 2048]
    net = self.fusion(maps, training=training)                             # [B, S, 7, 7, 512]
    net = layers.max_pool3d_same(net, (3, 3, 3), (2, 2, 2))                # [B, 3, 4, 4, 512]
    net = tf.reduce_mean(net, axis=[1, 2, 3])                              # [B, 512]
    return self.logits(self.dropout(net, training=training))               # [B, classes]

  def get_config(self):
    return {**layers.base_config(self), "num_classes": self.num_classes,
            "flow_stack": self.flow_stack, "fusion_channels": self.fusion_channels_at_width_1,
            "dropout_rate": self.dropout_rate, "sync_batch_norm": self.sync_batch_norm,
            "width_multiplier": self.width_multiplier}

  def imagenet_parts(self):
    """The 2D Inception-v1s that `--init=imagenet` copies slim's ImageNet weights into
    (checkpoints/inflation.init_from_imagenet reads the checkpoint: models read no files)."""
    return [self.rgb_net, self.flow_net]
