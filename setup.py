"""Installs i3d_tf: the library, and the TFDS dataset builders as `i3d_tf_datasets`.

The builders live in the repository's `datasets/` folder (run as `python -m datasets.build` from the
repository root); installed, they are the package `i3d_tf_datasets` so that they never shadow the
unrelated `datasets` package on PyPI.
"""
import setuptools

_DATASET_PACKAGES = setuptools.find_packages(include=["datasets", "datasets.*"])

setuptools.setup(
    name="i3d_tf",
    version="0.1.0",
    description=("TensorFlow 2 / Keras reproduction of 'Quo Vadis, Action Recognition?' "
                 "(Carreira & Zisserman, CVPR 2017), faithful to DeepMind's kinetics-i3d release."),
    python_requires=">=3.10",
    packages=(setuptools.find_packages(include=["i3d_tf", "i3d_tf.*"]) +
              ["i3d_tf_datasets" + p[len("datasets"):] for p in _DATASET_PACKAGES]),
    package_dir={"i3d_tf_datasets": "datasets"},
    package_data={"i3d_tf_datasets": ["*/*.txt", "*/*.tsv", "*/*.json"]},
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
    },
)
