"""Benchmarks of i3d_tf (python -m benchmarks.<name>); figures in BENCHMARKS.md."""
from i3d_tf import cuda_probe  # noqa: F401  first: quiets TF's CUDA probe where there is no GPU
from i3d_tf import cpu_kernels  # noqa: F401  before TensorFlow: oneDNN on every x86-64 CPU
