"""Your own videos (class folders or a CSV/TSV list) as RGB + flow shards: `i3d_video_folder`."""
from .i3d_video_folder_dataset_builder import Builder, VideoFolderConfig, user_config  # noqa: F401
