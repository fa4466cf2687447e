"""A feature of a built shard equals the one of its raw video with --as_stored (issue #20 item 6).

A video is built into a one-clip i3d_video_folder set by the project's builder (RGB JPEG, 8-bit
flow PNGs), then both streams of a two-stream I3D are extracted from the shard (split mode) and
from the video file (--videos, one window of the whole clip, centre crop, Mixed_5c, mean pool):
equal within float noise with --as_stored, measurably apart without it (so the test can fail).
Default: a generated 64x80 clip and a quarter-width model; slow: a real clip at full size.
"""
import dataclasses
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets.common import building  # noqa: E402
from i3d_tf.checkpoints import runs  # noqa: E402
from i3d_tf.evaluation import features  # noqa: E402
from i3d_tf.models import registry  # noqa: E402
from i3d_tf.video import decode  # noqa: E402
from i3d_tf.video import flow as flow_lib  # noqa: E402
from i3d_tf.video import model_input  # noqa: E402
from i3d_tf.video import stored  # noqa: E402
from tests.conftest import REPO_ROOT, shared_path  # noqa: E402

FLOW_METHOD = "tvl1_fast"  # OpenCV's, pair by pair: the build and the video path compute alike
ENDPOINT = "Mixed_5c"


def _textured_video(path, num_frames=20, size=(64, 80)):
  """A 25 fps MJPG clip of blurred noise moving 2 px right per frame."""
  rng = np.random.default_rng(0)
  base = cv2.GaussianBlur(rng.uniform(0, 255, size + (3,)).astype(np.float32), (0, 0), 2)
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, size[::-1])
  assert writer.isOpened(), path
  for t in range(num_frames):
    frame = np.clip(np.roll(base, 2 * t, axis=1), 0, 255).astype(np.uint8)
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()
  return str(path)


def _two_stream_folder(folder, crop, width_multiplier, padding):
  """A random-valued i3d_two_stream model folder (run_config.json + ckpt-0)."""
  options = {"final_pool_padding": padding, "width_multiplier": width_multiplier}
  model = registry.build_model("i3d_two_stream", 5, **options)
  model.build()
  input_spec = dataclasses.replace(registry.get("i3d_two_stream").input_spec, crop_size=crop)
  folder.mkdir(parents=True)
  runs.write_model_folder(str(folder), model, "i3d_two_stream", 5, options, input_spec)
  return folder


def _build_one_clip(video, tmp_path, shorter_side):
  """The clip as the test split of a built i3d_video_folder set -> (data_dir, dataset name)."""
  manual = tmp_path / "manual"
  manual.mkdir()
  # A build needs a train video: the clip's first 0.12 s (3 frames), another key.
  (manual / "videos.csv").write_text(f"path,label,split,start,end\n{video},a,train,0,0.12\n"
                                     f"{video},a,test,,\n")
  data_dir = tmp_path / "tfds"
  builder = building.make_builder("i3d_video_folder/one", str(data_dir), num_workers=0,
                                  flow_method=FLOW_METHOD, shorter_side=shorter_side)
  building.build(builder, manual_dir=str(manual))
  return data_dir, f"i3d_video_folder/{builder.builder_config.name}"


def _binary(*args):
  result = subprocess.run([sys.executable, "-m", "experiments.extract_features", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def _shard_and_video_features(tmp_path, video, shorter_side, crop, width_multiplier, padding,
                              videos_binary=False):
  """(shard's {rgb, flow} features, --as_stored video's [1, 2C] feature, the plain video's
  {rgb, flow}, the clip's frame count). The shard's through the binary; the video's in this
  process (one model load, Extractor's path), or also through the binary (`videos_binary`)."""
  data_dir, name = _build_one_clip(video, tmp_path, shorter_side)
  model_dir = _two_stream_folder(tmp_path / "model", crop, width_multiplier, padding)
  num_frames = len(decode.read_video(video, shorter_side=shorter_side))
  common = [f"--model_dir={model_dir}", f"--endpoint={ENDPOINT}", "--pool=mean"]
  _binary(*common, f"--dataset={name}", f"--data_dir={data_dir}", "--split_name=test",
          "--combine=separate", f"--output_dir={tmp_path / 'split'}")
  [rgb_file] = (tmp_path / "split").glob("*.rgb.npy")
  shard = {s: np.load(str(rgb_file).replace(".rgb.", f".{s}.")) for s in ("rgb", "flow")}
  # One window of the whole clip: the frames the split gives (no padding, no loop).
  config = features.FeatureConfig(model_dir=str(model_dir), endpoint=ENDPOINT, pool="mean",
                                  window=num_frames, stride=num_frames, flow_method=FLOW_METHOD,
                                  shorter_side=shorter_side)
  extractor = features.Extractor(config)
  assert extractor.spec.jpeg_quality is None and not extractor.spec.quantize_flow
  if videos_binary:
    _binary(*common, f"--videos={video}", f"--window={num_frames}", "--as_stored",
            f"--flow_method={FLOW_METHOD}", f"--shorter_side={shorter_side}",
            f"--output_dir={tmp_path / 'videos'}")
  else:
    # What --as_stored sets (FeatureConfig.as_stored -> the spec's fields), on the loaded model.
    plain_spec = extractor.spec
    extractor.spec = dataclasses.replace(plain_spec,
                                         **model_input.VideoInputSpec.as_stored_fields(True))
    features.extract_video(extractor, video, "clip", str(tmp_path / "videos"))
    extractor.spec = plain_spec
  [npy] = (tmp_path / "videos").glob("*.npy")
  as_stored = np.load(npy)
  [window] = list(model_input.WindowReader(extractor.spec, num_frames, num_frames).windows(video))
  plain = extractor.window_features(window.inputs)
  return shard, as_stored, plain, num_frames


def _check_equal_with_as_stored_only(shard, as_stored, plain, channels):
  scale = max(np.abs(v).max() for v in shard.values())
  assert as_stored.shape == (1, 2 * channels)  # [windows, rgb C + flow C], concat
  joined = np.concatenate([shard["rgb"], shard["flow"]])
  diff_stored = np.abs(as_stored[0] - joined).max() / scale
  assert diff_stored < 1e-4, f"--as_stored differs from the shard by {diff_stored:.2e} of scale"
  for stream in ("rgb", "flow"):
    diff_plain = np.abs(plain[stream] - shard[stream]).max() / scale
    # Without --as_stored the JPEG and the 8-bit flow are missing: far above float noise.
    assert diff_plain > 100 * max(diff_stored, 1e-6), (stream, diff_plain, diff_stored)
  print(f"as_stored vs shard {diff_stored:.2e}; plain vs shard {diff_plain:.2e} (of {scale:.3g})")
  return diff_stored


def test_shard_feature_equals_the_raw_videos_with_as_stored(tmp_path):
  video = _textured_video(tmp_path / "clip.avi")
  shard, as_stored, plain, num_frames = _shard_and_video_features(
      tmp_path, video, shorter_side=64, crop=64, width_multiplier=0.25, padding="SAME")
  assert num_frames == 20
  channels = shard["rgb"].shape[-1]
  assert shard["rgb"].shape == shard["flow"].shape == (channels,)
  _check_equal_with_as_stored_only(shard, as_stored, plain, channels)


def test_as_stored_inputs_are_the_pipelines_jpeg_windows_and_flow_levels(tmp_path):
  """The setting's pieces: RGB views read back with TF's window decoder (not OpenCV's, not a
  crop of the whole frame), flow on the 8-bit grid; preprocess_video --quantize_flow is the
  same flow; the default spec leaves the frames as they are."""
  video = _textured_video(tmp_path / "clip.avi", num_frames=6)
  frames = decode.read_video(video, shorter_side=64)  # [6, 64, 80, 3]
  spec = model_input.VideoInputSpec(streams=("rgb", "flow"), crop_size=48, shorter_side=64,
                                    flow_method=FLOW_METHOD,
                                    **model_input.VideoInputSpec.as_stored_fields())
  assert spec.jpeg_quality == stored.JPEG_QUALITY == 95
  [view] = model_input.frames_to_inputs(frames, spec)
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  jpegs = [stored.encode_jpeg(f) for f in frames]
  top, left = (64 - 48) // 2, (80 - 48) // 2
  window = np.stack([tf.io.decode_and_crop_jpeg(j, [top, left, 48, 48], channels=3).numpy()
                     for j in jpegs])
  np.testing.assert_array_equal(view["rgb"], window.astype(np.float32) / 127.5 - 1.0)
  levels = view["flow"] * flow_lib.FLOW_BOUND / flow_lib.FLOW_SCALE + flow_lib.FLOW_OFFSET
  np.testing.assert_allclose(levels, np.rint(levels), atol=1e-3)  # on the 8-bit grid
  plain = model_input.frames_to_inputs(frames, dataclasses.replace(
      spec, **model_input.VideoInputSpec.as_stored_fields(False)))[0]
  assert np.abs(plain["rgb"] - view["rgb"]).max() > 0.01
  np.testing.assert_allclose(plain["rgb"], frames[:, top:top + 48, left:left + 48] / 127.5 - 1,
                             atol=1e-6)
  from experiments import preprocess_video  # pylint: disable=import-outside-toplevel
  _, flow = preprocess_video.preprocess(video, flow_method=FLOW_METHOD, shorter_side=64,
                                        crop_size=48, quantize_flow=True)
  np.testing.assert_allclose(flow[0], view["flow"], atol=1e-6)
  # The windowed reader applies it alike (one path).
  [w] = list(model_input.WindowReader(spec, 6, 6).windows(video))
  np.testing.assert_allclose(w.inputs["rgb"], view["rgb"], atol=1e-6)
  np.testing.assert_allclose(w.inputs["flow"], view["flow"], atol=1e-6)


@pytest.mark.slow
def test_real_clip_full_size_shard_feature_equals_the_raw_videos(tmp_path):
  """skateboarding.mp4's first second (25 frames, 256x340, 224 crop), full-width I3D."""
  source = shared_path("testdata", "videos", "skateboarding.mp4")
  frames = decode.read_video(source, end_s=1.0, shorter_side=None)
  video = tmp_path / "skate.avi"
  writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25,
                           frames.shape[2:0:-1])
  for frame in frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()
  shard, as_stored, plain, num_frames = _shard_and_video_features(
      tmp_path, str(video), shorter_side=256, crop=224, width_multiplier=1.0, padding="VALID",
      videos_binary=True)
  assert num_frames == 25 and not math.isnan(as_stored.sum())
  _check_equal_with_as_stored_only(shard, as_stored, plain, 1024)
