"""Sliding-window features of whole videos: window counts, streaming memory, resumability."""
import json
import math
import os
import signal
import subprocess
import sys
import time
import types

import cv2
import numpy as np
import pytest

from i3d_tf.video import decode
from i3d_tf.video import model_input
from tests import pretrained_fixtures as pf
from tests.conftest import REPO_ROOT, shared_path


def _write_video(path, frames, fourcc="MJPG"):
  """uint8 RGB frames [T, H, W, 3] -> a 25 fps video file."""
  height, width = frames[0].shape[:2]
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25, (width, height))
  assert writer.isOpened(), path
  for frame in frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()
  return str(path)


def _noise_video(path, num_frames, seed=0, size=(32, 40)):
  rng = np.random.default_rng(seed)
  base = cv2.GaussianBlur(rng.uniform(0, 255, size + (3,)).astype(np.float32), (0, 0), 2)
  frames = [np.clip(np.roll(base, 2 * t, axis=1), 0, 255).astype(np.uint8)
            for t in range(num_frames)]
  return _write_video(path, frames)


def _looped_clip(path, source, num_frames, size=(96, 128)):
  """A video of `num_frames` frames: a real clip looped, at a small size (mp4v)."""
  frames = [cv2.resize(f, size[::-1], interpolation=cv2.INTER_AREA)
            for f in decode.read_video(source, shorter_side=None)]
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size[::-1])
  for t in range(num_frames):
    writer.write(cv2.cvtColor(frames[t % len(frames)], cv2.COLOR_RGB2BGR))
  writer.release()
  return str(path)


@pytest.mark.parametrize("window,stride", [(16, 16), (16, 8), (30, 7)])
def test_window_count_frames_and_bounded_memory(tmp_path, window, stride):
  path = _noise_video(tmp_path / "v.avi", 100)
  spec = model_input.VideoInputSpec(streams=("rgb",), crop_size=32, shorter_side=32)
  reader = model_input.WindowReader(spec, window, stride)
  assert isinstance(decode.iter_frames(path), types.GeneratorType)  # decoding streams
  windows = list(reader.windows(path))
  assert len(windows) == math.ceil((100 - window) / stride) + 1
  assert len(windows) == model_input.num_windows(100, window, stride)
  assert reader.peak_frames_held <= window + 1 < 100  # never the whole video
  frames = decode.read_video(path, shorter_side=32)
  expected_rgb = pf.centre_crop_scaled(frames, 32)
  for w in windows:
    assert w.start == w.index * stride and w.end == min(w.start + window, 100)
    got = w.inputs["rgb"]
    assert got.shape == (window, 32, 32, 3)
    real = w.end - w.start
    np.testing.assert_array_equal(got[:real], expected_rgb[w.start:w.end])
    if real < window:  # the end is looped from the window's own start
      np.testing.assert_array_equal(got[real:], np.concatenate([got[:real]] * 8)[:window - real])
  assert windows[-1].end == 100 and windows[-1].end_s == pytest.approx(4.0)


def test_flow_windows_use_the_next_frame_and_one_flow_function(tmp_path):
  path = _noise_video(tmp_path / "v.avi", 20)
  spec = model_input.VideoInputSpec(streams=("flow",), crop_size=24, shorter_side=32,
                                    flow_method="tvl1_fast")
  windows = list(model_input.WindowReader(spec, 8, 8).windows(path))
  assert [(w.start, w.end) for w in windows] == [(0, 8), (8, 16), (16, 20)]
  from i3d_tf.video import flow as flow_lib  # pylint: disable=import-outside-toplevel
  frames = decode.read_video(path, shorter_side=32)
  # Window 0's last flow frame goes to frame 8 (the video goes on); preprocess's path agrees.
  whole = flow_lib.compute_flow(frames[:9], "tvl1_fast")[:8]
  top, left = (32 - 24) // 2, (40 - 24) // 2
  np.testing.assert_allclose(windows[0].inputs["flow"],
                             whole[:, top:top + 24, left:left + 24] / 20.0, atol=1e-6)
  inputs = model_input.read_inputs(path, spec, max_frames=8)[0]
  np.testing.assert_array_equal(inputs["flow"], windows[0].inputs["flow"])
  with pytest.raises(ValueError, match="all-zero flow"):
    model_input.VideoInputSpec(streams=("flow",), flow_method="none")


def test_overlapping_flow_windows_compute_each_pair_once_with_the_same_flow(tmp_path,
                                                                          monkeypatch):
  path = _noise_video(tmp_path / "v.avi", 20)
  spec = model_input.VideoInputSpec(streams=("flow",), crop_size=24, shorter_side=32,
                                    flow_method="tvl1_fast")
  from i3d_tf.video import flow as flow_lib  # pylint: disable=import-outside-toplevel
  real, real_from_gray = flow_lib.compute_flow, flow_lib.flow_from_gray
  pairs = []

  def counting(gray, method="tvl1"):
    pairs.append(len(gray) - 1)
    return real_from_gray(gray, method)
  monkeypatch.setattr(flow_lib, "flow_from_gray", counting)
  windows = list(model_input.WindowReader(spec, 8, 3).windows(path))  # each frame in ~3 windows
  assert [(w.start, w.end) for w in windows] == [(0, 8), (3, 11), (6, 14), (9, 17), (12, 20)]
  assert sum(pairs) == 19  # the video's 19 pairs, each once
  frames = decode.read_video(path, shorter_side=32)
  top, left = (32 - 24) // 2, (40 - 24) // 2
  for w in windows:  # each window's flow as computed for it alone (its next frame, if any, last)
    span = frames[w.start:min(w.end + 1, 20)]
    alone = real(span, "tvl1_fast")[:w.end - w.start]
    np.testing.assert_allclose(w.inputs["flow"], alone[:, top:top + 24, left:left + 24] / 20.0,
                               atol=1e-6, err_msg=f"window {w.index}")


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
  return pf.imported_folder(tmp_path_factory.mktemp("features"))


def _extract(model_dir, videos, out, *args):
  return [sys.executable, "-m", "experiments.extract_features", f"--model_dir={model_dir}",
          f"--videos={videos}", f"--output_dir={out}", *args]


@pytest.mark.slow
def test_a_60_s_video_gives_its_windows_and_the_model_on_them(rgb_folder, tmp_path):
  source = shared_path("testdata", "videos", "v_ApplyEyeMakeup_g01_c01.avi")
  video = _looped_clip(tmp_path / "long.mp4", str(source), 1500)
  out = tmp_path / "features"
  window, stride = 64, 48
  result = subprocess.run(_extract(rgb_folder, video, out, f"--window={window}",
                                   f"--stride={stride}", "--endpoint=Mixed_5c"),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  features = np.load(out / "long.mp4.npy")
  num = math.ceil((1500 - window) / stride) + 1
  assert features.shape == (num, 1024)
  record = json.loads((out / "progress.jsonl").read_text().splitlines()[0])
  assert record["frames"] == 1500 and record["peak_frames_held"] <= window + 1
  rows = (out / "windows.tsv").read_text().splitlines()[1:]
  assert len(rows) == num and rows[-1].split("\t")[2:4] == [str((num - 1) * stride), "1500"]
  # The model on the frames of three windows (the last one padded), decoded and cropped here.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from i3d_tf.checkpoints import runs  # pylint: disable=import-outside-toplevel
  model, _ = runs.load_run(str(rgb_folder))
  check = {0: None, num // 2: None, num - 1: None}
  held = {}
  for i, frame in enumerate(decode.iter_frames(video)):
    for k in check:
      if k * stride <= i < k * stride + window:
        held.setdefault(k, []).append(frame)
  for k, frames in held.items():
    clip = pf.centre_crop_scaled(np.stack(frames), pf.CROP)
    clip = model_input.loop_to(clip, window)
    _, endpoints = model.call_with_endpoints(tf.constant(clip[None]), training=False)
    expected = endpoints["Mixed_5c"].numpy()[0].mean(axis=(0, 1, 2))
    np.testing.assert_allclose(features[k], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_rerun_after_kill_9_skips_done_videos_and_names_do_not_collide(rgb_folder, tmp_path):
  videos = tmp_path / "videos"
  for i, name in enumerate(["a/x.avi", "b/x.avi", "c/y.avi", "d/z.avi", "e/w.avi"]):
    (videos / name).parent.mkdir(parents=True)
    _noise_video(videos / name, 40, seed=i, size=(64, 80))
  (videos / "f").mkdir()
  (videos / "f" / "broken.avi").write_bytes(b"not a video at all")
  out = tmp_path / "features"
  command = _extract(rgb_folder, videos, out, "--window=16", "--stride=8", "--endpoint=Logits")
  process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
  progress = out / "progress.jsonl"
  deadline = time.time() + 300
  while time.time() < deadline and process.poll() is None:
    if progress.exists() and progress.read_text().count("\n") >= 1:
      break
    time.sleep(0.05)
  os.killpg(process.pid, signal.SIGKILL)
  process.wait()
  first_done = progress.read_text().count("\n")
  assert 1 <= first_done < 6, "the run ended before it could be killed"
  assert not (out / "index.tsv").exists()  # no index of a half run
  result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"{first_done} of 6 videos already done" in result.stdout
  index = (out / "index.tsv").read_text().splitlines()[1:]
  assert sorted(r.split("\t")[0] for r in index) == ["a/x.avi", "b/x.avi", "c/y.avi", "d/z.avi",
                                                     "e/w.avi"]
  skipped = (out / "skipped.tsv").read_text().splitlines()[1:]
  assert len(skipped) == 1 and skipped[0].startswith("f/broken.avi\t")
  a, b = np.load(out / "a" / "x.avi.npy"), np.load(out / "b" / "x.avi.npy")
  assert a.shape == b.shape == (math.ceil((40 - 16) / 8) + 1, len(pf.CLASSES))
  assert not np.allclose(a, b)  # two videos, two outputs
  assert not [p for p in out.rglob("*.tmp-*")]  # no temporary files left


@pytest.mark.slow
def test_beam_runs_the_same_per_video_function(rgb_folder, tmp_path):
  videos = tmp_path / "videos"
  videos.mkdir()
  for i in range(2):
    _noise_video(videos / f"v{i}.avi", 24, seed=i, size=(64, 80))
  outputs = {}
  for mode, extra in (("local", []), ("beam", ["--beam", "--beam_options=--runner=DirectRunner"])):
    out = tmp_path / mode
    result = subprocess.run(_extract(rgb_folder, videos, out, "--window=16", "--stride=8",
                                     "--endpoint=Logits", *extra),
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 videos' features" in result.stdout
    outputs[mode] = {n: np.load(out / n) for n in ("v0.avi.npy", "v1.avi.npy")}
    assert (out / "index.tsv").read_text().count("\n") == 3
  for name, value in outputs["local"].items():
    assert value.shape == (math.ceil((24 - 16) / 8) + 1, len(pf.CLASSES))
    np.testing.assert_allclose(outputs["beam"][name], value, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_streams_concatenated_or_separate(tmp_path):
  from i3d_tf.checkpoints import import_release  # pylint: disable=import-outside-toplevel
  joint = str(tmp_path / "joint")
  import_release.import_checkpoint(
      pf.release_checkpoint(tmp_path / "release", "rgb", seed=0), joint, pf.label_map(tmp_path),
      flow_checkpoint=pf.release_checkpoint(tmp_path / "release", "flow", seed=1),
      crop_size=pf.CROP, final_pool_padding="SAME")
  video = _noise_video(tmp_path / "v.avi", 20, size=(64, 80))
  outputs = {}
  for combine in ("concat", "separate"):
    out = tmp_path / combine
    result = subprocess.run(_extract(joint, video, out, "--window=8", "--stride=8",
                                     "--flow_method=tvl1_fast", f"--combine={combine}"),
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs[combine] = {p.name: np.load(p) for p in out.glob("*.npy")}
  assert sorted(outputs["separate"]) == ["v.avi.flow.npy", "v.avi.rgb.npy"]
  rgb, flow = outputs["separate"]["v.avi.rgb.npy"], outputs["separate"]["v.avi.flow.npy"]
  assert rgb.shape == flow.shape == (3, 1024)  # 20 frames: windows at 0, 8, 16 (padded)
  np.testing.assert_allclose(outputs["concat"]["v.avi.npy"], np.concatenate([rgb, flow], -1),
                             rtol=1e-5, atol=1e-6)
  assert not np.allclose(rgb, flow[:, :1024])
