"""experiments.classify on a real clip with an imported release-layout model folder."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import runs
from i3d_tf.evaluation import classify
from i3d_tf.video import decode
from tests import pretrained_fixtures as pf
from tests.conftest import REPO_ROOT, shared_path

FRAMES = 12


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
  return pf.imported_folder(tmp_path_factory.mktemp("classify"))


def _expected_top(folder, video, k):
  """The model's top-k on the clip's first FRAMES frames, decoded and scaled in this test."""
  frames = decode.read_video(video)[:FRAMES]
  model, _ = runs.load_run(str(folder))
  logits = model(tf.constant(pf.centre_crop_scaled(frames, pf.CROP)[None]), training=False)
  logits = logits.numpy()[0]
  probabilities = tf.nn.softmax(logits).numpy()
  order = np.argsort(-probabilities)[:k]
  return [(pf.CLASSES[i], probabilities[i]) for i in order]


@pytest.mark.slow
def test_top_k_equals_the_model_on_the_same_frames(rgb_folder, tmp_path):
  video = shared_path("testdata", "videos", "v_ApplyEyeMakeup_g01_c01.avi")
  out = tmp_path / "labels.json"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.classify", f"--model_dir={rgb_folder}",
       f"--videos={video}", "--top_k=3", f"--max_frames={FRAMES}", f"--json={out}"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  got = json.loads(out.read_text())["videos"][0]
  assert got["frames"] == FRAMES and got["views"] == 1
  expected = _expected_top(rgb_folder, str(video), 3)
  assert [r["class"] for r in got["top_k"]] == [name for name, _ in expected]
  np.testing.assert_allclose([r["probability"] for r in got["top_k"]],
                             [p for _, p in expected], rtol=1e-4, atol=1e-6)
  assert expected[0][0] in result.stdout  # printed per video
  # Progress as it happens: a first line before the model loads, each video when it starts, then
  # its frames, views and seconds.
  lines = result.stdout.splitlines()
  assert lines[0] == f"classify: 1 video, 1 clip x 1 crop = 1 view each; loading {rgb_folder}"
  assert lines[1] == f"[1/1] {video}"
  assert re.fullmatch(rf"  {FRAMES} frames, 1 clip x 1 crop = 1 view, \d+\.\d s", lines[2]), lines


def test_views_and_progress_lines_read_right_for_every_clips_and_crops_count():
  assert classify.views_text(1, 1) == "1 clip x 1 crop = 1 view"
  assert classify.views_text(1, 3) == "1 clip x 3 crops = 3 views"
  assert classify.views_text(4, 1) == "4 clips x 1 crop = 4 views"
  assert classify.views_text(4, 3) == "4 clips x 3 crops = 12 views"
  assert classify.video_done_text(250, 12, 4, 3, 41.23) == (
      "250 frames, 4 clips x 3 crops = 12 views, 41.2 s")
  # A video too short for the clips asked (clip_starts gives one): said, not hidden.
  assert classify.video_done_text(40, 3, 4, 3, 2.0) == (
      "40 frames, 1 clip x 3 crops = 3 views (of --num_clips=4: too few frames), 2.0 s")


def test_clips_and_crops_average_logits_and_rgb_model_computes_no_flow(rgb_folder, monkeypatch):
  video = str(shared_path("testdata", "videos", "v_ApplyEyeMakeup_g01_c01.avi"))
  from i3d_tf.video import flow as flow_lib  # pylint: disable=import-outside-toplevel

  def no_flow(*args, **kwargs):
    raise AssertionError("an RGB model computed flow")
  monkeypatch.setattr(flow_lib, "compute_flow", no_flow)
  classifier = classify.Classifier(str(rgb_folder))
  assert classifier.spec.streams == ("rgb",)
  logits, frames, views = classifier.classify(video, num_clips=2, clip_frames=8, num_crops=3,
                                              max_frames=20)
  assert (frames, views) == (20, 6)
  # The mean of the six views computed one by one here.
  all_frames = decode.read_video(video)[:20]
  height, width = all_frames.shape[1:3]
  model, _ = runs.load_run(str(rgb_folder))
  views_logits = []
  for start in (0, 12):
    clip = all_frames[start:start + 8]
    top = (height - pf.CROP) // 2
    for left in (0, (width - pf.CROP) // 2, width - pf.CROP):
      x = clip[:, top:top + pf.CROP, left:left + pf.CROP].astype(np.float32) / 127.5 - 1
      views_logits.append(model(tf.constant(x[None]), training=False).numpy()[0])
  np.testing.assert_allclose(logits, np.mean(views_logits, axis=0), rtol=1e-4, atol=1e-4)


def test_videos_flag_takes_folders_and_globs_and_names_what_is_missing(tmp_path):
  (tmp_path / "a").mkdir()
  (tmp_path / "b").mkdir()
  for name in ("a/x.mp4", "b/x.mp4", "b/y.avi", "b/notes.txt"):
    (tmp_path / name).write_bytes(b"")
  from i3d_tf.video import listing  # pylint: disable=import-outside-toplevel
  keys = [k for _, k in listing.list_videos([str(tmp_path)])]
  assert keys == ["a/x.mp4", "b/x.mp4", "b/y.avi"]
  keys = [k for _, k in listing.list_videos([str(tmp_path / "*" / "x.mp4")])]
  assert keys == ["a/x.mp4", "b/x.mp4"]  # the same file name in two folders: distinct keys
  with pytest.raises(FileNotFoundError, match="--videos: .*nope.mp4: no such file"):
    listing.list_videos([str(tmp_path / "nope.mp4")])
  with pytest.raises(decode.VideoDecodeError, match="is a folder, not a video file"):
    decode.read_video(str(tmp_path / "a"))


@pytest.mark.slow
def test_two_stream_as_one_folder_or_two_gives_the_summed_logits(tmp_path):
  """An i3d_two_stream import and an RGB + a Flow folder of the same weights: one answer, the sum
  of the streams' logits on frames and TV-L1 flow computed here."""
  from i3d_tf.checkpoints import import_release  # pylint: disable=import-outside-toplevel
  from i3d_tf.video import flow as flow_lib  # pylint: disable=import-outside-toplevel
  video = str(shared_path("testdata", "videos", "v_ApplyEyeMakeup_g01_c01.avi"))
  rgb_ckpt = pf.release_checkpoint(tmp_path / "release", "rgb", seed=0)
  flow_ckpt = pf.release_checkpoint(tmp_path / "release", "flow", seed=1)
  names = pf.label_map(tmp_path)
  folders = {}
  for name, checkpoint, flow in (("rgb", rgb_ckpt, None), ("flow", flow_ckpt, None),
                                 ("joint", rgb_ckpt, flow_ckpt)):
    folders[name] = str(tmp_path / name)
    import_release.import_checkpoint(checkpoint, folders[name], names, flow_checkpoint=flow,
                                     crop_size=pf.CROP, final_pool_padding="SAME")
  frames = 10
  joint, _, _ = classify.Classifier(folders["joint"], flow_method="tvl1_fast").classify(
      video, max_frames=frames)
  pair, _, _ = classify.Classifier(folders["rgb"], folders["flow"], "tvl1_fast").classify(
      video, max_frames=frames)
  np.testing.assert_allclose(joint, pair, rtol=1e-5, atol=1e-5)
  decoded = decode.read_video(video)[:frames + 1]  # the 11th frame: the last flow's target
  flow = flow_lib.compute_flow(decoded, "tvl1_fast")[:frames]
  top, left = (decoded.shape[1] - pf.CROP) // 2, (decoded.shape[2] - pf.CROP) // 2
  flow = flow[:, top:top + pf.CROP, left:left + pf.CROP] / 20.0
  rgb_model, _ = runs.load_run(folders["rgb"])
  flow_model, _ = runs.load_run(folders["flow"])
  expected = (rgb_model(pf.centre_crop_scaled(decoded[:frames], pf.CROP)[None]).numpy()[0] +
              flow_model(flow[None]).numpy()[0])
  np.testing.assert_allclose(joint, expected, rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="must hold a flow-only model"):
    classify.Classifier(folders["rgb"], folders["rgb"])
