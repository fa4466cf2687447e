"""TensorFlow's CUDA probe is quiet on a machine without a GPU; every other line stays visible."""
import os
import subprocess
import sys
import types

import pytest

from i3d_tf import cuda_probe
from tests.conftest import REPO_ROOT

NOISE = ("E0000 00:00:1796137894.385573   19210 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
         "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")


def test_only_the_cuinit_line_is_dropped_from_what_the_probe_prints(capfd, monkeypatch):
  monkeypatch.setattr(cuda_probe, "_done", False)
  fake_tf = types.SimpleNamespace(config=types.SimpleNamespace(
      list_physical_devices=lambda kind: os.write(2, NOISE.encode()) and []))

  def importing():  # what TensorFlow's import writes to fd 2: the probe, and a real error
    os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\n")
    os.write(2, b"E0000 some_op.cc:1] a real error\n")
    return fake_tf

  cuda_probe.probe_quietly(before=importing)
  err = capfd.readouterr().err
  assert "failed call to cuInit" not in err
  assert "E0000 some_op.cc:1] a real error\n" in err and "Could not find cuda drivers" in err


@pytest.mark.skipif(not cuda_probe.no_gpu_here(), reason="this machine may have a GPU")
@pytest.mark.parametrize("show", ["", "1"])
def test_a_binary_on_a_machine_without_gpu(show):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  env["I3D_TF_SHOW_CUDA_PROBE"] = show
  result = subprocess.run([sys.executable, "-m", "experiments.model_summary", "--model=c3d"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert "trainable parameters" in result.stdout
  if show:  # the line is there to quiet: TensorFlow prints it unless told otherwise
    assert "failed call to cuInit" in result.stderr
  else:
    assert "failed call to cuInit" not in result.stderr, result.stderr
    assert "cudart_stub.cc" in result.stderr  # TF's INFO lines pass: nothing but the probe hidden
