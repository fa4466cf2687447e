"""A synthetic_motion build with flow_method='tvl1_tf': end to end, its flow as compute_flow's and
within the agreement bounds of the same clips' OpenCV 'tvl1' flow."""
import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets import synthetic_motion  # noqa: E402
from i3d_tf.video import flow as flow_lib  # noqa: E402
from i3d_tf.video import synthetic  # noqa: E402

# One frame size for both tests: the TensorFlow TV-L1 is traced once per process and size.
_TINY = dict(name="tiny_tf", flow_method="tvl1_tf", num_train=2, num_test=1, num_frames=3,
             height=24, width=32)


def test_synthetic_build_with_tvl1_tf(tmp_path):
  config = synthetic_motion.SyntheticConfig(**_TINY)
  builder = synthetic_motion.Builder(config=config, data_dir=str(tmp_path), num_workers=0)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  assert builder.info.metadata["flow_method"] == "tvl1_tf"
  assert "TensorFlow" in builder.info.metadata["flow_settings"]
  examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
  assert len(examples) == 2
  for e in examples:
    index = int(e["video_id"].decode().rsplit("_", 1)[1])
    frames = synthetic.make_video(int(e["label"]), synthetic_motion.video_seed(0, "train", index),
                                  _TINY["num_frames"], _TINY["height"], _TINY["width"])
    stored = e["flow"][..., :2]
    np.testing.assert_array_equal(stored, flow_lib.quantize(flow_lib.compute_flow(frames,
                                                                                  "tvl1_tf")))
    opencv = flow_lib.dequantize(flow_lib.quantize(flow_lib.compute_flow(frames, "tvl1")))
    error = np.linalg.norm(flow_lib.dequantize(stored) - opencv, axis=-1)
    assert error.mean() <= 0.25 and np.percentile(error, 95) <= 1.0, (error.mean(), error.max())
    assert np.linalg.norm(flow_lib.dequantize(stored), axis=-1).max() > 1.5  # The object moves.


def test_beam_build_with_tvl1_tf_equals_local(tmp_path):
  """The Beam path (its DoFn builds the TensorFlow TV-L1 once per worker in setup) writes the
  local build's flow."""
  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
  config = synthetic_motion.SyntheticConfig(**_TINY)
  flows = {}
  for kind in ("local", "beam"):
    builder = synthetic_motion.Builder(config=config, data_dir=str(tmp_path / kind),
                                       num_workers=0)
    options = {"beam_options": pipeline_options.PipelineOptions(["--runner=DirectRunner"])}
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        try_download_gcs=False, **(options if kind == "beam" else {})))
    flows[kind] = {e["video_id"]: e["flow"]
                   for e in tfds.as_numpy(builder.as_dataset(split="train"))}
  assert sorted(flows["beam"]) == sorted(flows["local"]) and len(flows["local"]) == 2
  for key, flow in flows["local"].items():
    np.testing.assert_array_equal(flows["beam"][key], flow)
