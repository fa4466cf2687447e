"""extract_features and classify options: crop views (--crops, --num_crops), window times
(--output_format), dense windows (--stride down to 1), timelines."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import runs
from i3d_tf.evaluation import features
from i3d_tf.video import decode
from i3d_tf.video import model_input
from tests import pretrained_fixtures as pf
from tests.conftest import REPO_ROOT
from tests.test_extract_windows import _noise_video


def test_crop_views_are_the_centre_the_longer_side_the_corners_and_their_mirrors():
  size, height, width = 4, 6, 10
  centre = (1, 3, False)
  assert model_input.crop_views(height, width, size, 1) == [centre]
  assert model_input.crop_views(height, width, size, 3) == [(1, 0, False), centre, (1, 6, False)]
  assert model_input.crop_views(width, height, size, 3) == [(0, 1, False), (3, 1, False),
                                                            (6, 1, False)]  # portrait: along H
  five = [(0, 0, False), (0, 6, False), (2, 0, False), (2, 6, False), centre]
  assert model_input.crop_views(height, width, size, 5) == five
  assert model_input.crop_views(height, width, size, 10) == five + [(t, l, True)
                                                                    for t, l, _ in five]
  with pytest.raises(model_input.CropError, match="frames of 6x10 are smaller than the 8x8"):
    model_input.crop_views(height, width, 8, 5)
  with pytest.raises(model_input.CropError, match=r"num_crops=4: expected one of \(1, 3, 5, 10\)"):
    model_input.crop_views(height, width, size, 4)


def test_ten_crop_windows_are_the_five_crops_and_their_mirrors_with_flow_x_negated(tmp_path):
  path = _noise_video(tmp_path / "v.avi", 12, size=(32, 40))
  spec = model_input.VideoInputSpec(streams=("rgb", "flow"), crop_size=24, shorter_side=32,
                                    flow_method="tvl1_fast")
  one = list(model_input.WindowReader(spec, 8, 4).windows(path))
  ten = list(model_input.WindowReader(spec, 8, 4, num_crops=10).windows(path))
  assert len(one) == len(ten) == 2 and all(len(w.views) == 10 for w in ten)
  frames = decode.read_video(path, shorter_side=32)
  for w1, w10 in zip(one, ten):
    assert (w1.start, w1.end) == (w10.start, w10.end)
    for name in ("rgb", "flow"):
      np.testing.assert_array_equal(w10.views[4][name], w1.inputs[name])  # the centre crop
      for k in range(5):
        mirror = w10.views[k][name][:, :, ::-1].copy()
        if name == "flow":
          mirror[..., 0] *= -1  # mirroring reverses horizontal motion
        np.testing.assert_array_equal(w10.views[5 + k][name], mirror)
    # The top-right corner crop is the frames' own corner (rgb scaled, computed here).
    corner = frames[w10.start:w10.end, :24, -24:].astype(np.float32) / 127.5 - 1
    np.testing.assert_array_equal(w10.views[1]["rgb"][:w10.end - w10.start], corner)
  assert not np.array_equal(ten[0].views[0]["rgb"], ten[0].views[3]["rgb"])


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
  return pf.imported_folder(tmp_path_factory.mktemp("crops"))


@pytest.fixture(scope="module")
def rgb_model(rgb_folder):
  """The RGB folder's model, loaded once for the by-hand logits of every test here."""
  return runs.load_run(str(rgb_folder))[0]


def _logits_on(model, clip):
  """Logits [classes] of uint8 frames [T, crop, crop, 3] (scaled here)."""
  x = clip.astype(np.float32) / 127.5 - 1
  return model(tf.constant(x[None]), training=False).numpy()[0]


_NUM, _WINDOW, _STRIDE = 12, 8, 5  # windows [0, 8) and [5, 12): the last one 7 frames, looped


@pytest.fixture(scope="module")
def ten_crop_npz(rgb_folder, tmp_path_factory):
  """One extract_features process for the crop and window-time options (a process costs a
  TensorFlow import and a model load): a 12-frame video, --window=8 --stride=5 --crops=10
  --output_format=npz --endpoint=Logits; beside it the library's default run (--crops=1, npy
  and a times JSON) of the same windows, and its Extractor."""
  tmp = tmp_path_factory.mktemp("ten_crop_npz")
  video = _noise_video(tmp / "v.avi", _NUM, size=(72, 96))
  out = tmp / "npz"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.extract_features", f"--model_dir={rgb_folder}",
       f"--videos={video}", f"--output_dir={out}", f"--window={_WINDOW}", f"--stride={_STRIDE}",
       "--crops=10", "--output_format=npz", "--endpoint=Logits"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  config = features.FeatureConfig(model_dir=str(rgb_folder), endpoint="Logits", window=_WINDOW,
                                  stride=_STRIDE)
  extractor = features.Extractor(config)
  record = features.extract_video(extractor, video, "v.avi", str(tmp / "npy"))
  return {"video": video, "npz_dir": out, "npz": dict(np.load(out / "v.avi.npz")),
          "npy_dir": tmp / "npy", "npy_record": record, "extractor": extractor}


def test_crops_1_is_the_centre_crop_and_10_adds_corners_and_mirrors_in_a_real_process(
    ten_crop_npz, rgb_model, tmp_path):
  video, extractor = ten_crop_npz["video"], ten_crop_npz["extractor"]
  # --crops=1 (the library, as before): [windows, classes], the model on the centre crop.
  one = np.load(ten_crop_npz["npy_dir"] / "v.avi.npy")
  assert one.shape == (2, len(pf.CLASSES))
  frames = decode.read_video(video)  # shorter side 256: 256x341
  top, left = (frames.shape[1] - pf.CROP) // 2, (frames.shape[2] - pf.CROP) // 2

  def clip(k):  # window k's frames, the short last one looped to the window (--pad=loop)
    return model_input.loop_to(frames[k * _STRIDE:k * _STRIDE + _WINDOW], _WINDOW)

  def centre(k):
    return clip(k)[:, top:top + pf.CROP, left:left + pf.CROP]
  for k in range(2):
    np.testing.assert_allclose(one[k], _logits_on(rgb_model, centre(k)), rtol=1e-4, atol=1e-5)
  # --crops=10 in the binary: [windows, 10, classes]; view 4 is the centre, 9 its mirror.
  ten = ten_crop_npz["npz"]["features"]
  assert ten.shape == (2, 10, len(pf.CLASSES))
  np.testing.assert_allclose(ten[:, 4], one, rtol=1e-4, atol=1e-5)
  for k in range(2):
    np.testing.assert_allclose(ten[k, 9], _logits_on(rgb_model, centre(k)[:, :, ::-1]),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ten[k, 0], _logits_on(rgb_model, clip(k)[:, :pf.CROP, :pf.CROP]),
                               rtol=1e-4, atol=1e-5)
  assert not np.allclose(ten[:, 0], ten[:, 4])
  # A frame size the crops cannot hold: an error naming the flag, nothing written.
  spec, config = extractor.spec, extractor.config
  extractor.spec = dataclasses.replace(spec, shorter_side=pf.CROP - 16)
  extractor.config = dataclasses.replace(config, crops=5)
  try:
    with pytest.raises(model_input.CropError, match=r"--crops=5: frames of 48x64 are smaller "
                                                    r"than the 64x64 crop"):
      features.extract_video(extractor, video, "v.avi", str(tmp_path / "small"))
  finally:
    extractor.spec, extractor.config = spec, config
  assert not (tmp_path / "small").exists()


def test_classify_ten_crops_averages_the_five_crops_and_their_mirrors(rgb_folder, rgb_model,
                                                                    tmp_path):
  from i3d_tf.evaluation import classify  # pylint: disable=import-outside-toplevel
  video = _noise_video(tmp_path / "v.avi", 10, size=(72, 96))
  logits, frames, views = classify.Classifier(str(rgb_folder)).classify(video, num_crops=10)
  assert (frames, views) == (10, 10)
  clip = decode.read_video(video)
  height, width = clip.shape[1:3]
  expected = []
  for mirrored in (False, True):
    for top, left in model_input.crop_offsets(height, width, pf.CROP, 5):
      x = clip[:, top:top + pf.CROP, left:left + pf.CROP].astype(np.float32) / 127.5 - 1
      x = x[:, :, ::-1] if mirrored else x
      expected.append(rgb_model(tf.constant(x[None]), training=False).numpy()[0])
  np.testing.assert_allclose(logits, np.mean(expected, axis=0), rtol=1e-4, atol=1e-4)


def test_window_times_match_the_stride_arithmetic_in_npz_and_npy(ten_crop_npz):
  num, window, stride = _NUM, _WINDOW, _STRIDE
  out = ten_crop_npz["npz_dir"]
  assert sorted(p.name for p in out.iterdir() if p.suffix in (".npz", ".npy", ".json")) == [
      "v.avi.npz"]
  got = ten_crop_npz["npz"]
  count = model_input.num_windows(num, window, stride)
  starts = [k * stride for k in range(count)]
  ends = [min(s + window, num) for s in starts]
  assert count == 2 and ends[-1] == num and ends[-1] - starts[-1] < window  # a short last one
  assert got["features"].shape == (count, 10, len(pf.CLASSES))  # --crops=10: 10 views each
  assert got["start_frame"].tolist() == starts and got["end_frame"].tolist() == ends
  assert float(got["fps"]) == 25.0
  np.testing.assert_allclose(got["start_s"], np.array(starts) / 25.0, rtol=0, atol=1e-12)
  np.testing.assert_allclose(got["end_s"], np.array(ends) / 25.0, rtol=0, atol=1e-12)
  # npy (the default, here at --crops=1): the same windows' features (the npz's centre view,
  # view 4) in <key>.npy, the same times beside in JSON.
  npy = ten_crop_npz["npy_dir"]
  assert ten_crop_npz["npy_record"]["files"] == ["v.avi.npy", "v.avi_times.json"]
  np.testing.assert_allclose(np.load(npy / "v.avi.npy"), got["features"][:, 4], rtol=1e-5,
                             atol=1e-6)
  times = json.loads((npy / "v.avi_times.json").read_text())
  assert times == {"fps": 25.0, "start_frame": starts, "end_frame": ends,
                   "start_s": list(got["start_s"]), "end_s": list(got["end_s"])}


def test_dense_windows_preprocess_each_frame_once_and_equal_each_window_alone(tmp_path,
                                                                            monkeypatch):
  num, window = 24, 16
  path = _noise_video(tmp_path / "v.avi", num, size=(32, 40))
  spec = model_input.VideoInputSpec(streams=("rgb", "flow"), crop_size=24, shorter_side=32,
                                    flow_method="tvl1_fast")
  from i3d_tf.video import flow as flow_lib  # pylint: disable=import-outside-toplevel
  real_view, real_from_gray = model_input.view_of, flow_lib.flow_from_gray
  views_made, pairs = [], []

  def counting_view(values, name, *args):
    views_made.append((name, len(values)))
    return real_view(values, name, *args)

  def counting_flow(gray, method="tvl1"):
    pairs.append(len(gray) - 1)
    return real_from_gray(gray, method)
  monkeypatch.setattr(model_input, "view_of", counting_view)
  monkeypatch.setattr(flow_lib, "flow_from_gray", counting_flow)
  windows = list(model_input.WindowReader(spec, window, 1, num_crops=3).windows(path))
  assert len(windows) == model_input.num_windows(num, window, 1) == num - window + 1
  assert [w.start for w in windows] == list(range(num - window + 1))
  # Each frame's 3 views of each stream made once (one frame each), each of the 23 pairs once,
  # though most frames are in 16 windows.
  assert sorted(views_made) == sorted([("rgb", 1)] * num * 3 + [("flow", 1)] * num * 3)
  assert sum(pairs) == num - 1
  assert model_input.WindowReader(spec, window, 1).peak_frames_held <= window + 1
  monkeypatch.setattr(model_input, "view_of", real_view)
  monkeypatch.setattr(flow_lib, "flow_from_gray", real_from_gray)
  frames = decode.read_video(path, shorter_side=32)
  for w in windows:  # the same inputs as each window made alone (its own flow, crops, scaling)
    after = frames[w.end] if w.end < num else None
    alone = model_input.frames_to_inputs(frames[w.start:w.end], spec, after, 3, window)
    for view, expected in zip(w.views, alone):
      np.testing.assert_array_equal(view["rgb"], expected["rgb"])
      np.testing.assert_allclose(view["flow"], expected["flow"], atol=1e-6,
                                 err_msg=f"window {w.index}")


def test_stride_1_gives_a_feature_per_start_frame_and_stride_0_is_refused(rgb_folder, tmp_path):
  num, window = 12, 8  # 5 windows
  video = _noise_video(tmp_path / "v.avi", num, size=(72, 96))
  base = [sys.executable, "-m", "experiments.extract_features", f"--model_dir={rgb_folder}",
          f"--videos={video}", f"--window={window}", "--endpoint=Logits"]
  # A stride of 0 (or a negative one: the same bound): refused by the flag parser, naming it.
  result = subprocess.run(base + [f"--output_dir={tmp_path / 'bad'}", "--stride=0"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode != 0
  assert "flag --stride=0: 0 is not a positive integer" in result.stderr, result.stderr[-2000:]
  assert not (tmp_path / "bad").exists()  # refused before anything is written
  out = tmp_path / "dense"
  result = subprocess.run(base + [f"--output_dir={out}", "--stride=1"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  dense = np.load(out / "v.avi.npy")
  assert dense.shape == (num - window + 1, len(pf.CLASSES))
  times = json.loads((out / "v.avi_times.json").read_text())
  assert times["start_frame"] == list(range(num - window + 1))
  assert times["end_frame"] == [s + window for s in range(num - window + 1)]
  assert not np.allclose(dense[0], dense[-1])  # the windows differ (the video moves)


def test_classify_timeline_prints_and_writes_each_windows_top_k_and_a_plot(rgb_folder, rgb_model,
                                                                          tmp_path):
  from i3d_tf.evaluation import classify  # pylint: disable=import-outside-toplevel
  num, window, stride = 20, 12, 6  # windows [0, 12), [6, 18), [12, 20) (8 frames, looped)
  video = _noise_video(tmp_path / "v.avi", num, size=(72, 96))
  out = tmp_path / "timeline"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.classify", f"--model_dir={rgb_folder}",
       f"--videos={video}", f"--window={window}", f"--stride={stride}", "--top_k=2",
       f"--timeline_dir={out}", "--plot", f"--json={tmp_path / 'all.json'}"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  got = json.loads((out / "v.avi.timeline.json").read_text())
  count = model_input.num_windows(num, window, stride)
  assert count == 3 and len(got["windows"]) == count and got["frames"] == num
  assert [(w["start_frame"], w["end_frame"]) for w in got["windows"]] == [
      (k * stride, min(k * stride + window, num)) for k in range(count)]
  # Each window's top-2: the model on that window's centre crop, computed here.
  frames = decode.read_video(video)
  top, left = (frames.shape[1] - pf.CROP) // 2, (frames.shape[2] - pf.CROP) // 2
  all_logits = []
  for w in got["windows"]:
    clip = frames[w["start_frame"]:w["end_frame"], top:top + pf.CROP, left:left + pf.CROP]
    x = model_input.loop_to(clip.astype(np.float32) / 127.5 - 1, window)
    logits = rgb_model(tf.constant(x[None]), training=False).numpy()[0]
    all_logits.append(logits)
    expected = classify.top_k(logits, pf.CLASSES, 2)
    assert [r["class"] for r in w["top_k"]] == [r["class"] for r in expected]
    np.testing.assert_allclose([r["probability"] for r in w["top_k"]],
                               [r["probability"] for r in expected], rtol=1e-4, atol=1e-6)
    # Printed as it goes: the window's seconds and its top classes.
    line = f"{w['start_s']:8.2f}-{w['end_s']:8.2f} s  {w['top_k'][0]['probability']:.3f} "
    assert line + w["top_k"][0]["class"] in result.stdout
  overall = classify.top_k(np.mean(all_logits, axis=0), pf.CLASSES, 2)
  assert [r["class"] for r in got["top_k"]] == [r["class"] for r in overall]
  rows = (out / "v.avi.timeline.csv").read_text().splitlines()
  assert rows[0].startswith("video,window,start_frame,end_frame,start_s,end_s,rank,class")
  assert len(rows) == 1 + count * 2
  assert rows[-1].split(",")[1:7] == [str(count - 1), str(12), str(num), "0.4800", "0.8000", "2"]
  assert (out / "v.avi.timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert json.loads((tmp_path / "all.json").read_text())["videos"][0]["windows"] == got["windows"]
  assert not list(out.glob("*.tmp-*"))
  # The timeline flags without --window: refused, naming the flag.
  result = subprocess.run(
      [sys.executable, "-m", "experiments.classify", f"--model_dir={rgb_folder}",
       f"--videos={video}", f"--timeline_dir={out}"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode != 0 and "--timeline_dir needs --window" in result.stderr


def test_centred_windows_give_one_feature_per_frame_padded_by_the_edge_frames(rgb_folder,
                                                                             tmp_path):
  """--align=centre at stride 1: N windows for N frames, window k centred on frame k (its frame
  window // 2), the first/last frame's inputs (RGB and flow) repeated past the ends; each
  window's inputs and features equal those of the same frames padded by hand, the times say
  the true frames and the centre, and at most window + 1 frames are held."""
  num, window = 11, 8
  path = _noise_video(tmp_path / "v.avi", num, size=(32, 40))
  spec = model_input.VideoInputSpec(streams=("rgb", "flow"), crop_size=24, shorter_side=32,
                                    flow_method="tvl1_fast")
  reader = model_input.WindowReader(spec, window, 1, align="centre")
  windows = list(reader.windows(path))
  assert len(windows) == num == model_input.num_windows(num, window, 1, "centre")
  assert model_input.num_windows(num, window, 3, "centre") == 4  # centres 0, 3, 6, 9
  assert reader.peak_frames_held <= window + 1
  [whole] = model_input.frames_to_inputs(decode.read_video(path, shorter_side=32), spec)
  for k, w in enumerate(windows):  # frames k-4 .. k+3, clipped to the video, edges repeated
    by_hand = np.clip(np.arange(k - window // 2, k - window // 2 + window), 0, num - 1)
    assert (w.centre, w.start, w.end) == (k, by_hand[0], by_hand[-1] + 1)
    for name in ("rgb", "flow"):
      np.testing.assert_allclose(w.inputs[name], whole[name][by_hand], atol=1e-6,
                                 err_msg=f"window {k} {name}")
  with pytest.raises(ValueError, match="align 'middle' is not one of"):
    model_input.WindowReader(spec, window, 1, align="middle")
  # Features and times through extract_video (RGB model folder): window 0 and 10 by hand.
  config = features.FeatureConfig(model_dir=str(rgb_folder), endpoint="Mixed_5c", window=window,
                                  stride=1, align="centre", shorter_side=32)
  extractor = features.Extractor(config)
  extractor.spec = dataclasses.replace(extractor.spec, crop_size=24)
  record = features.extract_video(extractor, path, "v.avi", str(tmp_path / "out"))
  dense = np.load(tmp_path / "out" / "v.avi.npy")
  assert dense.shape == (num, 1024)
  times = json.loads((tmp_path / "out" / "v.avi_times.json").read_text())
  assert times["centre_frame"] == list(range(num))
  assert times["start_frame"] == [max(0, k - 4) for k in range(num)]
  assert times["end_frame"] == [min(num, k + 4) for k in range(num)]
  assert times["centre_s"][5] == pytest.approx(5 / 25)
  for k in (0, num - 1):
    by_hand = np.clip(np.arange(k - 4, k + 4), 0, num - 1)
    expected = extractor.window_features({"rgb": whole["rgb"][by_hand]})["rgb"]
    np.testing.assert_allclose(dense[k], expected, rtol=1e-4, atol=1e-5)
  assert not np.allclose(dense[0], dense[5])
  features.write_index(str(tmp_path / "out"), ["v.avi"], {"v.avi": record})
  rows = (tmp_path / "out" / "windows.tsv").read_text().splitlines()
  assert rows[0].endswith("\tcentre_frame\tcentre_s")
  assert rows[1].split("\t")[2:] == ["0", "4", "0.0", "0.16", "0", "0.0"]
