"""UCF-101 / HMDB-51 builders on real clips under the names the real split files give them.

Trees are made in a temporary folder from ../shared/testdata (videos + official split files,
reduced to a few real lines), built, and read back: frames at 25 fps, shorter side 256, labels
from the split files; the local pool and the Beam pipeline write the same shards.
"""
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets import i3d_hmdb51, i3d_ucf101  # noqa: E402
from datasets.common import sample_trees, video_builder  # noqa: E402
from datasets.i3d_hmdb51.i3d_hmdb51_dataset_builder import Hmdb51Config  # noqa: E402
from datasets.i3d_ucf101.i3d_ucf101_dataset_builder import Ucf101Config  # noqa: E402
from tests.conftest import REPO_ROOT, shared_path  # noqa: E402

UCF_TRAIN = {"TaiChi/v_TaiChi_g08_c01.avi": "tai_chi.mp4",
             "CleanAndJerk/v_CleanAndJerk_g08_c01.avi": "clean_and_jerk.mp4"}
UCF_TEST = {"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": "v_ApplyEyeMakeup_g01_c01.avi"}


def _video(name):
  return shared_path("testdata", "videos", name)


def _ucf_tree(tmp_path, clips=None):
  clips = clips or {**UCF_TRAIN, **UCF_TEST}
  return sample_trees.make_ucf101_tree(
      tmp_path / "manual", shared_path("testdata", "splits", "ucf101"),
      {rel: _video(src) for rel, src in clips.items()})


def _build(builder, manual_dir, **download_kwargs):
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual_dir), try_download_gcs=False, **download_kwargs))
  return builder


def _expected_frames(path):
  """Frames at 25 fps by timestamp: output k shows source frame floor(k * fps_in / 25)."""
  capture = cv2.VideoCapture(str(path))
  native_fps = capture.get(cv2.CAP_PROP_FPS)
  decodable = 0
  while capture.grab():
    decodable += 1
  return sum(1 for k in range(100000) if math.floor(k * native_fps / 25 + 1e-6) < decodable)


def _records(builder, split):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = sorted(builder.data_path.glob(f"*-{split}.tfrecord-*"))
  return [r.numpy() for r in tf.data.TFRecordDataset([str(f) for f in files])]


def _class_index(name):
  with open(shared_path("testdata", "splits", "ucf101", "classInd.txt")) as f:
    return {line.split()[1]: int(line.split()[0]) - 1 for line in f if line.strip()}[name]


@pytest.mark.slow
def test_ucf101_real_clips_at_25fps_shorter_side_256(tmp_path):
  manual = _ucf_tree(tmp_path)
  config = Ucf101Config(name="split1_noflow", split_number=1, flow_method="none")  # 256 px
  builder = _build(i3d_ucf101.Builder(config=config, data_dir=str(tmp_path / "data"),
                                      num_workers=2), manual)
  assert builder.info.features["label"].num_classes == 101
  for split, clips in (("train", UCF_TRAIN), ("test", UCF_TEST)):
    examples = {e["video_id"].decode(): e for e in tfds.as_numpy(builder.as_dataset(split=split))}
    assert sorted(examples) == sorted(os.path.basename(r)[:-4] for r in clips)
    for relative, source in clips.items():
      e = examples[os.path.basename(relative)[:-4]]
      assert e["label"] == _class_index(relative.split("/")[0])  # from classInd + the list
      assert e["rgb"].shape[0] == _expected_frames(_video(source))  # what decodes, at 25 fps
      assert min(e["rgb"].shape[1:3]) == 256 and e["rgb"].shape[3] == 3
      assert e["flow"].shape == e["rgb"].shape and np.all(e["flow"][..., :2] == 127)  # 'none'
      assert e["fps"] == 25.0 and e["end_s"] == pytest.approx(e["rgb"].shape[0] / 25.0)
  # 164 frames at 25 fps stay 164; 300 at 29.97 fps become 251.
  assert {e["video_id"]: e["rgb"].shape[0] for e in tfds.as_numpy(
      builder.as_dataset(split="test"))} == {b"v_ApplyEyeMakeup_g01_c01": 164}

  # The reading side (i3d_tf/data/records.py) parses these shards without TFDS.
  from i3d_tf.data import records  # pylint: disable=g-import-not-at-top
  parsed = records.parse_tfds_example(_records(builder, "test")[0])
  assert int(parsed["num_frames"]) == 164 and int(parsed["label"]) == _class_index("ApplyEyeMakeup")
  assert records.decode_rgb(parsed["rgb"][:2]).shape == (2, 256, 341, 3)


@pytest.mark.slow
def test_hmdb51_real_clips_labels_from_split_files(tmp_path):
  splits = shared_path("testdata", "splits", "hmdb51")
  train = {"pour/Bar_Basics_-_How_to_Pour_Liquor_Accurately_by_Counting_pour_u_cm_np1_fr_med_0.avi":
           "tai_chi.mp4",
           "ride_bike/#437_How_To_Ride_A_Bike_ride_bike_f_cm_np1_ba_med_0.avi": "skateboarding.mp4"}
  test = {"cartwheel/Aerial_Cartwheel_Tutorial_By_Jujimufu_cartwheel_f_nm_np1_ri_med_0.avi":
          "flipping_a_pancake.mkv"}
  unused = "Cartwheel_Competition_cartwheel_f_cm_np1_ri_med_1.avi"  # listed with 0
  manual = sample_trees.make_hmdb51_tree(
      tmp_path / "manual", splits, {r: _video(s) for r, s in {**train, **test}.items()},
      also_keep=[unused])
  config = Hmdb51Config(name="split1_2s", split_number=1, flow_method="none", max_seconds=2.0)
  builder = _build(i3d_hmdb51.Builder(config=config, data_dir=str(tmp_path / "data"),
                                      num_workers=2), manual)
  names = builder.info.features["label"].names
  assert len(names) == 51 and names[:3] == ["brush_hair", "cartwheel", "catch"]
  for split, clips in (("train", train), ("test", test)):
    examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
    got = {e["video_id"].decode(): names[e["label"]] for e in examples}
    assert got == {os.path.basename(r)[:-4]: r.split("/")[0] for r in clips}
    for e in examples:
      assert e["rgb"].shape[0] == 50  # the first 2 s at 25 fps
      assert min(e["rgb"].shape[1:3]) == 256
  assert unused[:-4] not in str(video_builder.read_skipped(builder.data_path))


def _tiny_ucf(name="split1_tiny"):
  return Ucf101Config(name=name, split_number=1, shorter_side=32, flow_method="tvl1_fast",
                      max_seconds=0.4)


@pytest.mark.slow
def test_local_and_beam_builds_write_the_same_shards(tmp_path):
  clips = {**UCF_TRAIN, "SkateBoarding/v_SkateBoarding_g08_c01.avi": "skateboarding.mp4",
           **UCF_TEST}
  manual = _ucf_tree(tmp_path, clips)
  # One listed video is garbage: both builds must skip and record it the same way.
  broken = manual / "UCF-101" / "SkateBoarding" / "v_SkateBoarding_g08_c01.avi"
  broken.unlink()
  broken.write_bytes(b"not a video at all" * 100)

  local = _build(i3d_ucf101.Builder(config=_tiny_ucf(), data_dir=str(tmp_path / "local"),
                                    num_workers=2), manual)
  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
  beam = _build(i3d_ucf101.Builder(config=_tiny_ucf(), data_dir=str(tmp_path / "beam")), manual,
                beam_options=pipeline_options.PipelineOptions(["--runner=DirectRunner"]))
  for split in ("train", "test"):
    local_records, beam_records = _records(local, split), _records(beam, split)
    assert len(local_records) == {"train": 2, "test": 1}[split]
    assert local_records == beam_records  # byte-identical, in the same order (one process)
    assert local.info.splits[split].shard_lengths == beam.info.splits[split].shard_lengths
  assert video_builder.read_skipped(local.data_path) == video_builder.read_skipped(beam.data_path)
  assert [r["video_id"] for r in video_builder.read_skipped(beam.data_path)] == [
      "v_SkateBoarding_g08_c01"]
  assert beam.build_summary["train"]["skipped"] == 1


def _run(args, cwd, env=None):
  return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True,
                        timeout=600, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_beam_cli_on_worker_processes_writes_the_same_shards(tmp_path):
  """`python -m datasets.build --beam` on a multi-process DirectRunner vs a local build.

  Byte for byte across processes too: the builders write each tf.train.Example with its feature
  map in key order (protobuf's own order varies from process to process).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from datasets.common import building as build  # pylint: disable=g-import-not-at-top
  clips = {**UCF_TRAIN, "SkateBoarding/v_SkateBoarding_g08_c01.avi": "skateboarding.mp4",
           **UCF_TEST}
  manual = _ucf_tree(tmp_path, clips)
  broken = manual / "UCF-101" / "SkateBoarding" / "v_SkateBoarding_g08_c01.avi"
  broken.unlink()
  broken.write_bytes(b"")
  overrides = ["--shorter_side=32", "--flow_method=tvl1_fast", "--max_seconds=0.4"]
  result = _run(["-m", "datasets.build", "--dataset=i3d_ucf101/split1", f"--manual_dir={manual}",
                 f"--data_dir={tmp_path / 'beam'}", "--beam_options=--runner=DirectRunner "
                 "--direct_num_workers=2 --direct_running_mode=multi_processing"] + overrides,
                cwd=REPO_ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "train: 2 examples" in result.stdout and "1 skipped" in result.stdout, result.stdout
  assert "skipped.tsv" in result.stdout

  local = build.make_builder("i3d_ucf101/split1", str(tmp_path / "local"), num_workers=2,
                             shorter_side=32, flow_method="tvl1_fast", max_seconds=0.4)
  build.build(local, manual_dir=str(manual))
  beam_dir = tmp_path / "beam" / "i3d_ucf101" / "split1_s32_max0.4s" / "1.0.0"
  assert local.data_path.parts[-2:] == beam_dir.parts[-2:]
  for split in ("train", "test"):
    files = sorted(beam_dir.glob(f"*-{split}.tfrecord-*"))
    beam_records = [r.numpy() for r in tf.data.TFRecordDataset([str(f) for f in files])]
    local_records = _records(local, split)
    assert len(local_records) == {"train": 2, "test": 1}[split]
    assert local_records == beam_records
    assert [f.name for f in files] == sorted(
        f.name for f in local.data_path.glob(f"*-{split}.tfrecord-*"))
  assert video_builder.read_skipped(beam_dir) == video_builder.read_skipped(local.data_path)


@pytest.mark.slow
def test_tfds_build_cli_builds_a_builder_folder(tmp_path):
  """TFDS's own `tfds build datasets/i3d_ucf101 --config=<json>`, run from elsewhere."""
  import shutil  # pylint: disable=g-import-not-at-top
  tfds_cli = shutil.which("tfds")
  probe = _run(["-c", "import tensorflow_datasets.scripts.cli.main"], cwd=tmp_path)
  if tfds_cli is None or probe.returncode != 0:
    pytest.skip(f"the tfds CLI is not usable here (mlcroissant missing?): {probe.stderr[-300:]}")
  manual = _ucf_tree(tmp_path, UCF_TEST | {"TaiChi/v_TaiChi_g08_c01.avi": "tai_chi.mp4"})
  config = ('{"name": "split1_tiny", "split_number": 1, "shorter_side": 32, '
            '"flow_method": "tvl1_fast", "max_seconds": 0.4}')
  result = subprocess.run(
      [tfds_cli, "build", str(REPO_ROOT / "datasets" / "i3d_ucf101"), f"--config={config}",
       f"--manual_dir={manual}", f"--data_dir={tmp_path / 'data'}"],
      cwd=tmp_path, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  version_dir = tmp_path / "data" / "i3d_ucf101" / "split1_tiny" / "1.0.0"
  builder = tfds.builder_from_directory(str(version_dir))
  assert builder.info.splits["train"].num_examples == 1
  [example] = tfds.as_numpy(builder.as_dataset(split="train"))
  assert example["video_id"] == b"v_TaiChi_g08_c01" and example["rgb"].shape == (10, 32, 42, 3)
  assert (version_dir / "skipped.tsv").exists()


def test_tfds_cli_loads_the_builder_folders():
  """`tfds build datasets/<name>` imports each folder on its own (no parent package)."""
  code = ("import sys; from tensorflow_datasets.scripts.cli import build as b; "
          "[print(b._get_builder_cls_and_kwargs(d, has_imports=False)[0].name) for d in "
          "sys.argv[1:]]")
  result = _run(["-c", code, "datasets/i3d_ucf101", "datasets/i3d_hmdb51", "datasets/i3d_kinetics",
                 "datasets/synthetic_motion"], cwd=REPO_ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.split() == ["i3d_ucf101", "i3d_hmdb51", "i3d_kinetics", "synthetic_motion"]


def test_installed_layout_imports_as_i3d_tf_datasets(tmp_path):
  """setup.py installs datasets/ as i3d_tf_datasets: build that layout and import from it."""
  result = _run(["setup.py", "-q", "build_py", "--build-lib", str(tmp_path / "lib")],
                cwd=REPO_ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  lib = tmp_path / "lib"
  assert (lib / "i3d_tf_datasets" / "i3d_kinetics" / "classes_400.txt").exists()
  code = ("import i3d_tf_datasets.build as b, tensorflow_datasets as tfds; "
          "h = b.make_builder('i3d_hmdb51/split2', '/tmp/none'); "
          "print(h.info.features['label'].num_classes,"
          " b.__name__, sorted(n for n in tfds.list_builders(with_community_datasets=False) "
          "if n.startswith(('i3d_', 'synthetic_motion'))))")
  # From elsewhere than the repo root, with the built layout first on the path.
  result = _run(["-c", code], cwd=tmp_path, env={"PYTHONPATH": f"{lib}{os.pathsep}{REPO_ROOT}"})
  assert result.returncode == 0, result.stderr[-3000:]
  assert "51 i3d_tf_datasets.build ['i3d_hmdb51', 'i3d_kinetics', 'i3d_ucf101', " \
         "'i3d_video_folder', 'synthetic_motion']" in result.stdout
