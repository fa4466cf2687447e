"""i3d_kinetics: the official CSVs parse against the shipped label maps; a tiny tree builds."""
import csv

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets import i3d_kinetics  # noqa: E402
from datasets.common import sample_trees, video_builder  # noqa: E402
from datasets.i3d_kinetics import i3d_kinetics_dataset_builder as kinetics  # noqa: E402
from tests.conftest import shared_path  # noqa: E402


def _classes(n):
  return i3d_kinetics.Builder(config=str(n), data_dir="/nonexistent").info.features[
      "label"].names


@pytest.mark.parametrize("csv_name,num_classes", [("kinetics-400_val.csv", 400),
                                                  ("kinetics-600_val.csv", 600),
                                                  ("tiny_train.csv", 400)])
def test_official_csvs_parse_with_every_label_in_the_config(csv_name, num_classes):
  path = shared_path("testdata", "kinetics", csv_name)
  rows = i3d_kinetics.parse_csv(path.read_text(), str(path))
  with open(path, newline="") as f:
    raw = list(csv.DictReader(f))
  assert len(rows) == len({(r["youtube_id"], r["time_start"], r["time_end"]) for r in raw})
  assert rows[0].youtube_id == raw[0]["youtube_id"] and rows[0].label == raw[0]["label"]
  assert rows[0].time_end - rows[0].time_start == pytest.approx(10)
  names = _classes(num_classes)
  assert {r.label for r in rows} <= set(names)
  if csv_name.startswith("kinetics-"):  # a full split holds every class
    assert sorted({r.label for r in rows}) == names  # label order = sorted names = DeepMind's
  items = kinetics.rows_to_items(rows[:50], names, {}, "/m")
  assert all(i.key == i3d_kinetics.clip_key(r.youtube_id, r.time_start, r.time_end)
             for i, r in zip(items, rows))
  assert [i.label for i in items] == [names.index(r.label) for r in rows[:50]]


def test_kinetics_700_label_map_and_a_test_csv_without_labels():
  names = _classes(700)
  assert len(names) == 700 and names == sorted(names)
  label_map = shared_path("testdata", "kinetics", "label_map_k700.txt").read_text()
  assert names == label_map.split("\n")[:700]
  rows = i3d_kinetics.parse_csv("youtube_id,time_start,time_end,split\n-abc_DEF123,3,13,test\n")
  assert rows == [i3d_kinetics.KineticsRow(None, "-abc_DEF123", 3.0, 13.0, "test")]
  videos = {"-abc_DEF123": "/m/videos/-abc_DEF123.webm"}
  [item] = kinetics.rows_to_items(rows, names, videos, "/m")
  assert (item.key, item.label) == ("-abc_DEF123_000003_000013", -1)
  assert item.path == videos["-abc_DEF123"]
  assert (item.start_s, item.end_s) == (3.0, 13.0)  # untrimmed: cut while decoding
  with pytest.raises(ValueError, match="lacks"):
    i3d_kinetics.parse_csv("label,youtube_id,start,end\nx,y,1,2\n")
  with pytest.raises(ValueError, match="not one of the 700 classes"):
    kinetics.rows_to_items(i3d_kinetics.parse_csv("label,youtube_id,time_start,time_end\n"
                                                   "nope,a,0,10\n"), names, {}, "/m")


@pytest.mark.slow
def test_tiny_kinetics_tree_builds_trimmed_untrimmed_unlabelled_and_missing(tmp_path):
  video = lambda name: shared_path("testdata", "videos", name)  # noqa: E731
  train = [  # a real row (its clip downloaded trimmed), a written row cut from a whole video,
             # and a real row of that whole video past its end (zero frames: skipped)
      dict(label="tai chi", youtube_id="_3UJ1mjy3Vs", time_start=57, time_end=67, split="train"),
      dict(label="flipping pancake", youtube_id="_kWxjajAxKU", time_start=2, time_end=6,
           split="train"),
      dict(label="flipping pancake", youtube_id="_kWxjajAxKU", time_start=175, time_end=185,
           split="train")]
  validate = [dict(label="skateboarding", youtube_id="_6u64kgas0U", time_start=12, time_end=22,
                   split="val"),
              dict(label="clean and jerk", youtube_id="_gQM3IKXg5k", time_start=29, time_end=39,
                   split="val")]  # never downloaded: missing
  test = [dict(youtube_id="_2zDhdZrwOc", time_start=153, time_end=163, split="test")]
  manual = sample_trees.make_kinetics_tree(
      tmp_path / "manual", {"train": train, "validate": validate, "test": test},
      {"tai chi/_3UJ1mjy3Vs_000057_000067.mp4": video("tai_chi.mp4"),
       "_kWxjajAxKU.mkv": video("flipping_a_pancake.mkv"),
       "_6u64kgas0U_000012_000022.mp4": video("skateboarding.mp4"),
       "_2zDhdZrwOc_000153_000163.mp4": video("clean_and_jerk.mp4")})
  config = kinetics.KineticsConfig(name="400_tiny", num_classes=400, shorter_side=32,
                                   flow_method="none", max_seconds=0.4)
  builder = i3d_kinetics.Builder(config=config, data_dir=str(tmp_path / "data"), num_workers=2,
                                 allow_missing=True)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual), try_download_gcs=False))
  names = builder.info.features["label"].names
  read = lambda split: {e["video_id"].decode(): e for e in tfds.as_numpy(  # noqa: E731
      builder.as_dataset(split=split))}

  train_examples = read("train")
  assert sorted(train_examples) == ["_3UJ1mjy3Vs_000057_000067", "_kWxjajAxKU_000002_000006"]
  tai_chi, pancake = train_examples["_3UJ1mjy3Vs_000057_000067"], train_examples[
      "_kWxjajAxKU_000002_000006"]
  assert names[tai_chi["label"]] == "tai chi" and names[pancake["label"]] == "flipping pancake"
  assert (tai_chi["start_s"], tai_chi["end_s"]) == (57, 67)  # the CSV's times
  assert (pancake["start_s"], pancake["end_s"]) == (2, 6)
  for e in (tai_chi, pancake):
    assert e["rgb"].shape[0] == 10 and min(e["rgb"].shape[1:3]) == 32  # 0.4 s at 25 fps
  # The whole video was cut at 2 s: its first stored frame is the one at 2 s, not at 0 s.
  from i3d_tf.video import decode  # pylint: disable=g-import-not-at-top
  at_2s = decode.read_video(video("flipping_a_pancake.mkv"), start_s=2.0, end_s=2.04,
                            shorter_side=32)[0].astype(float)
  at_0s = decode.read_video(video("flipping_a_pancake.mkv"), end_s=0.04,
                            shorter_side=32)[0].astype(float)
  first = pancake["rgb"][0].astype(float)
  assert np.abs(first - at_2s).mean() < 0.5 * np.abs(first - at_0s).mean()

  assert list(read("validation")) == ["_6u64kgas0U_000012_000022"]
  assert [int(e["label"]) for e in read("test").values()] == [-1]  # no labels in test.csv
  skipped = {r["video_id"]: r for r in video_builder.read_skipped(builder.data_path)}
  assert skipped["_gQM3IKXg5k_000029_000039"]["reason"].startswith("missing")
  assert "no frame" in skipped["_kWxjajAxKU_000175_000185"]["reason"]
  assert builder.build_summary["train"]["skipped"] == 1
  assert builder.build_summary["validation"]["missing"] == 1
