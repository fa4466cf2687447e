"""synthetic_motion: generated videos only motion tells apart; the embedded default data set."""
from .synthetic_motion_dataset_builder import Builder, SyntheticConfig, video_seed  # noqa: F401
