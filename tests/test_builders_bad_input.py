"""Bad input never crashes a build or loses data silently: clear errors, skipped.tsv, reruns."""
import shutil

import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets import i3d_ucf101  # noqa: E402
from datasets.common import sample_trees, video_builder, video_example  # noqa: E402
from datasets.i3d_ucf101.i3d_ucf101_dataset_builder import Ucf101Config  # noqa: E402
from tests.conftest import shared_path  # noqa: E402

TAICHI = [f"TaiChi/v_TaiChi_g{g:02d}_c0{c}.avi" for g in (8, 9) for c in (1, 2, 3, 4)]
TEST_CLIP = "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"


def _config(name="split1_tiny", **overrides):
  return Ucf101Config(**{**dict(name=name, split_number=1, shorter_side=32, flow_method="none",
                                max_seconds=0.4), **overrides})


def _tree(tmp_path, train_clips):
  videos = lambda name: shared_path("testdata", "videos", name)  # noqa: E731
  clips = {rel: videos(src) for rel, src in train_clips.items()}
  clips[TEST_CLIP] = videos("v_ApplyEyeMakeup_g01_c01.avi")
  return sample_trees.make_ucf101_tree(tmp_path / "manual",
                                       shared_path("testdata", "splits", "ucf101"), clips)


def _build(tmp_path, manual_dir, config=None, **builder_kwargs):
  builder = i3d_ucf101.Builder(config=config or _config(), data_dir=str(tmp_path / "data"),
                               **builder_kwargs)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual_dir), try_download_gcs=False))
  return builder


def _video_ids(builder, split):
  return sorted(e["video_id"].decode() for e in tfds.as_numpy(builder.as_dataset(split=split)))


def test_missing_manual_dir_shows_the_expected_layout(tmp_path):
  with pytest.raises(AssertionError, match=r"(?s)does not exist.*UCF-101/<Class>/v_<Class>_gXX_cYY"
                     r".avi.*ucfTrainTestlist/classInd.txt"):
    _build(tmp_path, tmp_path / "nowhere", num_workers=0)
  (tmp_path / "empty_but_for" / "something").mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match=r"(?s)split files not found.*trainlist0N.txt"):
    _build(tmp_path, tmp_path / "empty_but_for", num_workers=0)


def test_missing_videos_error_names_the_first_few(tmp_path):
  manual = _tree(tmp_path, {rel: "tai_chi.mp4" for rel in TAICHI})
  for rel in TAICHI[1:]:  # 7 of 9 listed videos are gone
    (manual / "UCF-101" / rel).unlink()
  with pytest.raises(FileNotFoundError, match=r"(?s)7 of 8 videos .*v_TaiChi_g08_c02.avi, "
                     r"v_TaiChi_g08_c03.avi, .* and 2 more.*UCF-101/<Class>.*--allow_missing"):
    _build(tmp_path, manual, num_workers=0)

  builder = _build(tmp_path, manual, num_workers=0, allow_missing=True)
  assert _video_ids(builder, "train") == ["v_TaiChi_g08_c01"]
  assert builder.build_summary["train"]["missing"] == 7
  assert builder.build_summary["train"]["built"] == 1
  rows = video_builder.read_skipped(builder.data_path)
  assert sorted(r["video_id"] for r in rows) == sorted(r.split("/")[1][:-4] for r in TAICHI[1:])
  assert all(r["reason"].startswith("missing") and r["split"] == "train" for r in rows)


def test_unreadable_truncated_and_empty_videos_are_skipped_and_recorded(tmp_path):
  good, truncated, garbage, empty = TAICHI[:4]
  manual = _tree(tmp_path, {rel: "tai_chi.mp4" for rel in (good, truncated, garbage, empty)})
  for rel in (truncated, garbage, empty):
    (manual / "UCF-101" / rel).unlink()  # a symlink to ../shared: never write through it
  avi = shared_path("testdata", "videos", "v_ApplyEyeMakeup_g01_c01.avi").read_bytes()
  (manual / "UCF-101" / truncated).write_bytes(avi[:len(avi) // 2])  # header says 164 frames
  (manual / "UCF-101" / garbage).write_bytes(b"this is not a video\n" * 50)
  (manual / "UCF-101" / empty).write_bytes(b"")
  # Whole clips (no max_seconds), so the truncated file is read up to where it breaks.
  builder = _build(tmp_path, manual, _config("split1_whole", max_seconds=None), num_workers=2)
  assert _video_ids(builder, "train") == ["v_TaiChi_g08_c01"]
  assert _video_ids(builder, "test") == ["v_ApplyEyeMakeup_g01_c01"]
  summary = builder.build_summary["train"]
  assert (summary["listed"], summary["built"], summary["skipped"]) == (4, 1, 3)
  rows = {r["video_id"]: r for r in video_builder.read_skipped(builder.data_path)}
  assert sorted(rows) == sorted(r.split("/")[1][:-4] for r in (truncated, garbage, empty))
  assert "truncated" in rows["v_TaiChi_g08_c02"]["reason"]
  for r in rows.values():
    assert r["path"].endswith(r["video_id"] + ".avi") and r["reason"]


def test_an_interrupted_build_reruns_to_completion_without_duplicates(tmp_path, monkeypatch):
  manual = _tree(tmp_path, {rel: "tai_chi.mp4" for rel in TAICHI[:3]})
  real_process = video_example.process_video
  calls = []

  def killed_on_the_second_video(item, options):
    calls.append(item.key)
    if len(calls) == 2:
      raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
    return real_process(item, options)

  monkeypatch.setattr(video_example, "process_video", killed_on_the_second_video)
  with pytest.raises(KeyboardInterrupt):
    _build(tmp_path, manual, num_workers=0)
  monkeypatch.setattr(video_example, "process_video", real_process)
  dataset_dir = tmp_path / "data" / "i3d_ucf101" / "split1_tiny"
  # A killed process (kill -9) would also leave its incomplete dir behind: simulate one.
  stale = dataset_dir / "incomplete.XXXXXX_1.0.0"
  stale.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(manual / "ucfTrainTestlist" / "classInd.txt",
                  stale / "i3d_ucf101-train.tfrecord-00000-of-00001")
  assert not (dataset_dir / "1.0.0").exists()

  builder = _build(tmp_path, manual, num_workers=0)
  assert _video_ids(builder, "train") == sorted(r.split("/")[1][:-4] for r in TAICHI[:3])
  assert builder.info.splits["train"].num_examples == 3
  assert _video_ids(builder, "test") == ["v_ApplyEyeMakeup_g01_c01"]
