"""i3d_video_folder on real clips: a folder-per-class set and a CSV-listed set, built and read back.

Clips from ../shared/testdata/videos are linked into class folders in a temporary folder (skipped
with a reason where ../shared is absent); kept small (no flow, shorter side 32, first 0.5 s).
The training binaries on these sets: tests/test_own_videos_end_to_end.py (slow).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets.common import building, video_builder  # noqa: E402
from experiments import training_flags  # noqa: E402
from tests.conftest import REPO_ROOT, shared_path  # noqa: E402

SMALL = dict(flow_method="none", shorter_side=32, max_seconds=0.5, num_workers=0)
# class -> clips: every class has two, so the stratified split puts one on each side.
CLASS_CLIPS = {"lifting": ["clean_and_jerk.mp4", "tai_chi.mp4"],
               "boarding": ["skateboarding.mp4", "flipping_a_pancake.mkv"],
               "makeup": ["v_ApplyEyeMakeup_g01_c01.avi", "mmaction2_test.mp4"]}


def _link(source, target):
  target.parent.mkdir(parents=True, exist_ok=True)
  os.symlink(source, target)


def make_class_folders(root, broken=True):
  """<root>/<class>/<clip> links to real clips, and (broken) an unreadable file posing as one."""
  for label, clips in CLASS_CLIPS.items():
    for clip in clips:
      _link(shared_path("testdata", "videos", clip), root / label / clip)
  if broken:
    (root / "makeup" / "broken.mp4").write_bytes(b"not a video" * 50)
  return root


def make_listed_set(root):
  """A CSV list in root: relative and absolute paths, given splits, a time window."""
  videos = shared_path("testdata", "videos")
  _link(videos / "tai_chi.mp4", root / "clips" / "tai_chi.mp4")
  _link(videos / "skateboarding.mp4", root / "clips" / "skateboarding.mp4")
  (root / "videos.csv").write_text(
      "path,label,split,start,end\n"
      "clips/tai_chi.mp4,tai chi,train,,\n"
      "clips/tai_chi.mp4,tai chi,test,1,1.5\n"
      f"{videos / 'clean_and_jerk.mp4'},weights,train,,\n"
      f"{videos / 'clean_and_jerk.mp4'},weights,test,2,2.4\n"
      "clips/skateboarding.mp4,board,train,,\n"
      f"{videos / 'flipping_a_pancake.mkv'},cooking,train,,\n"
      f"{videos / 'mmaction2_test.mp4'},cooking,test,,\n")
  return root


def build(name, manual_dir, data_dir, overwrite=False, **options):
  builder = building.make_builder(f"i3d_video_folder/{name}", str(data_dir), **{**SMALL,
                                                                                 **options})
  result = building.build(builder, manual_dir=str(manual_dir), overwrite=overwrite)
  return builder, result


def _examples(builder, split):
  return list(tfds.as_numpy(tfds.builder_from_directory(str(builder.data_path)).as_dataset(
      split=split)))


def test_class_folders_build_with_classes_from_the_folders(tmp_path):
  manual = make_class_folders(tmp_path / "manual")
  builder, result = build("mine", manual, tmp_path / "tfds", test_fraction=0.5, split_seed=1)
  assert builder.data_path.parts[-3:] == ("i3d_video_folder", "mine_s32_max0.5s", "1.0.0")
  assert builder.info.features["label"].names == ["boarding", "lifting", "makeup"]
  splits = result["splits"]
  assert splits["train"]["listed"] + splits["test"]["listed"] == 7
  assert splits["train"].get("skipped", 0) + splits["test"].get("skipped", 0) == 1
  [skip] = video_builder.read_skipped(builder.data_path)
  assert skip["video_id"] == "makeup/broken" and skip["path"].endswith("broken.mp4")
  for split in ("train", "test"):
    examples = _examples(builder, split)
    assert sorted({int(e["label"]) for e in examples}) == [0, 1, 2]  # every class on both sides
    for e in examples:
      assert e["rgb"].shape[0] <= 13 and min(e["rgb"].shape[1:3]) == 32  # 0.5 s at 25 fps
      assert e["video_id"].decode().split("/")[0] == CLASS_NAMES_BY_INDEX[int(e["label"])]
  metadata = builder.info.metadata
  assert metadata["source"] == "class folders" and metadata["splits_from"] == "stratified"
  assert metadata["test_fraction"] == 0.5 and metadata["split_seed"] == 1
  # What the training binaries see: the classes of the build, by the config's name.
  data = training_flags.resolve_data("i3d_video_folder/mine_s32_max0.5s",
                                     str(tmp_path / "tfds"))
  assert data.num_classes == 3 and list(data.class_names) == ["boarding", "lifting", "makeup"]
  assert len(data.train_files) == len(data.eval_files) == 1
  # TFDS reads it back by name (any name is a set of the user's), label names included.
  again = tfds.builder("i3d_video_folder/mine_s32_max0.5s", data_dir=str(tmp_path / "tfds"))
  assert again.info.features["label"].names == ["boarding", "lifting", "makeup"]
  assert again.info.splits["train"].num_examples + again.info.splits["test"].num_examples == 6
  # The same set with another seed: the same classes, a different draw.
  other, _ = build("mine", manual, tmp_path / "tfds", test_fraction=0.5, split_seed=2,
                   shorter_side=40)
  assert other.info.features["label"].names == builder.info.features["label"].names


CLASS_NAMES_BY_INDEX = sorted(CLASS_CLIPS)


def test_listed_set_keeps_its_splits_labels_and_windows(tmp_path):
  manual = make_listed_set(tmp_path / "manual")
  builder, result = build("listed", manual, tmp_path / "tfds")
  names = builder.info.features["label"].names
  assert names == ["board", "cooking", "tai chi", "weights"]  # sorted labels of the list
  assert {s: c["examples"] for s, c in result["splits"].items()} == {"train": 4, "test": 3}
  test = {e["video_id"].decode(): e for e in _examples(builder, "test")}
  videos = shared_path("testdata", "videos")
  # Listed by absolute path: the key is that path.
  outside = lambda name: str(videos / name).lstrip("/")  # noqa: E731
  assert sorted(test) == sorted(["clips/tai_chi_1_1.5", outside("mmaction2_test"),
                                 outside("clean_and_jerk_2_2.4")])
  window = test["clips/tai_chi_1_1.5"]
  assert names[int(window["label"])] == "tai chi"
  np.testing.assert_allclose([window["start_s"], window["end_s"]], [1.0, 1.5], atol=0.05)
  assert window["rgb"].shape[0] <= 13
  assert builder.info.metadata["splits_from"] == "given"
  assert builder.info.metadata["source"] == str(manual / "videos.csv")
  data = training_flags.resolve_data("i3d_video_folder", str(tmp_path / "tfds"))  # only config
  assert data.num_classes == 4 and list(data.class_names) == names


def test_a_registered_config_with_another_flow_method_takes_the_method_in_its_name(tmp_path):
  """TFDS refuses a custom config named like a registered one: synthetic_motion/mini built with
  tvl1_tf is `mini_tvl1_tf` (a user's own name keeps its name, below), and its builder constructs;
  the default method and a user's name are left as they are."""
  builder = building.make_builder("synthetic_motion/mini", str(tmp_path), flow_method="tvl1_tf")
  assert builder.builder_config.name == "mini_tvl1_tf"
  assert builder.builder_config.flow_method == "tvl1_tf"
  default = building.make_builder("synthetic_motion/mini", str(tmp_path))
  assert default.builder_config.name == "mini"
  smoke = building.make_builder("synthetic_motion/mini", str(tmp_path), flow_method="tvl1_tf",
                                shorter_side=32)
  assert smoke.builder_config.name == "mini_s32"  # not a registered name: no method suffix
  own = building.make_builder("i3d_video_folder/mysports", str(tmp_path), flow_method="tvl1_tf",
                              allow_missing=True)
  assert own.builder_config.name == "mysports"


def test_a_flow_method_keeps_the_sets_name_and_is_read_from_its_metadata(tmp_path):
  """README's 'your own videos' flow: built as i3d_video_folder/mysports with a flow method other
  than the default, then trained on as --dataset=i3d_video_folder/mysports (issue 21)."""
  from i3d_tf.training import experiment  # pylint: disable=import-outside-toplevel
  manual = tmp_path / "manual"
  videos = shared_path("testdata", "videos")
  manual.mkdir()
  (manual / "videos.csv").write_text(  # two 3-frame windows: the flow of 2 pairs each
      f"{videos / 'tai_chi.mp4'},tai chi,train,0,0.1\n"
      f"{videos / 'skateboarding.mp4'},board,test,0,0.1\n")
  data_dir = tmp_path / "tfds"
  # The first of its flow methods (the default is tvl1), at the set's own size: no other override.
  builder, result = build("mysports", manual, data_dir, flow_method="tvl1_fast",
                          shorter_side=None, max_seconds=None)
  assert builder.data_path.parts[-3:] == ("i3d_video_folder", "mysports", "1.0.0")
  assert "i3d_video_folder/mysports in " in building.format_summary(builder, result)
  assert "(flow tvl1_fast, " in building.format_summary(builder, result)
  # Read back by the name the user gave, reporting its method (metadata.json).
  data = training_flags.resolve_data("i3d_video_folder/mysports", str(data_dir))
  assert data.num_classes == 2 and experiment.dataset_flow_method(data) == "tvl1_fast"
  again = tfds.builder("i3d_video_folder/mysports", data_dir=str(data_dir))
  assert again.info.metadata["flow_method"] == "tvl1_fast"
  assert again.info.splits["train"].num_examples == again.info.splits["test"].num_examples == 1
  # The same name with another method: refused, naming both and what to pass; nothing touched.
  shards = {p.name: p.read_bytes() for p in builder.data_path.glob("*.tfrecord-*")}
  with pytest.raises(video_builder.FlowMethodMismatchError,
                     match=r"i3d_video_folder/mysports in .* was built with "
                           r"--flow_method=tvl1_fast .* asks for --flow_method=none.* "
                           r"--overwrite to rebuild it with none"):
    build("mysports", manual, data_dir, flow_method="none", shorter_side=None, max_seconds=None)
  assert {p.name: p.read_bytes() for p in builder.data_path.glob("*.tfrecord-*")} == shards
  # --overwrite rebuilds it with the new method, under the same name.
  build("mysports", manual, data_dir, overwrite=True, flow_method="none", shorter_side=None,
        max_seconds=None)
  data = training_flags.resolve_data("i3d_video_folder/mysports", str(data_dir))
  assert experiment.dataset_flow_method(data) == "none"
  # A build made before this, named <name>_<method>, still loads under that name.
  (data_dir / "i3d_video_folder" / "mysports").rename(
      data_dir / "i3d_video_folder" / "mysports_none")
  old = training_flags.resolve_data("i3d_video_folder/mysports_none", str(data_dir))
  assert old.num_classes == 2 and experiment.dataset_flow_method(old) == "none"


def test_dataset_names_and_errors():
  assert training_flags.tfds_name("ucf101", 2) == "i3d_ucf101/split2"
  assert training_flags.tfds_name("ucf101", dataset_config="split1_none_s128_max2s") == (
      "i3d_ucf101/split1_none_s128_max2s")
  assert training_flags.tfds_name("i3d_ucf101/split1_none_s128_max2s") == (
      "i3d_ucf101/split1_none_s128_max2s")
  assert training_flags.tfds_name("i3d_video_folder/a:1.0.0", dataset_config="b") == (
      "i3d_video_folder/b:1.0.0")
  assert training_flags.default_model_dir("i3d_rgb", "i3d_video_folder/a") == os.path.join(
      "runs", "i3d_rgb_i3d_video_folder_a")
  for bad in ("Kinetics400", "i3d_ucf101/", "../x", "a/b/c"):
    with pytest.raises(ValueError, match="or a built <builder>/<config>"):
      training_flags.check_dataset(bad)
  with pytest.raises(ValueError, match="set's name is letters"):
    building.make_builder("i3d_video_folder/bad name", "/tmp/unused")
  default = building.make_builder("i3d_video_folder", "/tmp/unused", test_fraction=0.3)
  assert (default.builder_config.name, default.builder_config.test_fraction) == ("default", 0.3)
  with pytest.raises(ValueError, match="i3d_ucf101 has no option test_fraction"):
    building.make_builder("i3d_ucf101/split1", "/tmp/unused", test_fraction=0.3)


def test_unknown_config_lists_the_built_ones_and_num_classes_must_agree(tmp_path):
  from i3d_tf.training import testing  # pylint: disable=import-outside-toplevel
  data_dir = str(tmp_path / "tfds")
  testing.write_tfds_layout(
      data_dir, "i3d_ucf101/split1_none_s128_max2s",
      splits={"train": testing.moving_square_examples(2, 6, 16, 3),
              "test": testing.moving_square_examples(2, 6, 16, 3)},
      class_names=["x", "y", "z"])
  data = training_flags.resolve_data("ucf101", data_dir, dataset_config="split1_none_s128_max2s")
  assert data.num_classes == 3
  with pytest.raises(FileNotFoundError, match="Built in .*: i3d_ucf101/split1_none_s128_max2s"):
    training_flags.resolve_data("ucf101", data_dir)  # split1 itself is not built
  with pytest.raises(ValueError, match="--num_classes=101, but .* has 3 classes"):
    training_flags.resolve_data("i3d_ucf101/split1_none_s128_max2s", data_dir, num_classes=101)


def test_tfds_cli_loads_the_builder_folder():
  """`tfds build datasets/i3d_video_folder` imports the folder on its own (no parent package)."""
  code = ("from tensorflow_datasets.scripts.cli import build as b; "
          "cls = b._get_builder_cls_and_kwargs('datasets/i3d_video_folder', has_imports=False)[0]; "
          "print(cls.name, cls.builder_config_cls.__name__)")
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.split() == ["i3d_video_folder", "VideoFolderConfig"]


def test_dataset_flags_reject_a_value_naming_the_valid_forms():
  from absl import flags  # pylint: disable=import-outside-toplevel
  values = flags.FlagValues()
  training_flags.define_dataset_flags(default="kinetics400", flag_values=values)
  values(["prog", "--dataset=i3d_ucf101/split1_none_s128_max2s"])
  assert values.dataset == "i3d_ucf101/split1_none_s128_max2s"
  values.unparse_flags()
  with pytest.raises(flags.IllegalFlagValueError, match="expected one of kinetics400.*"
                     "i3d_ucf101/split1_s128_max2s"):
    values(["prog", "--dataset=Kinetics400"])
  values.unparse_flags()
  with pytest.raises(flags.IllegalFlagValueError, match="--dataset_config='a/b': a config name"):
    values(["prog", "--dataset_config=a/b"])


@pytest.mark.slow
def test_local_and_beam_builds_of_a_listed_set_write_the_same_shards(tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from apache_beam.options import pipeline_options  # pylint: disable=import-outside-toplevel
  manual = make_listed_set(tmp_path / "manual")
  with open(manual / "videos.csv", "a") as f:
    f.write("clips/missing.mp4,board,test,,\n")
  (manual / "clips" / "garbage.mp4").write_bytes(b"\0" * 999)
  with open(manual / "videos.csv", "a") as f:
    f.write("clips/garbage.mp4,board,test,,\n")
  options = dict(SMALL, flow_method="tvl1_fast", num_workers=2)
  local = building.make_builder("i3d_video_folder/listed", str(tmp_path / "local"),
                                allow_missing=True, **options)
  building.build(local, manual_dir=str(manual))
  beam = building.make_builder("i3d_video_folder/listed", str(tmp_path / "beam"),
                               allow_missing=True, **options)
  beam.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual), try_download_gcs=False,
      beam_options=pipeline_options.PipelineOptions(["--runner=DirectRunner"])))
  for split, count in (("train", 4), ("test", 3)):
    records = [[r.numpy() for r in tf.data.TFRecordDataset(
        [str(f) for f in sorted(b.data_path.glob(f"*-{split}.tfrecord-*"))])]
        for b in (local, beam)]
    assert len(records[0]) == count and records[0] == records[1]
  skipped = video_builder.read_skipped(local.data_path)
  assert skipped == video_builder.read_skipped(beam.data_path)
  assert sorted(s["video_id"] for s in skipped) == ["clips/garbage", "clips/missing"]
  assert beam.info.features["label"].names == local.info.features["label"].names
