"""Turns on oneDNN's CPU kernels for every binary (TF_ENABLE_ONEDNN_OPTS=1) unless the user chose.

TensorFlow enables oneDNN by default only on CPUs with AVX-512 VNNI/BF16 or AMX; elsewhere
(AVX2-only CPUs such as AMD EPYC before Zen 4) it runs Eigen's kernels, on which I3D's
3D-convolution and max-pool gradients are far slower: the embedded default (`train_kinetics` with no
data flags) went from hours to minutes there (BENCHMARKS.md, 'Training step by CPU kernel path').
oneDNN reads the variable when TensorFlow loads, so every binary imports this module before
TensorFlow (i3d_tf/entry.py, experiments/__init__.py, datasets/build.py, benchmarks/__init__.py).
TF_ENABLE_ONEDNN_OPTS=0 in the environment keeps Eigen.
"""
import os

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"

os.environ.setdefault(VARIABLE, "1")
