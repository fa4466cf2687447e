"""UCF-101 (splits 1-3) as RGB + TV-L1 flow shards; TFDS name `i3d_ucf101`."""
from .i3d_ucf101_dataset_builder import Builder, parse_class_index, parse_split_file  # noqa: F401
