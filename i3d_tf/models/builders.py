"""Builder functions named by the registry ('module:function'); imported only when used."""
from i3d_tf.models import i3d


def i3d_rgb(num_classes, **options):
  return i3d.InceptionI3D(num_classes, in_channels=3, **options)


def i3d_flow(num_classes, **options):
  return i3d.InceptionI3D(num_classes, in_channels=2, **options)


def i3d_two_stream(num_classes, **options):
  from i3d_tf.models import two_stream_i3d  # pylint: disable=import-outside-toplevel
  return two_stream_i3d.TwoStreamI3D(num_classes, **options)
