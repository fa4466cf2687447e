"""Installs i3d_tf: the library, the binaries (`experiments`, console scripts i3d-*), and the TFDS
dataset builders as `i3d_tf_datasets`.

The builders live in the repository's `datasets/` folder (run as `python -m datasets.build` from the
repository root); installed, they are the package `i3d_tf_datasets` so that they never shadow the
unrelated `datasets` package on PyPI. The binaries are installed as the package `experiments` (what
`python -m experiments.X` names in a checkout), and as console scripts that work from any directory.
"""
import re

import setuptools

_DATASET_PACKAGES = setuptools.find_packages(include=["datasets", "datasets.*"])
with open("i3d_tf/__init__.py", encoding="utf-8") as _f:
  _VERSION = re.search(r'^__version__ = "([^"]+)"', _f.read(), re.M).group(1)

# Console script -> experiments.cli function (each runs one absl binary).
_SCRIPTS = {
    "i3d-build": "build", "i3d-train": "train", "i3d-finetune": "finetune",
    "i3d-evaluate": "evaluate", "i3d-evaluate-sample": "evaluate_sample",
    "i3d-import": "import_checkpoint", "i3d-extract-features": "extract_features",
    "i3d-classify": "classify", "i3d-preprocess-video": "preprocess_video",
    "i3d-reproduce": "reproduce", "i3d-report": "report", "i3d-model-summary": "model_summary",
    "i3d-visualize-filters": "visualize_filters", "i3d-plot-curves": "plot_curves",
}

setuptools.setup(
    name="i3d_tf",
    version=_VERSION,
    description=("TensorFlow 2 / Keras reproduction of 'Quo Vadis, Action Recognition?' "
                 "(Carreira & Zisserman, CVPR 2017), faithful to DeepMind's kinetics-i3d release."),
    python_requires=">=3.10",
    packages=(setuptools.find_packages(include=["i3d_tf", "i3d_tf.*"]) +
              setuptools.find_packages(include=["experiments", "experiments.*"]) +
              ["i3d_tf_datasets" + p[len("datasets"):] for p in _DATASET_PACKAGES]),
    package_dir={"i3d_tf_datasets": "datasets"},
    package_data={"i3d_tf_datasets": ["*/*.txt", "*/*.tsv", "*/*.json"],
                  "i3d_tf.data": ["*.md"]},
    entry_points={"console_scripts": [f"{script} = experiments.cli:{fn}"
                                      for script, fn in _SCRIPTS.items()]},
    install_requires=[
        "tensorflow==2.21.*",
        "tensorflow-datasets==4.9.*",
        # tensorflow-datasets 4.9.10 imports it for any builder outside its own package.
        "importlib_resources==6.5.*",
        # TV-L1 output differs between OpenCV versions: pinned exactly.
        "opencv-contrib-python-headless==5.0.0.93",
        "protobuf==6.33.*",
        "numpy>=1.26,<3",
        "absl-py>=2.0",
        "tqdm>=4.60",
        "matplotlib>=3.8",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5"],
        "beam": ["apache-beam==2.77.*"],
        # The `tfds` command line (`tfds build datasets/<name>`) imports it.
        "tfds-cli": ["mlcroissant==1.1.*"],
        # benchmarks/xla_export.py and xla_run.py: TensorFlow's XLA programs run through JAX
        # (tests/test_xla_export.py; BENCHMARKS.md, 'XLA programs run through JAX'). Pinned: the
        # export uses jax's private StableHLO and Exported constructors; tested with it.
        "xla": ["jax[cpu]==0.10.2"],
    },
)
