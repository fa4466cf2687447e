"""Frame folders as videos (mmaction2's rawframes: img_00001.jpg ...): decoding, --input_fps,
listing, bad folders, and extract_features on them in a real process."""
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import runs
from i3d_tf.video import decode
from i3d_tf.video import listing
from tests import pretrained_fixtures as pf
from tests.conftest import REPO_ROOT


def _frames(num, size=(24, 32), seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (num,) + size + (3,), dtype=np.uint8)


def _frame_folder(folder, frames, numbers=None, ext="png"):
  """Writes uint8 RGB frames as img_00001.<ext> ... (PNG: lossless)."""
  folder.mkdir(parents=True)
  for number, frame in zip(numbers or range(1, len(frames) + 1), frames):
    cv2.imwrite(str(folder / f"img_{number:05d}.{ext}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  return str(folder)


def test_a_frame_folder_decodes_to_its_frames_sampled_by_input_fps(tmp_path):
  frames = _frames(10)
  folder = _frame_folder(tmp_path / "v", frames)
  np.testing.assert_array_equal(decode.read_video(folder, shorter_side=None), frames)
  # 50 fps frames read at 25 fps: every other one; 12.5 fps: each twice.
  np.testing.assert_array_equal(decode.read_video(folder, shorter_side=None, input_fps=50),
                                frames[::2])
  np.testing.assert_array_equal(decode.read_video(folder, shorter_side=None, input_fps=12.5),
                                np.repeat(frames, 2, axis=0))
  np.testing.assert_array_equal(  # frames at 0.2, 0.24 and 0.28 s
      decode.read_video(folder, shorter_side=None, start_s=0.2, end_s=0.3), frames[5:8])
  assert decode.read_video(folder, shorter_side=12).shape == (10, 12, 16, 3)


def test_bad_frame_folders_are_refused_naming_what_is_wrong(tmp_path):
  gap = _frame_folder(tmp_path / "gap", _frames(4), numbers=[1, 2, 4, 5])
  with pytest.raises(decode.VideoDecodeError, match=r"frame 3 \(img_00003\) is missing"):
    decode.iter_frames(gap)  # before any frame is yielded
  mixed = _frame_folder(tmp_path / "mixed", _frames(3))
  cv2.imwrite(str(tmp_path / "mixed" / "img_00004.png"), np.zeros((10, 10, 3), np.uint8))
  with pytest.raises(decode.VideoDecodeError, match="mixed sizes: img_00004.png is 10x10, "
                                                    "img_00001.png 32x24"):
    decode.read_video(mixed)
  with pytest.raises(ValueError, match="input_fps must be positive"):
    decode.iter_frames(mixed, input_fps=0)
  (tmp_path / "empty").mkdir()
  with pytest.raises(decode.VideoDecodeError, match="not a video file nor a frame folder"):
    decode.read_video(str(tmp_path / "empty"))


def test_videos_flag_finds_frame_folders_in_a_rawframes_tree(tmp_path):
  for name in ("rawframes/a/v1", "rawframes/a/v2", "rawframes/b/v1"):
    _frame_folder(tmp_path / name, _frames(2))
  (tmp_path / "rawframes" / "b" / "clip.mp4").write_bytes(b"")
  keys = [k for _, k in listing.list_videos([str(tmp_path / "rawframes")])]
  assert keys == ["a/v1", "a/v2", "b/clip.mp4", "b/v1"]
  one = listing.list_videos([str(tmp_path / "rawframes" / "a" / "v2")])
  assert [k for _, k in one] == ["v2"]
  assert [k for _, k in listing.list_videos([str(tmp_path / "rawframes" / "*" / "v1")])] == [
      "a/v1", "b/v1"]


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
  return pf.imported_folder(tmp_path_factory.mktemp("frame_folders"))


def test_extract_features_of_frame_folders_equal_the_model_and_a_bad_folder_is_skipped(
    rgb_folder, tmp_path):
  frames = _frames(12, size=(256, 320), seed=1)  # shorter side 256 already: no resize
  root = tmp_path / "rawframes"
  _frame_folder(root / "good", frames, ext="png")
  _frame_folder(root / "gap", _frames(3, size=(256, 320)), numbers=[1, 2, 5])
  out = tmp_path / "features"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.extract_features", f"--model_dir={rgb_folder}",
       f"--videos={root}", f"--output_dir={out}", "--window=6", "--stride=6", "--input_fps=50",
       "--endpoint=Logits", "--output_format=npz"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  got = np.load(out / "good.npz")
  # 12 frames at 50 fps read at 25 fps: frames 0, 2, ..., 10 -> one window of 6.
  assert got["features"].shape == (1, len(pf.CLASSES))
  assert got["start_frame"].tolist() == [0] and got["end_frame"].tolist() == [6]
  model, _ = runs.load_run(str(rgb_folder))
  expected = model(tf.constant(pf.centre_crop_scaled(frames[::2], pf.CROP)[None]),
                   training=False).numpy()[0]
  np.testing.assert_allclose(got["features"][0], expected, rtol=1e-4, atol=1e-5)
  skipped = (out / "skipped.tsv").read_text().splitlines()[1:]
  assert len(skipped) == 1 and skipped[0].startswith("gap\t")
  assert "frame 3 (img_00003) is missing" in skipped[0]
  assert not (out / "gap.npz").exists()
