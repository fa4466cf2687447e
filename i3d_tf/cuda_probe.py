"""Quiets TensorFlow's CUDA probe on machines without a GPU; every binary imports this first.

There, TensorFlow's first device listing logs `failed call to cuInit: ... UNKNOWN ERROR (303)` at
ERROR level, which reads as a failure to a new user. TF_CPP_MIN_LOG_LEVEL would hide real errors
too, and no environment variable skips the probe, so right after `import tensorflow` this module
runs the probe once itself, with the C++ stderr (fd 2) sent to a temporary file, and writes back
everything it caught but the cuInit line. Only where there is no GPU: no /dev/nvidia<N> device
and CUDA_VISIBLE_DEVICES unset, or every GPU hidden (CUDA_VISIBLE_DEVICES '' or '-1', as a CPU-only
job or a build's CPU flow process sets it); I3D_TF_SHOW_CUDA_PROBE=1 keeps the line. TensorFlow is
not imported here: binaries that never use it (report, plot_curves) do not pay for it. Binaries
import it through i3d_tf/entry.py, their common entry path.
"""
import glob
import importlib.abc
import importlib.util
import os
import sys
import tempfile

NOISE = ("failed call to cuInit",)
_done = False


def no_gpu_here():
  """True where this process can see no GPU: a machine with no NVIDIA device and no
  CUDA_VISIBLE_DEVICES (a CPU-only box), or CUDA_VISIBLE_DEVICES hiding every GPU ('' or '-1')."""
  if os.environ.get("I3D_TF_SHOW_CUDA_PROBE", "") not in ("", "0"):
    return False
  visible = os.environ.get("CUDA_VISIBLE_DEVICES")
  if visible is not None:
    return visible.strip() in ("", "-1")
  return not glob.glob("/dev/nvidia[0-9]*")


def filtered(text):
  """`text` without the lines of the CUDA probe's known noise."""
  return "".join(line for line in text.splitlines(keepends=True)
                 if not any(noise in line for noise in NOISE))


def probe_quietly(tf=None, before=None):
  """Runs `before()` (the import of TensorFlow), then lists the GPUs (TensorFlow's one cuInit),
  with fd 2 caught; writes back all it caught but the noise."""
  global _done
  if _done:
    return
  _done = True
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as caught:
    os.dup2(caught.fileno(), 2)
    try:
      if before is not None:
        tf = before()
      tf.config.list_physical_devices("GPU")
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      caught.seek(0)
      rest = filtered(caught.read().decode("utf-8", errors="replace"))
      if rest:
        sys.stderr.write(rest)
        sys.stderr.flush()


class _AfterTensorFlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Finds `tensorflow` with the other finders, and probes once its module has run."""

  def __init__(self):
    self._loader = None

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    if fullname != "tensorflow":
      return None
    sys.meta_path.remove(self)  # one use
    spec = importlib.util.find_spec(fullname)
    if spec is None or spec.loader is None:
      return spec
    self._loader = spec.loader
    spec.loader = self
    return spec

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    def run():
      self._loader.exec_module(module)
      return module
    probe_quietly(before=run)


def install():
  """Quiets the probe of this process (no-op where there may be a GPU, or done already)."""
  if _done or not no_gpu_here():
    return
  if "tensorflow" in sys.modules:
    probe_quietly(sys.modules["tensorflow"])
  elif not any(isinstance(f, _AfterTensorFlowImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterTensorFlowImport())


install()
