"""synthetic_motion: builds without inputs, deterministically, with real TV-L1 flow (FORMAT.md)."""
import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets import synthetic_motion  # noqa: E402
from datasets.common import video_builder  # noqa: E402
from i3d_tf.video import flow as flow_lib  # noqa: E402
from i3d_tf.video import synthetic  # noqa: E402

_TINY = dict(name="tiny", flow_method="tvl1_fast", num_train=8, num_test=8, num_frames=8,
             height=32, width=40)


def _build(tmp_path, num_workers, **overrides):
  config = synthetic_motion.SyntheticConfig(**{**_TINY, **overrides})
  builder = synthetic_motion.Builder(config=config, data_dir=str(tmp_path), num_workers=num_workers)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  return builder


def _records(builder, split):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(builder.data_path.glob(f"*-{split}.tfrecord-*"))
  return [r.numpy() for r in tf.data.TFRecordDataset([str(f) for f in files])]


def test_default_config_is_small_and_has_eight_motion_classes():
  builder_cls = synthetic_motion.Builder
  assert builder_cls.BUILDER_CONFIGS[0].name == "small"
  assert builder_cls.BUILDER_CONFIGS[0].flow_method in ("tvl1", "tvl1_fast")
  names = builder_cls(config="small", data_dir="/nonexistent").info.features["label"].names
  assert len(names) >= 8 and names == list(synthetic.CLASS_NAMES)


def test_builds_without_inputs_and_reads_back(tmp_path):
  builder = _build(tmp_path / "a", num_workers=2)
  info = builder.info
  assert info.splits["train"].num_examples == 8 and info.splits["test"].num_examples == 8
  assert info.metadata["flow_method"] == "tvl1_fast" and info.metadata["fps"] == 25.0
  examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
  assert sorted(int(e["label"]) for e in examples) == list(range(8))  # balanced: i mod 8
  for e in examples:
    assert e["rgb"].shape == (8, 32, 40, 3) and e["flow"].shape == (8, 32, 40, 3)
    assert np.all(e["flow"][..., 2] == 0)  # B = 0 (FORMAT.md)
    assert e["fps"] == 25.0 and e["end_s"] == pytest.approx(8 / 25.0)

  # The stored flow is the TV-L1 flow of the generated clip, quantized (PNG is lossless).
  e = next(x for x in examples if x["video_id"] == b"train_000003")
  frames = synthetic.make_video(3, synthetic_motion.video_seed(0, "train", 3), 8, 32, 40)
  expected = flow_lib.quantize(flow_lib.compute_flow(frames, "tvl1_fast"))
  np.testing.assert_array_equal(e["flow"][..., :2], expected)
  assert np.abs(flow_lib.dequantize(e["flow"][..., :2])).mean() > 0.2  # it moves
  # RGB is the clip up to JPEG loss (chroma subsampling blurs colour at 32x40), channels in order.
  stored, generated = e["rgb"].astype(float), frames.astype(float)
  np.testing.assert_allclose(stored.mean(axis=(1, 2)), generated.mean(axis=(1, 2)), atol=3)
  luma = np.array([0.299, 0.587, 0.114])
  assert np.abs(stored @ luma - generated @ luma).mean() < 5
  assert video_builder.read_skipped(builder.data_path) == []

  # What the training pipeline reads (i3d_tf/data/records.py, no TFDS): shards, classes, examples.
  from i3d_tf.data import records  # pylint: disable=g-import-not-at-top
  data_dir = str(tmp_path / "a")
  assert records.dataset_info(data_dir, "synthetic_motion/tiny") == (8, list(synthetic.CLASS_NAMES))
  assert records.num_examples(data_dir, "synthetic_motion/tiny", "test") == 8
  [shard] = records.list_shards(data_dir, "synthetic_motion/tiny", "train")
  parsed = records.parse_tfds_example(_records(builder, "train")[0])
  stored = next(x for x in examples if x["video_id"] == parsed["video_id"].numpy())
  np.testing.assert_allclose(records.decode_flow(parsed["flow"]).numpy(),
                             flow_lib.dequantize(stored["flow"][..., :2]) / 20.0, atol=1e-6)
  assert shard.endswith("synthetic_motion-train.tfrecord-00000-of-00001")


def test_build_is_deterministic_across_worker_counts(tmp_path):
  one = _build(tmp_path / "one", num_workers=0, num_train=8, num_test=1)
  two = _build(tmp_path / "two", num_workers=2, num_train=8, num_test=1)
  for split in ("train", "test"):
    assert _records(one, split) == _records(two, split)  # byte-identical shards
