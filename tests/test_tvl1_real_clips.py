"""tvl1_tf against OpenCV's DualTVL1 ('tvl1') on real clips at the release's preprocessing (issue
#11's agreement bound): mean endpoint error <= 0.25 px, 95th percentile <= 1.0 px after [-20, 20];
and the same bounds between the shards of a UCF-101-layout set built with each method."""
import cv2
import numpy as np
import pytest

from datasets import i3d_ucf101
from datasets.common import sample_trees
from datasets.i3d_ucf101.i3d_ucf101_dataset_builder import Ucf101Config
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import tvl1
from tests.conftest import shared_path

_CLIPS = ("clean_and_jerk.mp4", "flipping_a_pancake.mkv", "mmaction2_test.mp4",
          "skateboarding.mp4", "tai_chi.mp4", "v_ApplyEyeMakeup_g01_c01.avi")
_PAIRS_PER_CLIP = 2  # Pairs (t, t+1) at t = 3 and 9: 12 pairs from 6 clips.


@pytest.mark.slow
def test_tvl1_tf_agrees_with_opencv_on_real_clips(tmp_path):
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
  # Folded in here (one slow test, one TensorFlow TV-L1 per process and size): the same bounds
  # between whole builds, the tvl1_tf one with its flow in the build's process (device_flow.py).
  check_ucf101_builds_agree(tmp_path)


# Train and test entries of the real split files played by clips that move in their first second
# (at a 64-px shorter side tai_chi, clean_and_jerk and ApplyEyeMakeup move by under 0.07 px).
_UCF_CLIPS = {"SkateBoarding/v_SkateBoarding_g08_c01.avi": "skateboarding.mp4",
              "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": "mmaction2_test.mp4"}


def check_ucf101_builds_agree(tmp_path):
  """A UCF-101-layout set built with tvl1_tf and with tvl1 (shorter side 64, the first second):
  the 8-bit flow in the shards within the agreement bounds."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  manual = sample_trees.make_ucf101_tree(
      tmp_path / "manual", shared_path("testdata", "splits", "ucf101"),
      {rel: shared_path("testdata", "videos", src) for rel, src in _UCF_CLIPS.items()})
  flows = {}
  for method in ("tvl1_tf", "tvl1"):
    config = Ucf101Config(name=f"split1_{method}", split_number=1, flow_method=method,
                          shorter_side=64, max_seconds=1.0)
    builder = i3d_ucf101.Builder(config=config, data_dir=str(tmp_path / method), num_workers=2)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(manual), try_download_gcs=False))
    assert builder.info.metadata["flow_method"] == method
    flows[method] = {e["video_id"]: e["flow"][..., :2]
                     for split in ("train", "test")
                     for e in tfds.as_numpy(builder.as_dataset(split=split))}
  assert sorted(flows["tvl1_tf"]) == sorted(flows["tvl1"]) and len(flows["tvl1"]) == 2
  errors, magnitudes = [], []
  for key, opencv in flows["tvl1"].items():
    ours = flows["tvl1_tf"][key]
    assert ours.shape == opencv.shape and ours.shape[0] == 25 and min(ours.shape[1:3]) == 64
    opencv, ours = flow_lib.dequantize(opencv), flow_lib.dequantize(ours)
    errors.append(np.linalg.norm(ours - opencv, axis=-1).ravel())
    magnitudes.append(np.linalg.norm(opencv, axis=-1).ravel())
  error, magnitude = np.concatenate(errors), np.concatenate(magnitudes)
  summary = (f"UCF-101 layout, 2 clips x 25 frames at 64 px, shards: EPE mean "
             f"{error.mean():.4f} px, p95 {np.percentile(error, 95):.4f} px; mean OpenCV flow "
             f"{magnitude.mean():.2f} px")
  print(summary)
  assert magnitude.mean() > 0.5, summary  # The clips do move.
  assert error.mean() <= 0.25, summary
  assert np.percentile(error, 95) <= 1.0, summary
