"""records.py on real TFDS-built shards (FORMAT.md section 2): layout, class names, parsing, decoding."""
import os
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from i3d_tf.data import records
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import synthetic

CLASS_NAMES = ("left", "right", "still")
NUM_FRAMES, SIZE = 4, 32


def _png_flow(flow):
  images = flow_lib.to_image(flow)  # [T, H, W, 3] R = x, G = y, B = 0.
  return [cv2.imencode(".png", np.ascontiguousarray(im[..., ::-1]))[1].tobytes() for im in images]


def _luma(frames):
  return frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _correlation(a, b):
  return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


def _video(index):
  frames = synthetic.make_video(index % synthetic.NUM_CLASSES, index, NUM_FRAMES, SIZE, SIZE)
  return frames, flow_lib.compute_flow(frames, "tvl1_fast")


class TinyVideos(tfds.core.GeneratorBasedBuilder):
  """A TFDS builder with FORMAT.md section 2's features, as the builders in datasets/ write them."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "video_id": tfds.features.Text(),
        "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
        "rgb": tfds.features.Video(shape=(None, None, None, 3), encoding_format="jpeg"),
        "flow": tfds.features.Video(shape=(None, None, None, 3), encoding_format="png"),
        "start_s": tfds.features.Scalar(np.float32),
        "end_s": tfds.features.Scalar(np.float32),
        "fps": tfds.features.Scalar(np.float32),
        "flow_method": tfds.features.Text(),
        "flow_offset": tfds.features.Scalar(np.float32),
        "flow_scale": tfds.features.Scalar(np.float32),
    }))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(range(3)), "test": self._generate_examples([7])}

  def _generate_examples(self, indices):
    for i in indices:
      frames, flow = _video(i)
      yield f"video{i}", {
          "video_id": f"video{i}", "label": i % 3, "rgb": frames, "flow": _png_flow(flow),
          "start_s": np.float32(i), "end_s": np.float32(i + NUM_FRAMES / 25), "fps": 25.0,
          "flow_method": "tvl1_fast", "flow_offset": flow_lib.FLOW_OFFSET,
          "flow_scale": flow_lib.FLOW_SCALE}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  directory = tmp_path_factory.mktemp("tfds")
  TinyVideos(data_dir=str(directory)).download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  return str(directory)


def _read(data_dir, split):
  dataset = tf.data.TFRecordDataset(records.list_shards(data_dir, "tiny_videos", split))
  return list(dataset.map(records.parse_tfds_example).as_numpy_iterator())


def test_layout_and_class_names(data_dir):
  shards = records.list_shards(data_dir, "tiny_videos", "train")
  assert shards and all(os.path.isfile(s) for s in shards)
  assert all(os.path.basename(s).startswith("tiny_videos-train.tfrecord-") for s in shards)
  assert records.list_shards(data_dir, "tiny_videos:1.0.0", "test")
  assert records.dataset_info(data_dir, "tiny_videos") == (3, list(CLASS_NAMES))
  assert records.num_examples(data_dir, "tiny_videos", "train") == 3
  with pytest.raises(ValueError, match="no split 'validation'.*'test', 'train'"):
    records.list_shards(data_dir, "tiny_videos", "validation")
  with pytest.raises(FileNotFoundError, match="no dataset 'absent'"):
    records.list_shards(data_dir, "absent", "train")
  with pytest.raises(FileNotFoundError, match="version 2.0.0"):
    records.list_shards(data_dir, "tiny_videos:2.0.0", "train")


def test_configs_and_missing_shards(data_dir, tmp_path):
  # The same build under two config folders: a name without config is ambiguous.
  for config in ("small", "large"):
    shutil.copytree(os.path.join(data_dir, "tiny_videos"),
                    os.path.join(tmp_path, "tiny_videos", config))
  assert records.list_shards(tmp_path, "tiny_videos/small", "train")[0].startswith(
      os.path.join(str(tmp_path), "tiny_videos", "small", "1.0.0"))
  with pytest.raises(ValueError, match=r"several configs \['large', 'small'\]"):
    records.list_shards(tmp_path, "tiny_videos", "train")
  shutil.rmtree(os.path.join(tmp_path, "tiny_videos", "large"))
  shards = records.list_shards(tmp_path, "tiny_videos", "train")  # The only config.
  os.remove(shards[0])
  with pytest.raises(FileNotFoundError, match="missing"):
    records.list_shards(tmp_path, "tiny_videos", "train")


def test_parse_and_decode_match_what_was_stored(data_dir):
  examples = {e["video_id"].decode(): e for e in _read(data_dir, "train")}
  assert sorted(examples) == ["video0", "video1", "video2"]
  for i in range(3):
    example = examples[f"video{i}"]
    frames, flow = _video(i)
    assert example["label"] == i % 3 and example["num_frames"] == NUM_FRAMES
    assert example["rgb"].shape == (NUM_FRAMES,) and example["flow"].shape == (NUM_FRAMES,)
    assert example["has_flow"] and example["start_s"] == i
    rgb = records.decode_rgb(example["rgb"]).numpy()
    assert rgb.shape == frames.shape and rgb.dtype == np.uint8
    # JPEG: close, not equal. It keeps luma nearly intact, but its 4:2:0 chroma subsampling blurs
    # the synthetic set's colour-noise textures (RGB correlation ~0.78 at 32 px): luma tells the
    # right frames in the right order, RGB the right channel order.
    assert _correlation(_luma(rgb), _luma(frames)) > 0.98
    assert _correlation(rgb, frames) > 0.7
    decoded_flow = records.decode_flow(example["flow"], example["flow_offset"],
                                       example["flow_scale"]).numpy()
    assert decoded_flow.shape == flow.shape and decoded_flow.dtype == np.float32
    # PNG is lossless: exactly the quantized flow, in [-1, 1].
    np.testing.assert_allclose(decoded_flow, flow_lib.dequantize(flow_lib.quantize(flow)) / 20,
                               atol=1e-6)
    assert np.abs(decoded_flow).max() <= 1.0


def test_agrees_with_tfds_own_reader(data_dir):
  ours = {e["video_id"]: e for e in _read(data_dir, "train")}
  builder = tfds.builder_from_directory(records.dataset_dir(data_dir, "tiny_videos"))
  for example in builder.as_dataset(split="train").as_numpy_iterator():
    mine = ours[example["video_id"]]
    np.testing.assert_array_equal(records.decode_rgb(mine["rgb"]).numpy(), example["rgb"])
    np.testing.assert_array_equal(
        records.decode_flow(mine["flow"]).numpy(),
        flow_lib.from_image(example["flow"]) / 20)
    assert mine["label"] == example["label"]


def test_decodes_only_the_gathered_frames_in_a_pipeline(data_dir):
  def sample(example):
    indices = tf.constant([1, 3])
    return records.decode_rgb(tf.gather(example["rgb"], indices)), records.decode_flow(
        tf.gather(example["flow"], indices)), example["label"]
  dataset = tf.data.TFRecordDataset(records.list_shards(data_dir, "tiny_videos", "train"))
  for rgb, flow, label in dataset.map(records.parse_tfds_example).map(sample).take(2):
    assert rgb.shape == (2, SIZE, SIZE, 3) and flow.shape == (2, SIZE, SIZE, 2)
    assert flow.dtype == tf.float32 and label.dtype == tf.int64
