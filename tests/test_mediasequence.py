"""MediaSequence SequenceExamples as Google's preprocessing writes them, read by records.py."""
import cv2
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.data import mediasequence
from i3d_tf.data import records
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import synthetic


def _jpeg(image_rgb, quality=100):
  return cv2.imencode(".jpg", np.ascontiguousarray(image_rgb[..., ::-1]),
                      [int(cv2.IMWRITE_JPEG_QUALITY), quality])[1].tobytes()


def _png(image_rgb):
  return cv2.imencode(".png", np.ascontiguousarray(image_rgb[..., ::-1]))[1].tobytes()


def _hand_built(frames, flow_images, context_extra=None):
  """A SequenceExample built key by key with the literal MediaSequence key strings (not our
  writer), the way MediaPipe's PackMediaSequenceCalculator lays one out."""
  example = tf.train.SequenceExample()
  context = example.context.feature
  context["example/id"].bytes_list.value.append(b"abc123_000010_000020")
  context["clip/data_path"].bytes_list.value.append(b"train/abc123.mp4")
  context["clip/start/timestamp"].int64_list.value.append(10_000_000)
  context["clip/end/timestamp"].int64_list.value.append(20_000_000)
  context["clip/label/index"].int64_list.value.extend([42])
  context["clip/label/string"].bytes_list.value.append(b"tai chi")
  context["image/format"].bytes_list.value.append(b"JPEG")
  context["image/height"].int64_list.value.append(frames.shape[1])
  context["image/width"].int64_list.value.append(frames.shape[2])
  context["image/frame_rate"].float_list.value.append(25.0)
  for key, value in (context_extra or {}).items():
    context[key].CopyFrom(value)
  lists = example.feature_lists.feature_list
  for t, frame in enumerate(frames):
    lists["image/encoded"].feature.add().bytes_list.value.append(_jpeg(frame))
    lists["image/timestamp"].feature.add().int64_list.value.append(10_000_000 + 40_000 * t)
  for t, image in enumerate(flow_images):
    lists["FORWARD_FLOW/image/encoded"].feature.add().bytes_list.value.append(image)
    lists["FORWARD_FLOW/image/timestamp"].feature.add().int64_list.value.append(
        10_000_000 + 40_000 * t)
  return example


def _video():
  frames = synthetic.make_video("translate_right", 3, 5, 32, 32)
  return frames, flow_lib.compute_flow(frames, "tvl1_fast")


def test_keys_are_mediapipes():
  assert mediasequence.IMAGE_ENCODED_KEY == "image/encoded"
  assert mediasequence.FORWARD_FLOW_ENCODED_KEY == "FORWARD_FLOW/image/encoded"
  assert mediasequence.CLIP_LABEL_INDEX_KEY == "clip/label/index"
  assert mediasequence.CLIP_START_TIMESTAMP_KEY == "clip/start/timestamp"
  assert mediasequence.IMAGE_FRAME_RATE_KEY == "image/frame_rate"
  assert mediasequence.EXAMPLE_ID_KEY == "example/id"


def test_reads_a_mediapipe_layout_example():
  frames, flow = _video()
  flow_images = [_png(mediasequence.mediapipe_flow_image(f)) for f in flow[:-1]]  # T-1 frames.
  serialized = _hand_built(frames, flow_images).SerializeToString()
  parsed = {k: v.numpy() for k, v in records.parse_mediasequence_example(serialized).items()}
  assert parsed["label"] == 42 and parsed["video_id"] == b"abc123_000010_000020"
  assert parsed["num_frames"] == 5 and parsed["has_flow"]
  assert parsed["rgb"].shape == (5,) and parsed["flow"].shape == (5,)
  assert parsed["flow"][4] == parsed["flow"][3]  # Padded to T by repeating the last frame.
  assert parsed["start_s"] == 10.0 and parsed["end_s"] == 20.0 and parsed["fps"] == 25.0
  rgb = records.decode_rgb(parsed["rgb"]).numpy()
  assert rgb.shape == (5, 32, 32, 3)
  # JPEG keeps luma nearly intact; its chroma subsampling blurs the colour-noise textures.
  luma = lambda x: x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # pylint: disable=unnecessary-lambda-assignment
  assert np.corrcoef(luma(rgb).ravel(), luma(frames).ravel())[0, 1] > 0.98
  assert np.corrcoef(rgb.ravel(), frames.ravel())[0, 1] > 0.7
  decoded = records.decode_flow(parsed["flow"]).numpy() * 20  # Back to pixels.
  assert decoded.shape == (5, 32, 32, 2)
  # Truncated levels read at their bin centres: within half a level, unbiased.
  assert np.abs(decoded[:4] - flow[:4]).max() <= flow_lib.FLOW_SCALE / 2 + 1e-4
  assert abs((decoded[:4] - flow[:4]).mean()) < 0.02


def test_zero_motion_reads_as_zero_not_minus_0078():
  zero = np.zeros((2, 8, 8, 2), np.float32)
  image = mediasequence.mediapipe_flow_image(zero[0])
  assert (image[..., :2] == 127).all() and (image[..., 2] == 0).all()
  assert 127 * 40 / 255 - 20 == pytest.approx(-0.078, abs=1e-3)  # MediaPipe's naive inverse.
  frames = np.zeros((2, 8, 8, 3), np.uint8)
  serialized = _hand_built(frames, [_png(image)]).SerializeToString()
  parsed = records.parse_mediasequence_example(serialized)
  assert not records.decode_flow(parsed["flow"]).numpy().any()


def test_optional_fields():
  frames, _ = _video()
  example = _hand_built(frames, [])
  del example.context.feature["clip/label/index"]
  del example.context.feature["example/id"]
  parsed = records.parse_mediasequence_example(example.SerializeToString())
  assert parsed["label"].numpy() == -1
  assert parsed["video_id"].numpy() == b"train/abc123.mp4"
  assert not parsed["has_flow"].numpy() and parsed["flow"].shape == (5,)


def test_writer_round_trip_in_a_dataset(tmp_path):
  frames, flow = _video()
  path = str(tmp_path / "ms.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    for label, mediapipe_flow in ((3, True), (5, False)):
      example = mediasequence.make_sequence_example(
          frames, flow, label=label, label_string="x", video_id=f"v{label}", start_s=1.5,
          flow_format="PNG", mediapipe_flow=mediapipe_flow)
      writer.write(example.SerializeToString())
  examples = list(tf.data.TFRecordDataset(path).map(records.parse_mediasequence_example))
  assert [int(e["label"]) for e in examples] == [3, 5]
  for e in examples:
    assert int(e["num_frames"]) == 5 and float(e["start_s"]) == 1.5
    assert float(e["end_s"]) == pytest.approx(1.5 + 5 / 25)
    decoded = records.decode_flow(e["flow"]).numpy() * 20
    np.testing.assert_allclose(decoded[:4], flow[:4], atol=flow_lib.FLOW_SCALE / 2 + 1e-4)
  # Rounding writer (ours): the exact quantized flow, all T frames.
  ours = records.decode_flow(examples[1]["flow"]).numpy() * 20
  np.testing.assert_allclose(ours, flow_lib.dequantize(flow_lib.quantize(flow)), atol=1e-5)
  raw = tf.train.SequenceExample.FromString(next(iter(tf.data.TFRecordDataset(path))).numpy())
  assert len(raw.feature_lists.feature_list["FORWARD_FLOW/image/encoded"].feature) == 4
  assert raw.context.feature["clip/label/string"].bytes_list.value == [b"x"]
