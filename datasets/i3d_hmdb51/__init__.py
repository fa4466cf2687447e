"""HMDB-51 (splits 1-3) as RGB + TV-L1 flow shards; TFDS name `i3d_hmdb51`."""
from .i3d_hmdb51_dataset_builder import Builder, parse_split_files  # noqa: F401
