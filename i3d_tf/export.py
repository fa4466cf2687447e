"""SavedModel export for any registered model: signature `serving_default`, logits + probabilities.

Single-stream models take one input `video` float32 [B, T, crop, crop, C] in [-1, 1]; multi-stream
models take one input per stream, named by the stream ('rgb', 'flow'). T is None in the signature so
a served model takes whole videos. Outputs: `logits` [B, classes] and `probabilities` (softmax), both
float32 whatever the model's compute dtype. RGB models also get `serving_uint8`: `frames` uint8
[B, T, H, W, 3] of any size, resized (shorter side 256, bilinear), centre-cropped and scaled to
[-1, 1] inside the graph, so a TF Serving client sends decoded frames and needs no project code.
The label map, when given, travels as the asset `assets/label_map.txt` (and `label_map.txt` beside `saved_model/` is the importer's business).
"""
import os
import tempfile

import tensorflow as tf

from i3d_tf import labels

SIGNATURE_KEY = "serving_default"
SINGLE_STREAM_INPUT = "video"
UINT8_SIGNATURE_KEY = "serving_uint8"
UINT8_INPUT = "frames"
SHORTER_SIDE = 256  # the datasets' and model_input's resize (decode.DEFAULT_SHORTER_SIDE)


def uint8_frames_to_video(frames, crop_size, shorter_side=SHORTER_SIDE):
  """uint8 RGB [B, T, H, W, 3] of any size -> float32 [B, T, crop, crop, 3] in [-1, 1], in-graph.

  As model_input does with OpenCV: shorter side to `shorter_side` (bilinear, half-pixel centres,
  no antialiasing, rounded to 8 bits as cv2.resize of uint8 frames is), the centre crop,
  / 127.5 - 1.
  """
  frames = tf.convert_to_tensor(frames, tf.uint8)
  shape = tf.shape(frames)
  height, width = shape[2], shape[3]
  h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
  side = tf.constant(float(shorter_side), tf.float64)
  new_h = tf.where(height <= width, side, tf.round(h * side / w))
  new_w = tf.where(height <= width, tf.round(w * side / h), side)
  size = tf.cast(tf.stack([new_h, new_w]), tf.int32)
  flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))  # [B*T, H, W, 3]
  resized = tf.image.resize(tf.cast(flat, tf.float32), size, method="bilinear", antialias=False)
  resized = tf.clip_by_value(tf.round(resized), 0.0, 255.0)
  top, left = (size[0] - crop_size) // 2, (size[1] - crop_size) // 2
  tf.debugging.assert_non_negative(tf.minimum(top, left), message=(
      f"frames resized to shorter side {shorter_side} are smaller than the {crop_size} px crop"))
  cropped = resized[:, top:top + crop_size, left:left + crop_size]
  video = tf.reshape(cropped, tf.concat([shape[:2], [crop_size, crop_size, 3]], axis=0))
  video = tf.ensure_shape(video, [None, None, crop_size, crop_size, 3])  # static for e.g. C3D's FC
  return video / 127.5 - 1.0


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
    self.serve_uint8 = None
    if self.stream_names == ("rgb",):
      size = input_spec.crop_size

      @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.uint8,
                                                  name=UINT8_INPUT)])
      def serve_uint8(frames):
        # uint8 [B, T, H, W, 3], any H, W -> resize, centre crop, [-1, 1] -> the float signature
        return serve({SINGLE_STREAM_INPUT: uint8_frames_to_video(frames, size)})

      self.serve_uint8 = serve_uint8


def export_saved_model(model, export_dir, input_spec, label_map=None):
  """Writes `model` as a SavedModel to `export_dir`; returns export_dir.

  Args:
    model: a keras.Model following the registry's calling convention (built or not; it is called
      once on a small dummy input if it has no variables yet).
    export_dir: the SavedModel directory (created; must not hold another SavedModel's files).
    input_spec: the model's registry.InputSpec (streams, channels, crop size).
    label_map: optional list of class names, or a path to a label-map file, stored as an asset.
  """
  if label_map is not None:
    if isinstance(label_map, (str, os.PathLike)):
      label_map = labels.read_label_map(label_map)
    num_classes = getattr(model, "num_classes", None)
    if num_classes is not None and len(label_map) != num_classes:
      raise ValueError(f"label_map has {len(label_map)} classes; the model has {num_classes}")
  # The label map's asset is copied into the SavedModel from this folder, removed whatever happens.
  with tempfile.TemporaryDirectory(prefix="i3d_tf_export_") as tmp_dir:
    label_map_path = None
    if label_map is not None:
      label_map_path = labels.write_label_map(label_map, os.path.join(tmp_dir, "label_map.txt"))
    if not model.built or not model.variables:
      _build_with_dummy_input(model, input_spec)
    module = _ServingModule(model, input_spec, label_map_path)
    signatures = {SIGNATURE_KEY: module.serve.get_concrete_function()}
    if module.serve_uint8 is not None:
      signatures[UINT8_SIGNATURE_KEY] = module.serve_uint8.get_concrete_function()
    tf.saved_model.save(module, export_dir, signatures=signatures)
  return export_dir


def _build_with_dummy_input(model, input_spec):
  size = input_spec.crop_size
  # A training-length clip: every registered model accepts its own training input.
  dummy = {s.name: tf.zeros((1, s.train_frames, size, size, s.channels))
           for s in input_spec.streams}
  model(dummy[input_spec.streams[0].name] if len(dummy) == 1 else dummy, training=False)

