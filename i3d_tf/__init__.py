"""i3d_tf: a TF2/Keras reproduction of Quo Vadis (I3D), faithful to DeepMind's release.

The public API, imported lazily (`import i3d_tf` does not import TensorFlow; the first use of a
name below does):

  Models:     InceptionI3D, TwoStreamI3D, InceptionV1, C3D, ConvNetLSTM, TwoStream2D, Fused3D,
              Unit3D, Unit2D, BatchNormLSTM (every one registered with Keras as "i3d_tf>Name").
  Registry:   registry (the module), build_model(name, num_classes, **options), model_names(),
              get_model_spec(name).
  Weights:    load_model(path) (a `.keras` file, no custom_objects), pretrained (the module:
              pretrained.load(name_or_path), the release's checkpoints), load_deepmind_checkpoint,
              load_two_stream_checkpoints, save_deepmind_checkpoint, import_checkpoint, load_run
              (a training run's folder), export_saved_model.
  Input:      ClipSpec, train_dataset, test_dataset, train_dataset_from_examples,
              test_dataset_from_examples, read_examples (i3d_tf.data.pipeline), read_video
              (i3d_tf.video.decode), compute_flow (i3d_tf.video.flow).
"""
import importlib

__version__ = "0.2.0"

# Public name -> (module, attribute in it; None = the module itself).
_EXPORTS = {
    "InceptionI3D": ("i3d_tf.models.i3d", "InceptionI3D"),
    "TwoStreamI3D": ("i3d_tf.models.two_stream_i3d", "TwoStreamI3D"),
    "InceptionV1": ("i3d_tf.models.inception_v1", "InceptionV1"),
    "C3D": ("i3d_tf.models.c3d", "C3D"),
    "ConvNetLSTM": ("i3d_tf.models.convnet_lstm", "ConvNetLSTM"),
    "TwoStream2D": ("i3d_tf.models.two_stream", "TwoStream2D"),
    "Fused3D": ("i3d_tf.models.fused_3d", "Fused3D"),
    "Unit3D": ("i3d_tf.layers", "Unit3D"),
    "Unit2D": ("i3d_tf.layers_2d", "Unit2D"),
    "BatchNormLSTM": ("i3d_tf.layers_recurrent", "BatchNormLSTM"),
    "registry": ("i3d_tf.models.registry", None),
    "build_model": ("i3d_tf.models.registry", "build_model"),
    "model_names": ("i3d_tf.models.registry", "names"),
    "get_model_spec": ("i3d_tf.models.registry", "get"),
    "pretrained": ("i3d_tf.pretrained", None),
    "load_deepmind_checkpoint": ("i3d_tf.checkpoints.deepmind", "load_deepmind_checkpoint"),
    "load_two_stream_checkpoints": ("i3d_tf.checkpoints.deepmind", "load_two_stream_checkpoints"),
    "save_deepmind_checkpoint": ("i3d_tf.checkpoints.deepmind", "save_deepmind_checkpoint"),
    "import_checkpoint": ("i3d_tf.checkpoints.import_release", "import_checkpoint"),
    "load_run": ("i3d_tf.checkpoints.runs", "load_run"),
    "export_saved_model": ("i3d_tf.export", "export_saved_model"),
    "ClipSpec": ("i3d_tf.data.pipeline", "ClipSpec"),
    "train_dataset": ("i3d_tf.data.pipeline", "train_dataset"),
    "test_dataset": ("i3d_tf.data.pipeline", "test_dataset"),
    "train_dataset_from_examples": ("i3d_tf.data.pipeline", "train_dataset_from_examples"),
    "test_dataset_from_examples": ("i3d_tf.data.pipeline", "test_dataset_from_examples"),
    "read_examples": ("i3d_tf.data.pipeline", "read_examples"),
    "read_video": ("i3d_tf.video.decode", "read_video"),
    "compute_flow": ("i3d_tf.video.flow", "compute_flow"),
}

__all__ = sorted(_EXPORTS) + ["__version__", "load_model"]


def load_model(path, **kwargs):
  """keras.saving.load_model(path) after registering every i3d_tf model and layer with Keras.

  A `.keras` file saved from any i3d_tf model loads without custom_objects.
  """
  from i3d_tf import models  # pylint: disable=import-outside-toplevel
  models.import_all()
  import keras  # pylint: disable=import-outside-toplevel
  return keras.saving.load_model(path, **kwargs)


def __getattr__(name):
  if name not in _EXPORTS:
    raise AttributeError(f"module 'i3d_tf' has no attribute {name!r}")
  module_name, attribute = _EXPORTS[name]
  module = importlib.import_module(module_name)
  value = module if attribute is None else getattr(module, attribute)
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(_EXPORTS))
