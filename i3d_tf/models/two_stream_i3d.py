"""Two-stream I3D as the release combines it: the sum of the RGB and Flow streams' logits.

Each stream is a full InceptionI3D with its own weights; the release's evaluate_sample.py adds the two
logit vectors and takes the softmax of the sum (it never averages probabilities).
"""
import keras
import tensorflow as tf

from i3d_tf import layers
from i3d_tf.models import i3d

# The release's variable scopes of the two streams (its checkpoints' names start with these).
STREAM_SCOPES = {"rgb": "RGB/inception_i3d", "flow": "Flow/inception_i3d"}
STREAM_CHANNELS = {"rgb": 3, "flow": 2}


@layers.serializable
class TwoStreamI3D(keras.Model):
  """{'rgb': [B, T, H, W, 3], 'flow': [B, T, H, W, 2]} in [-1, 1] -> logits [B, num_classes].

  `options` go to both streams' InceptionI3D (dropout_rate, final_pool_padding, sync_batch_norm,
  width_multiplier).
  The streams may see clips of different lengths; their logits are summed.
  """

  def __init__(self, num_classes=400, name="two_stream_i3d", dtype=None, trainable=True,
               **options):
    if options.get("final_endpoint", "Logits") != "Logits":
      raise ValueError("TwoStreamI3D sums the streams' logits; final_endpoint must be 'Logits', "
                       f"got {options['final_endpoint']!r}")
    options.pop("final_endpoint", None)
    options.pop("in_channels", None)
    super().__init__(name=name, dtype=dtype, trainable=trainable)
    self.num_classes = num_classes
    self.options = dict(options)
    self.rgb = i3d.InceptionI3D(num_classes, in_channels=3, name="rgb_inception_i3d",
                                dtype=self.dtype_policy, **options)
    self.flow = i3d.InceptionI3D(num_classes, in_channels=2, name="flow_inception_i3d",
                                 dtype=self.dtype_policy, **options)
    self.streams = {"rgb": self.rgb, "flow": self.flow}
    self.width_multiplier = self.rgb.width_multiplier  # both streams have it (checked there)

  def build(self, input_shape=None):
    for name, stream in self.streams.items():
      stream.build((None, None, 224, 224, STREAM_CHANNELS[name]))
    self.built = True

  def _check_inputs(self, inputs):
    if not isinstance(inputs, dict) or set(inputs) != set(self.streams):
      got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
      raise ValueError(f"TwoStreamI3D takes a dict with keys ['flow', 'rgb'] ([B, T, H, W, 3] and "
                       f"[B, T, H, W, 2] tensors); got {got}")

  def stream_logits(self, inputs, training=False):
    """{'rgb': logits [B, classes], 'flow': logits [B, classes]}."""
    self._check_inputs(inputs)
    return {name: stream(inputs[name], training=training) for name, stream in self.streams.items()}

  def call(self, inputs, training=False):
    per_stream = self.stream_logits(inputs, training=training)
    return tf.add(per_stream["rgb"], per_stream["flow"])  # [B, classes], the release's joint logits

  def deepmind_variables(self):
    """Full release names ('RGB/inception_i3d/...', 'Flow/inception_i3d/...') -> variables."""
    return {f"{STREAM_SCOPES[name]}/{key}": var
            for name, stream in self.streams.items()
            for key, var in stream.deepmind_variables().items()}

  def get_config(self):
    return {**layers.base_config(self), "num_classes": self.num_classes, **self.options}
