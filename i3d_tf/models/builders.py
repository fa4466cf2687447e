"""Builder functions named by the registry ('module:function'); imported only when used."""
from i3d_tf.models import c3d as c3d_lib
from i3d_tf.models import convnet_lstm as convnet_lstm_lib
from i3d_tf.models import fused_3d as fused_3d_lib
from i3d_tf.models import i3d
from i3d_tf.models import two_stream as two_stream_lib
from i3d_tf.models import two_stream_i3d


def i3d_rgb(num_classes, **options):
  return i3d.InceptionI3D(num_classes, in_channels=3, **options)


def i3d_flow(num_classes, **options):
  return i3d.InceptionI3D(num_classes, in_channels=2, **options)


def i3d_two_stream(num_classes, **options):
  return two_stream_i3d.TwoStreamI3D(num_classes, **options)



def _baseline_options(model_name, options):
  """The baselines have no I3D final pool: a non-default --final_pool_padding is an error."""
  padding = options.pop("final_pool_padding", "VALID")
  if str(padding).upper() != "VALID":
    raise ValueError(f"--final_pool_padding={padding} applies to the I3D models only, not to "
                     f"--model={model_name}")
  return options


def convnet_lstm(num_classes, **options):
  return convnet_lstm_lib.ConvNetLSTM(num_classes, **_baseline_options("lstm", options))


def c3d(num_classes, **options):
  return c3d_lib.C3D(num_classes, **_baseline_options("c3d", options))


def two_stream(num_classes, **options):
  return two_stream_lib.TwoStream2D(num_classes, **_baseline_options("two_stream", options))


def fused_3d(num_classes, **options):
  return fused_3d_lib.Fused3D(num_classes, **_baseline_options("fused_3d", options))
