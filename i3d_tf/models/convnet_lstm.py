"""ConvNet+LSTM baseline (paper, Sec. 2.1): Inception-v1 per frame, then a batch-normalised LSTM.

The 1024-d features of the last average pool of each frame feed an LSTM of 512 units with
recurrent batch norm and a fully connected classifier. The loss is on every time step (training
returns per-step logits [B, T, classes]); at test the last step's logits [B, classes] are the
output. Input: 25 frames 1 in 5 (5 s) in training, 50 (10 s) at test. An opt-in width_multiplier m
narrows the Inception-v1 (features 1024 -> ~1024 m) and the LSTM (512 -> round(512 m) units).
lstm_gamma_init sets the recurrent batch norms' initial gammas (Cooijmans et al.'s 0.1 by default;
the synthetic miniature's reduced configuration uses 1.0: at 0.1 a from-scratch quarter-width model
learns no motion there).
"""
import keras
import tensorflow as tf

from i3d_tf import layers
from i3d_tf import layers_recurrent
from i3d_tf.models import inception_v1
from i3d_tf.models import width as width_lib


@layers.serializable
class ConvNetLSTM(keras.Model):
  """[B, T, H, W, 3] -> logits [B, T, classes] (training) or [B, classes] (the last step).

  lstm_units is the width at width_multiplier 1.0 (the paper's 512); the LSTM gets it times m.
  """

  def __init__(self, num_classes, lstm_units=512, max_steps=50, dropout_rate=0.5,
               sync_batch_norm=False, width_multiplier=1.0,
               lstm_gamma_init=layers_recurrent.GAMMA_INIT, name="convnet_lstm", **kwargs):
    super().__init__(name=name, **kwargs)
    self.num_classes = num_classes
    self.lstm_units_at_width_1 = lstm_units
    self.max_steps = max_steps
    self.dropout_rate = dropout_rate
    self.sync_batch_norm = sync_batch_norm
    self.lstm_gamma_init = lstm_gamma_init
    self.width_multiplier = width_multiplier = width_lib.check(width_multiplier, name)
    self.lstm_units = width_lib.scaled(lstm_units, width_multiplier)
    dtype = self.dtype_policy
    self.backbone = inception_v1.InceptionV1(
        in_channels=3, final_endpoint="AvgPool_0a_7x7", global_pool=True,
        sync_batch_norm=sync_batch_norm, width_multiplier=width_multiplier,
        name="frame_inception_v1", dtype=dtype)
    self.lstm = layers_recurrent.BatchNormLSTM(self.lstm_units, max_steps=max_steps,
                                               gamma_init=lstm_gamma_init, name="bn_lstm",
                                               dtype=dtype)
    self.dropout = keras.layers.Dropout(dropout_rate, dtype=dtype)
    self.classifier = keras.layers.Dense(num_classes, name="logits", dtype=dtype)

  def build(self, input_shape=None):
    self.backbone.build((None, None, None, 3))
    self.lstm.build((None, None, self.backbone.feature_channels))
    self.classifier.build((None, None, self.lstm_units))
    self.built = True

  def call(self, inputs, training=False):
    inputs = tf.convert_to_tensor(inputs)
    if inputs.shape.rank != 5:
      raise ValueError(f"{self.name} expects video [B, T, H, W, 3]; got shape {inputs.shape}")
    features = inception_v1.frame_features(self.backbone, inputs, training=training)  # [B,T,1024]
    features = tf.ensure_shape(features, [None, inputs.shape[1], self.backbone.feature_channels])
    # Training unrolls over the (static) frames; inference also takes a frame count of None.
    hidden = self.lstm(features, training=training)                                  # [B,T,512]
    logits = self.classifier(self.dropout(hidden, training=training))                # [B,T,C]
    return logits if training else logits[:, -1]

  def get_config(self):
    return {**layers.base_config(self), "num_classes": self.num_classes,
            "lstm_units": self.lstm_units_at_width_1, "max_steps": self.max_steps,
            "dropout_rate": self.dropout_rate, "sync_batch_norm": self.sync_batch_norm,
            "width_multiplier": self.width_multiplier, "lstm_gamma_init": self.lstm_gamma_init}

  def imagenet_parts(self):
    """The 2D Inception-v1s that `--init=imagenet` copies slim's ImageNet weights into
    (checkpoints/inflation.init_from_imagenet reads the checkpoint: models read no files)."""
    return [self.backbone]
