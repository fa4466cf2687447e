"""SavedModel export for any registered model: signature `serving_default`, logits + probabilities.

Single-stream models take one input `video` float32 [B, T, crop, crop, C] in [-1, 1]; multi-stream
models take one input per stream, named by the stream ('rgb', 'flow'). T is None in the signature so
a served model takes whole videos. Outputs: `logits` [B, classes] and `probabilities` (softmax), both
float32 whatever the model's compute dtype. The label map, when given, travels as the asset
`assets/label_map.txt` (and `label_map.txt` beside `saved_model/` is the importer's business).
"""
import os
import tempfile

import tensorflow as tf

from i3d_tf import labels

SIGNATURE_KEY = "serving_default"
SINGLE_STREAM_INPUT = "video"


def serving_input_specs(input_spec):
  """{signature input name: tf.TensorSpec} for a registry.InputSpec."""
  size = input_spec.crop_size
  if len(input_spec.streams) == 1:
    stream = input_spec.streams[0]
    return {SINGLE_STREAM_INPUT: tf.TensorSpec(
        [None, None, size, size, stream.channels], tf.float32, name=SINGLE_STREAM_INPUT)}
  return {s.name: tf.TensorSpec([None, None, size, size, s.channels], tf.float32, name=s.name)
          for s in input_spec.streams}


class _ServingModule(tf.Module):
  """What the SavedModel holds: the model (its variables) and the serving function."""

  def __init__(self, model, input_spec, label_map_path=None):
    super().__init__(name="i3d_tf_serving")
    self.model = model
    self.stream_names = tuple(input_spec.stream_names)
    if label_map_path is not None:
      self.label_map = tf.saved_model.Asset(label_map_path)
    specs = serving_input_specs(input_spec)
    single = len(input_spec.streams) == 1

    @tf.function(input_signature=[specs])
    def serve(inputs):
      # single stream: the model takes the tensor; several: {stream name: tensor}
      model_inputs = inputs[SINGLE_STREAM_INPUT] if single else dict(inputs)
      logits = tf.cast(self.model(model_inputs, training=False), tf.float32)  # [B, classes]
      return {"logits": tf.identity(logits, name="logits"),
              "probabilities": tf.nn.softmax(logits, name="probabilities")}

    self.serve = serve


def export_saved_model(model, export_dir, input_spec, label_map=None):
  """Writes `model` as a SavedModel to `export_dir`; returns export_dir.

  Args:
    model: a keras.Model following the registry's calling convention (built or not; it is called
      once on a small dummy input if it has no variables yet).
    export_dir: the SavedModel directory (created; must not hold another SavedModel's files).
    input_spec: the model's registry.InputSpec (streams, channels, crop size).
    label_map: optional list of class names, or a path to a label-map file, stored as an asset.
  """
  label_map_path = None
  tmp_dir = None
  if label_map is not None:
    if isinstance(label_map, (str, os.PathLike)):
      label_map = labels.read_label_map(label_map)
    num_classes = getattr(model, "num_classes", None)
    if num_classes is not None and len(label_map) != num_classes:
      raise ValueError(f"label_map has {len(label_map)} classes; the model has {num_classes}")
    tmp_dir = tempfile.mkdtemp(prefix="i3d_tf_export_")
    label_map_path = labels.write_label_map(label_map, os.path.join(tmp_dir, "label_map.txt"))
  if not model.built or not model.variables:
    _build_with_dummy_input(model, input_spec)
  module = _ServingModule(model, input_spec, label_map_path)
  tf.saved_model.save(module, export_dir,
                      signatures={SIGNATURE_KEY: module.serve.get_concrete_function()})
  if tmp_dir is not None:
    os.remove(label_map_path)
    os.rmdir(tmp_dir)
  return export_dir


def _build_with_dummy_input(model, input_spec):
  size = input_spec.crop_size
  # A training-length clip: every registered model accepts its own training input.
  dummy = {s.name: tf.zeros((1, s.train_frames, size, size, s.channels))
           for s in input_spec.streams}
  model(dummy[input_spec.streams[0].name] if len(dummy) == 1 else dummy, training=False)

