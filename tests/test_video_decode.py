"""read_video: 25 fps by timestamp, shorter side 256, trimming, real clips, bad files."""
import math
import pickle

import cv2
import numpy as np
import pytest

from i3d_tf.video import decode
from tests.conftest import shared_path

_LEVEL_STEP = 4  # Fixture frame i is uniformly gray at i * _LEVEL_STEP.


def _write_index_video(path, num_frames, fps, fourcc="MJPG", size=(48, 64)):
  """A video whose frame i is uniformly gray at level 4*i, so a decoded frame names its source."""
  height, width = size
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
  assert writer.isOpened(), f"cv2 cannot write {path} with {fourcc}"
  for i in range(num_frames):
    writer.write(np.full((height, width, 3), i * _LEVEL_STEP, np.uint8))
  writer.release()
  return path


def _source_indices(frames):
  return np.rint(frames.reshape(len(frames), -1).mean(axis=1) / _LEVEL_STEP).astype(int)


@pytest.mark.parametrize("native_fps", [30.0, 25.0, 10.0])
def test_resamples_by_timestamp(tmp_path, native_fps):
  path = _write_index_video(tmp_path / "index.avi", 40, native_fps)
  frames = decode.read_video(path, shorter_side=None)
  duration = 40 / native_fps
  assert len(frames) == math.ceil(duration * 25 - 1e-9)
  expected = [math.floor(k * native_fps / 25 + 1e-6) for k in range(len(frames))]
  np.testing.assert_array_equal(_source_indices(frames), expected)


def test_trimming_selects_the_span(tmp_path):
  path = _write_index_video(tmp_path / "index.avi", 60, 30.0)
  frames = decode.read_video(path, start_s=0.4, end_s=1.2, shorter_side=None)
  assert len(frames) == 20  # 0.8 s at 25 fps.
  expected = [math.floor((0.4 + k / 25) * 30 + 1e-6) for k in range(20)]
  np.testing.assert_array_equal(_source_indices(frames), expected)


def test_fps_none_keeps_every_frame_and_end_past_the_video_is_fine(tmp_path):
  path = _write_index_video(tmp_path / "index.avi", 17, 30.0)
  frames = decode.read_video(path, fps=None, end_s=100.0, shorter_side=None)
  np.testing.assert_array_equal(_source_indices(frames), np.arange(17))


@pytest.mark.parametrize("name,fourcc", [("v.webm", "VP80"), ("v.mkv", "MJPG"), ("v.mp4", "mp4v")])
def test_containers(tmp_path, name, fourcc):
  path = _write_index_video(tmp_path / name, 10, 25.0, fourcc=fourcc, size=(40, 80))
  frames = decode.read_video(path, shorter_side=32)
  assert frames.shape == (10, 32, 64, 3) and frames.dtype == np.uint8


def test_resize_keeps_aspect_and_is_configurable():
  assert decode.resized_shape(240, 320, 256) == (256, 341)
  assert decode.resized_shape(640, 360, 256) == (455, 256)  # Portrait: width is the shorter.
  assert decode.resized_shape(256, 340, 256) == (256, 340)
  assert decode.resized_shape(240, 320, None) == (240, 320)


def test_rgb_channel_order(tmp_path):
  path = tmp_path / "red.avi"
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 32))
  for _ in range(3):
    writer.write(np.tile(np.array([0, 0, 255], np.uint8), (32, 32, 1)))  # BGR red.
  writer.release()
  frames = decode.read_video(path, shorter_side=None).astype(int)
  assert frames[..., 0].mean() > 200 and frames[..., 2].mean() < 50


@pytest.mark.parametrize("name,shape", [
    ("v_ApplyEyeMakeup_g01_c01.avi", (164, 256, 341, 3)),  # 25 fps, 164 frames, 320x240.
    ("mmaction2_test.mp4", (250, 256, 340, 3)),            # 30 fps, 300 frames: 10.0 s.
    ("clean_and_jerk.mp4", (251, 256, 340, 3)),            # 29.97 fps, 300 frames: 10.01 s.
    ("flipping_a_pancake.mkv", (259, 256, 454, 3)),        # 30 fps, 310 frames: 10.33 s.
])
def test_real_clips(name, shape):
  frames = decode.read_video(shared_path("testdata", "videos", name))
  assert frames.shape == shape and frames.dtype == np.uint8
  assert frames.std() > 10  # Real pictures, not blank frames.


def test_lying_header_counts_what_decodes():
  path = shared_path("testdata", "videos", "flipping_a_pancake.mkv")
  assert decode.video_properties(path)["frame_count"] == 311
  assert len(decode.read_video(path, fps=None, shorter_side=64)) == 310


def test_real_clip_trimmed_equals_the_slice_of_the_whole():
  path = shared_path("testdata", "videos", "tai_chi.mp4")
  whole = decode.read_video(path, shorter_side=64)
  part = decode.read_video(path, start_s=2.0, end_s=4.0, shorter_side=64)
  assert len(part) == 50
  np.testing.assert_array_equal(part, whole[50:100])


def test_bad_files(tmp_path):
  with pytest.raises(decode.VideoDecodeError, match="no such file"):
    decode.read_video(tmp_path / "missing.mp4")
  text = tmp_path / "notes.mp4"
  text.write_text("not a video")
  with pytest.raises(decode.VideoDecodeError, match="notes.mp4"):
    decode.read_video(text)
  video = _write_index_video(tmp_path / "index.avi", 10, 25.0)
  with pytest.raises(decode.VideoDecodeError, match="no frame decodes"):
    decode.read_video(video, start_s=5.0)


def test_truncated_file_is_an_error(tmp_path):
  source = shared_path("testdata", "videos", "v_ApplyEyeMakeup_g01_c01.avi")
  data = source.read_bytes()
  truncated = tmp_path / "truncated.avi"
  truncated.write_bytes(data[:len(data) // 2])
  with pytest.raises(decode.VideoDecodeError, match="truncated"):
    decode.read_video(truncated, shorter_side=64)
  # Its first second still decodes: trimming inside the readable part is fine.
  assert len(decode.read_video(truncated, end_s=1.0, shorter_side=64)) == 25


def test_error_names_the_file_and_pickles():
  error = decode.VideoDecodeError("/videos/a.mp4", "no frame decodes")
  assert str(error) == "/videos/a.mp4: no frame decodes"
  copy = pickle.loads(pickle.dumps(error))
  assert (copy.path, copy.reason, str(copy)) == (error.path, error.reason, str(error))
