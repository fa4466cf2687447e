"""The paper's five architectures (one module each), their building blocks, and the registry.

Importing this package is light; `import_all()` imports every model module, which registers each
model and layer class with Keras (package "i3d_tf"), so that `.keras` files load without
custom_objects.
"""
import importlib

# Every module that defines a registered (Keras-serialisable) model or layer.
MODEL_MODULES = (
    "i3d_tf.layers", "i3d_tf.layers_2d", "i3d_tf.layers_recurrent", "i3d_tf.models.i3d",
    "i3d_tf.models.two_stream_i3d", "i3d_tf.models.inception_v1", "i3d_tf.models.c3d",
    "i3d_tf.models.convnet_lstm", "i3d_tf.models.two_stream", "i3d_tf.models.fused_3d",
)


def import_all():
  """Imports (and so registers with Keras) every model and layer class of i3d_tf."""
  for name in MODEL_MODULES:
    importlib.import_module(name)
