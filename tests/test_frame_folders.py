"""Frame folders as videos (mmaction2's rawframes: img_00001.jpg ...): decoding, --input_fps,
listing, bad folders, and extract_features on them in a real process; their denseflow flow frames
(flow_x_00001.jpg ...) as the flow stream; frame folders in i3d_video_folder builds."""
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import runs
from i3d_tf.evaluation import classify as classify_lib
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import listing
from i3d_tf.video import model_input
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


# ------------------------------------------------------------------ precomputed flow frames


def _moving_frames(num, size, seed=0, step=(1, 2)):
  """uint8 RGB [num, H, W, 3]: a smooth random texture moving `step` (y, x) px a frame, so
  TV-L1 finds a real, in-bound flow."""
  rng = np.random.default_rng(seed)
  texture = cv2.GaussianBlur(rng.integers(0, 256, size, dtype=np.uint8), (0, 0), 2.0)
  texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
  return np.stack([np.repeat(np.roll(texture, (k * step[0], k * step[1]), (0, 1))[..., None], 3,
                             -1) for k in range(num)])


def _flow_folder(folder, frames, flow, count=None, ext="png"):
  """A frame folder of `frames` (PNG) with denseflow's flow_x_i / flow_y_i of `flow` [T, H, W, 2]
  (the first `count`, default T - 1: denseflow's count), as 8-bit grayscale images."""
  _frame_folder(folder, frames)
  levels = flow_lib.to_denseflow(flow)
  for i in range(len(frames) - 1 if count is None else count):
    cv2.imwrite(str(folder / f"flow_x_{i + 1:05d}.{ext}"), levels[i, ..., 0])
    cv2.imwrite(str(folder / f"flow_y_{i + 1:05d}.{ext}"), levels[i, ..., 1])
  return str(folder)


HALF_LEVEL = flow_lib.DENSEFLOW_BOUND / 255.0  # px: 8-bit levels are 40/255 px apart


def test_flow_frames_are_sampled_resized_and_checked_like_the_frames(tmp_path):
  frames = _moving_frames(8, (24, 32))
  flow = flow_lib.compute_flow(frames, "tvl1_fast")  # [8, 24, 32, 2], flow[7] repeats flow[6]
  assert 0.5 < np.abs(flow).mean() < 5  # a real motion, within the bound
  folder = _flow_folder(tmp_path / "v", frames, flow)
  pairs = list(decode.iter_frames_and_flow(folder, shorter_side=None))
  np.testing.assert_array_equal(np.stack([f for f, _ in pairs]), frames)
  got = np.stack([g for _, g in pairs])
  assert np.abs(got - flow).max() <= HALF_LEVEL + 1e-6  # the last repeats the one before too
  np.testing.assert_array_equal(got[7], got[6])
  # 50 fps read at 25: every other image with its own flow frame (the 20 ms motion it was given).
  halved = [g for _, g in decode.iter_frames_and_flow(folder, shorter_side=None, input_fps=50)]
  np.testing.assert_array_equal(np.stack(halved), got[::2])
  # Shorter side 24 -> 48: the field resized like the frame, its pixels twice as long.
  big = np.stack([g for _, g in decode.iter_frames_and_flow(folder, shorter_side=48)])
  assert big.shape == (8, 48, 64, 2)
  np.testing.assert_allclose(big[:, 20:28, 24:40].mean((0, 1, 2)), 2 * got.mean((0, 1, 2)),
                             rtol=0.05)
  # One place chooses the source: auto and frames read them, compute ignores them.
  spec = model_input.VideoInputSpec(streams=("flow",), crop_size=16, shorter_side=None)
  _, _, read = model_input.read_frames(folder, spec)
  np.testing.assert_array_equal(read, got)
  compute = model_input.VideoInputSpec(streams=("flow",), crop_size=16, shorter_side=None,
                                       flow_source="compute")
  assert model_input.read_frames(folder, compute)[2] is None
  frames_only = model_input.VideoInputSpec(streams=("flow",), crop_size=16, flow_source="frames")
  plain = _frame_folder(tmp_path / "plain", frames)
  with pytest.raises(decode.VideoDecodeError, match="plain: --flow_source=frames: the frame "
                                                    "folder holds no flow frames"):
    model_input.read_frames(plain, frames_only)
  # N flow frames for N images are taken as they are.
  full = _flow_folder(tmp_path / "full", frames, flow, count=8)
  assert len(list(decode.iter_frames_and_flow(full))) == 8


def test_bad_flow_frames_are_refused_naming_the_folder_and_what_is_wrong(tmp_path):
  frames = _moving_frames(5, (16, 16))
  flow = np.zeros((5, 16, 16, 2), np.float32)
  short = _flow_folder(tmp_path / "short", frames, flow, count=3)
  with pytest.raises(decode.VideoDecodeError, match=r"short: frame folder: 3 flow frames "
                                                    r"\(flow_x_\*, flow_y_\*\) for 5 images "
                                                    r"\(img_\*\): expected 4 .* or 5"):
    decode.iter_frames_and_flow(short)  # before any frame is yielded
  uneven = _flow_folder(tmp_path / "uneven", frames, flow)
  (tmp_path / "uneven" / "flow_y_00004.png").unlink()
  with pytest.raises(decode.VideoDecodeError, match="4 flow_x frames but 3 flow_y frames"):
    decode.iter_frames_and_flow(uneven)
  gap = _flow_folder(tmp_path / "gap", frames, flow)
  for axis in "xy":
    (tmp_path / "gap" / f"flow_{axis}_00002.png").rename(tmp_path / "gap" /
                                                          f"flow_{axis}_00009.png")
  with pytest.raises(decode.VideoDecodeError, match=r"flow_x frame 2 \(flow_x_00002\) is missing"):
    decode.iter_frames_and_flow(gap)
  sized = _flow_folder(tmp_path / "sized", frames, flow)
  cv2.imwrite(str(tmp_path / "sized" / "flow_x_00003.png"), np.zeros((8, 8), np.uint8))
  spec = model_input.VideoInputSpec(streams=("flow",), crop_size=8, shorter_side=None)
  with pytest.raises(decode.VideoDecodeError, match=r"sized: frame folder: flow frame "
                                                    r"flow_x_00003.png is 8x8, the images "
                                                    r"\(img_00001.png\) 16x16"):
    list(model_input.WindowReader(spec, 2, 2).windows(sized))
  with pytest.raises(ValueError, match="flow source 'disk' is not one of"):
    model_input.VideoInputSpec(flow_source="disk")


@pytest.fixture(scope="module")
def flow_model_folder(tmp_path_factory):
  return pf.imported_folder(tmp_path_factory.mktemp("flow_frames"), stream="flow", seed=2)


def _expected_flow_logits(folder, flow):
  """The flow model's logits [T', classes] of flow [T, H, W, 2] in px, centre crop, computed
  here (truncated, / 20), not by model_input."""
  model, _ = runs.load_run(str(folder))
  top, left = (flow.shape[1] - pf.CROP) // 2, (flow.shape[2] - pf.CROP) // 2
  crop = np.clip(flow[:, top:top + pf.CROP, left:left + pf.CROP], -20, 20) / 20.0
  return model(tf.constant(crop[None], tf.float32), training=False).numpy()[0]


def test_flow_frames_give_the_features_and_labels_of_computed_flow(flow_model_folder, tmp_path):
  """extract_features (a process: WindowReader) and classify's library (read_frames) on a folder
  whose flow frames are its own TV-L1 flow quantized: the features of the computed flow, within
  the 8-bit levels' effect; a folder with a wrong flow count is skipped, named, the others done."""
  frames = _moving_frames(10, (256, 288), seed=3)  # shorter side 256: no resize
  flow = flow_lib.compute_flow(frames, "tvl1_fast")
  root = tmp_path / "rawframes"
  _flow_folder(root / "stored", frames, flow)
  _frame_folder(root / "plain", frames)  # no flow frames: computed (auto)
  _flow_folder(root / "badcount", frames[:4], flow[:4], count=2)
  out = tmp_path / "features"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.extract_features", f"--model_dir={flow_model_folder}",
       f"--videos={root}", f"--output_dir={out}", "--window=5", "--stride=5",
       "--endpoint=Logits", "--output_format=npz", "--flow_method=tvl1_fast"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  stored, plain = np.load(out / "stored.npz")["features"], np.load(out / "plain.npz")["features"]
  assert stored.shape == plain.shape == (2, len(pf.CLASSES))
  # The computed path is the in-test TV-L1 (window 0's last flow goes to frame 5, as here).
  expected = np.stack([_expected_flow_logits(flow_model_folder, flow[s:s + 5]) for s in (0, 5)])
  np.testing.assert_allclose(plain, expected, rtol=1e-4, atol=1e-4)
  # The stored path is exactly the model on the 8-bit levels read back ...
  levels = flow_lib.from_denseflow(flow_lib.to_denseflow(flow))
  levels[-1] = levels[-2]
  exact = np.stack([_expected_flow_logits(flow_model_folder, levels[s:s + 5]) for s in (0, 5)])
  np.testing.assert_allclose(stored, exact, rtol=1e-4, atol=1e-4)
  # ... and within the quantisation's effect of the computed flow's (measured: see README).
  spread = np.abs(expected).max()
  # Measured: 2.7e-4 of logits up to 1.83 (1.5e-4 of them); a 7x margin.
  assert np.abs(stored - plain).max() < 1e-3 * spread, (np.abs(stored - plain).max(), spread)
  key, source, reason = (out / "skipped.tsv").read_text().splitlines()[1].split("\t")
  assert (key, source) == ("badcount", str(root / "badcount")), (key, source)
  assert reason.startswith("frame folder: 2 flow frames (flow_x_*, flow_y_*) for 4 images")
  assert len((out / "skipped.tsv").read_text().splitlines()) == 2
  # classify's whole-video path (read_frames, frames_to_inputs) only from flow frames.
  classifier = classify_lib.Classifier(str(flow_model_folder), flow_source="frames")
  logits, count, views = classifier.classify(str(root / "stored"))
  assert (count, views) == (10, 1)
  np.testing.assert_allclose(logits, _expected_flow_logits(flow_model_folder, levels),
                             rtol=1e-4, atol=1e-4)
  with pytest.raises(decode.VideoDecodeError, match="plain: --flow_source=frames"):
    classifier.classify(str(root / "plain"))


# --------------------------------------------------------------- i3d_video_folder builds


def test_i3d_video_folder_builds_class_folders_of_frame_folders(tmp_path):
  """datasets.build over two classes of frame folders at --input_fps=50: every folder an
  example holding the frames decoding it gives; list rows take frame folders too."""
  tfds = pytest.importorskip("tensorflow_datasets")
  from datasets.common import video_lists  # pylint: disable=import-outside-toplevel
  manual = tmp_path / "manual"
  folders = {}
  for label, sizes in {"left": (6, 9), "right": (7, 4)}.items():
    for i, num in enumerate(sizes):
      key = f"{label}/clip.v{i}"  # a dot in a folder's name is no extension
      folders[key] = _frame_folder(manual / label / f"clip.v{i}",
                                   _moving_frames(num, (64, 80), seed=num), ext="jpg")
  result = subprocess.run(
      [sys.executable, "-m", "datasets.build", "--dataset=i3d_video_folder/frames",
       f"--manual_dir={manual}", f"--data_dir={tmp_path / 'tfds'}", "--flow_method=none",
       "--shorter_side=32", "--num_workers=0", "--input_fps=50", "--test_fraction=0.5"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  [version_dir] = (tmp_path / "tfds" / "i3d_video_folder").glob("*/1.0.0")
  builder = tfds.builder_from_directory(str(version_dir))
  assert builder.info.features["label"].names == ["left", "right"]
  assert builder.info.metadata["input_fps"] == 50
  examples = [e for split in ("train", "test") for e in tfds.as_numpy(builder.as_dataset(split))]
  assert sorted(e["video_id"].decode() for e in examples) == sorted(folders)
  for example in examples:
    expected = decode.read_video(folders[example["video_id"].decode()], shorter_side=32,
                                 input_fps=50)  # 50 fps read at 25: every other image
    assert example["rgb"].shape == expected.shape, example["video_id"]
    assert np.abs(example["rgb"].astype(int) - expected).mean() < 4  # JPEG stored
  # A list row naming a frame folder: its key keeps the folder's whole name.
  listed = video_lists.parse_video_list("left/clip.v1,left\n", manual / "videos.csv")
  assert [(v.key, v.path) for v in listed] == [("left/clip.v1", folders["left/clip.v1"])]
