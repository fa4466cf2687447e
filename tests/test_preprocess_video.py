"""preprocess_video: the release's sample-file form from any video."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from experiments import preprocess_video
from i3d_tf.video import flow as flow_lib
from tests.conftest import REPO_ROOT, shared_path


def _moving_texture_video(path, num_frames, dx=2, size=(64, 80)):
  """An MJPG video of a smooth texture moving dx px per frame to the right."""
  height, width = size
  noise = np.random.default_rng(0).uniform(0, 255, (height, width + dx * num_frames + 8))
  texture = cv2.GaussianBlur(noise.astype(np.float32), (0, 0), 2.0)
  texture = ((texture - texture.min()) / np.ptp(texture) * 255).astype(np.uint8)
  start = dx * num_frames
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
  for t in range(num_frames):
    frame = texture[:, start - dx * t:start - dx * t + width]
    writer.write(np.repeat(frame[..., None], 3, axis=-1))
  writer.release()
  return path


def test_shapes_ranges_and_the_last_flow_frame(tmp_path):
  video = _moving_texture_video(tmp_path / "moving.avi", 8)
  rgb, flow = preprocess_video.preprocess(video, num_frames=5, flow_method="tvl1_fast",
                                          shorter_side=64, crop_size=48)
  assert rgb.shape == (1, 5, 48, 48, 3) and flow.shape == (1, 5, 48, 48, 2)
  assert rgb.dtype == flow.dtype == np.float32
  assert -1 <= rgb.min() < rgb.max() <= 1 and -1 <= flow.min() <= flow.max() <= 1
  inside = flow[0, :, 8:-8, 8:-8] * flow_lib.FLOW_BOUND  # Pixels.
  # Every frame, the last included, moves +2 px in x: the video goes on, so the last flow frame
  # is computed from the real next frame (not repeated).
  assert np.all(np.abs(np.median(inside[..., 0], axis=(1, 2)) - 2.0) < 0.4)
  assert not np.array_equal(flow[0, 4], flow[0, 3])
  # At the video's end the last flow frame repeats the one before.
  _, flow_to_end = preprocess_video.preprocess(video, start_s=5 / 25, flow_method="tvl1_fast",
                                               shorter_side=64, crop_size=48)
  assert flow_to_end.shape[1] == 3
  np.testing.assert_array_equal(flow_to_end[0, 2], flow_to_end[0, 1])
  # A span: [0.08, 0.2) s holds frames 2, 3, 4.
  rgb_span, no_flow = preprocess_video.preprocess(video, start_s=0.08, end_s=0.2,
                                                  flow_method="none", shorter_side=64, crop_size=48)
  np.testing.assert_array_equal(rgb_span[0], rgb[0, 2:5])
  assert no_flow is None  # --flow_method=none computes and writes no flow


def test_flow_method_none_writes_no_flow_file(tmp_path):
  video = _moving_texture_video(tmp_path / "moving.avi", 4)
  result = subprocess.run(
      [sys.executable, "-m", "experiments.preprocess_video", f"--video={video}",
       f"--output_dir={tmp_path / 'out'}", "--flow_method=none", "--shorter_side=64",
       "--crop_size=48"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["moving_rgb.npy"]


def test_binary_on_a_real_clip(tmp_path):
  video = shared_path("testdata", "videos", "tai_chi.mp4")
  result = subprocess.run(
      [sys.executable, "-m", "experiments.preprocess_video", f"--video={video}",
       f"--output_dir={tmp_path}", "--start_s=1.0", "--frames=4", "--flow_method=tvl1_fast"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  rgb = np.load(tmp_path / "tai_chi_rgb.npy")
  flow = np.load(tmp_path / "tai_chi_flow.npy")
  # The release's sample form: [1, T, 224, 224, C] float32 in [-1, 1].
  assert rgb.shape == (1, 4, 224, 224, 3) and flow.shape == (1, 4, 224, 224, 2)
  assert rgb.dtype == flow.dtype == np.float32
  assert -1.0 <= rgb.min() and rgb.max() <= 1.0 and rgb.std() > 0.1
  assert -1.0 <= flow.min() and flow.max() <= 1.0 and np.abs(flow).max() > 0


def test_bad_arguments(tmp_path):
  video = _moving_texture_video(tmp_path / "moving.avi", 3)
  with pytest.raises(ValueError, match="smaller than the 224x224 crop"):
    preprocess_video.preprocess(video, shorter_side=64, flow_method="none")
  with pytest.raises(ValueError, match="--frames must be >= 1"):
    preprocess_video.preprocess(video, num_frames=0)


def test_a_folder_or_a_missing_file_is_named_without_a_traceback(tmp_path):
  for video, problem in ((tmp_path, "is a folder, not a video file"),
                         (tmp_path / "missing.mp4", "no such file")):
    result = subprocess.run(
        [sys.executable, "-m", "experiments.preprocess_video", f"--video={video}",
         f"--output_dir={tmp_path / 'out'}"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"--video={video}: {video}: {problem}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
