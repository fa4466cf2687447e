"""A synthetic_motion build with flow_method='tvl1_tf': end to end, its flow as compute_flow's and
within the agreement bounds of the same clips' OpenCV 'tvl1' flow."""
import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets import synthetic_motion  # noqa: E402
from i3d_tf.video import flow as flow_lib  # noqa: E402
from i3d_tf.video import synthetic  # noqa: E402


def test_synthetic_build_with_tvl1_tf(tmp_path):
  config = synthetic_motion.SyntheticConfig(name="tiny_tf", flow_method="tvl1_tf", num_train=2,
                                            num_test=1, num_frames=4, height=32, width=40)
  builder = synthetic_motion.Builder(config=config, data_dir=str(tmp_path), num_workers=0)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  assert builder.info.metadata["flow_method"] == "tvl1_tf"
  assert "TensorFlow" in builder.info.metadata["flow_settings"]
  examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
  assert len(examples) == 2
  for e in examples:
    index = int(e["video_id"].decode().rsplit("_", 1)[1])
    frames = synthetic.make_video(int(e["label"]), synthetic_motion.video_seed(0, "train", index),
                                  4, 32, 40)
    stored = e["flow"][..., :2]
    np.testing.assert_array_equal(stored, flow_lib.quantize(flow_lib.compute_flow(frames,
                                                                                  "tvl1_tf")))
    opencv = flow_lib.dequantize(flow_lib.quantize(flow_lib.compute_flow(frames, "tvl1")))
    error = np.linalg.norm(flow_lib.dequantize(stored) - opencv, axis=-1)
    assert error.mean() <= 0.25 and np.percentile(error, 95) <= 1.0, (error.mean(), error.max())
    assert np.linalg.norm(flow_lib.dequantize(stored), axis=-1).max() > 1.5  # The object moves.
