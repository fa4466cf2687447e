"""tvl1_tf against OpenCV's DualTVL1 ('tvl1') on real clips at the release's preprocessing (issue
#11's agreement bound): mean endpoint error <= 0.25 px, 95th percentile <= 1.0 px after [-20, 20]."""
import cv2
import numpy as np
import pytest

from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import tvl1
from tests.conftest import shared_path

_CLIPS = ("clean_and_jerk.mp4", "flipping_a_pancake.mkv", "mmaction2_test.mp4",
          "skateboarding.mp4", "tai_chi.mp4", "v_ApplyEyeMakeup_g01_c01.avi")
_PAIRS_PER_CLIP = 2  # Pairs (t, t+1) at t = 3 and 9: 12 pairs from 6 clips.


@pytest.mark.slow
def test_tvl1_tf_agrees_with_opencv_on_real_clips():
  videos = shared_path("testdata", "videos")
  by_shape = {}  # (H, W) -> [(frame t, frame t+1)] gray uint8
  for name in _CLIPS:
    frames = decode.read_video(str(videos / name), fps=25, end_s=0.5, shorter_side=256)
    gray = flow_lib.to_gray(frames)
    assert gray.shape[0] >= 11 and min(gray.shape[1:]) == 256, (name, gray.shape)
    for t in (3, 9)[:_PAIRS_PER_CLIP]:
      by_shape.setdefault(gray.shape[1:], []).append((gray[t], gray[t + 1]))
  flow_fn = tvl1.TVL1()
  errors, magnitudes = [], []
  for pairs in by_shape.values():
    ours = flow_fn(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])).numpy()
    for (frame0, frame1), mine in zip(pairs, ours):
      theirs = cv2.optflow.DualTVL1OpticalFlow_create().calc(frame0, frame1, None)
      bound = flow_lib.FLOW_BOUND
      theirs, mine = np.clip(theirs, -bound, bound), np.clip(mine, -bound, bound)
      errors.append(np.linalg.norm(mine - theirs, axis=-1).ravel())
      magnitudes.append(np.linalg.norm(theirs, axis=-1).mean())
  assert len(errors) == len(_CLIPS) * _PAIRS_PER_CLIP
  error = np.concatenate(errors)
  summary = (f"{len(errors)} pairs: EPE mean {error.mean():.4f} px, p95 "
             f"{np.percentile(error, 95):.4f} px, max {error.max():.2f} px; mean OpenCV flow "
             f"{np.mean(magnitudes):.2f} px")
  print(summary)
  assert np.mean(magnitudes) > 0.5, summary  # The pairs do move.
  assert error.mean() <= 0.25, summary
  assert np.percentile(error, 95) <= 1.0, summary
