"""Kinetics-400/600/700 as RGB + TV-L1 flow shards; TFDS name `i3d_kinetics`."""
from .i3d_kinetics_dataset_builder import Builder, KineticsRow, clip_key, parse_csv  # noqa: F401
