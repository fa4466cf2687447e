"""Running a model over an evaluation dataset: logits of whole videos, collected as numpy arrays."""
import numpy as np
import tensorflow as tf

from i3d_tf.data import pipeline


def predict_logits(model, dataset, max_batches=None, progress=None):
  """(logits float32 [N, classes], labels int64 [N]) over `dataset` of (inputs, label) batches.

  The model sees each whole (centre-cropped) video and averages its logits over time itself (I3D's
  final pool and mean), so one forward pass per video is the paper's whole-video evaluation.
  `progress`, when given, is called with the number of videos done after each batch.
  """
  # One trace for every batch size and video length.
  relaxed = tf.nest.map_structure(
      lambda s: tf.TensorSpec([None, None] + list(s.shape[2:]), s.dtype),
      dataset.element_spec[0])

  @tf.function(input_signature=[relaxed])
  def forward(inputs):
    return tf.cast(model(pipeline.to_model_range(inputs), training=False), tf.float32)

  all_logits, all_labels = [], []
  done = 0
  for i, (inputs, labels) in enumerate(dataset):
    if max_batches is not None and i >= max_batches:
      break
    all_logits.append(forward(inputs).numpy())
    all_labels.append(labels.numpy())
    done += len(all_labels[-1])
    if progress:
      progress(done)
  if not all_logits:
    return np.zeros((0, 0), np.float32), np.zeros((0,), np.int64)
  return np.concatenate(all_logits), np.concatenate(all_labels).astype(np.int64)
