"""Where a build's flow is computed: a Beam DoFn that loads a TensorFlow flow method once per worker.

With `--flow_method=tvl1_tf` (or `tvl1_tf_fast`) each Beam worker process imports TensorFlow and
builds the batched TV-L1 in `setup()`, once, before its first video; every video it then processes
reuses it (i3d_tf.video.flow keeps one per process). OpenCV methods need no setup.
"""
import apache_beam as beam

from i3d_tf.video import flow as flow_lib


def flow_method_of(process_fn):
  """The flow method of a builder's per-video function (a functools.partial with `options`)."""
  options = (getattr(process_fn, "keywords", None) or {}).get("options")
  return getattr(options, "flow_method", None)


class ProcessVideoDoFn(beam.DoFn):
  """item -> video_example.ProcessResult, by the builder's per-video function."""

  def __init__(self, process_fn):
    super().__init__()
    self._process_fn = process_fn
    self._flow_method = flow_method_of(process_fn)

  def setup(self):
    if self._flow_method in flow_lib.TF_METHODS:
      flow_lib.tf_flow(self._flow_method)  # Imports TensorFlow and builds the TV-L1 once.

  def process(self, element):
    yield self._process_fn(element)
