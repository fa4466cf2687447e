"""Your own videos listed: class folders, split folders, CSV/TSV lists, and the stratified split.

Pure Python (datasets/common/video_lists.py imports neither TensorFlow nor TFDS): the files are
empty placeholders, nothing is decoded here (tests/test_video_folder_builder.py builds real clips).
"""
import collections
import pathlib
import sys

import pytest

from datasets.common import video_lists


def _touch(root, *relative):
  for rel in relative:
    path = pathlib.Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def _keys_labels(sizes):
  keys, labels = [], []
  for label, n in sizes.items():
    for i in range(n):
      keys.append(f"{label}/clip_{i:03d}")
      labels.append(label)
  return keys, labels


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.5, 0.95])
def test_stratified_split_keeps_every_class_with_two_videos_on_both_sides(fraction):
  sizes = {"dribble": 2, "shoot": 3, "pass": 5, "tackle": 10, "header": 37, "solo": 1}
  keys, labels = _keys_labels(sizes)
  drawn = video_lists.stratified_split(keys, labels, fraction, seed=7)
  per_class = collections.defaultdict(collections.Counter)
  for key, label in zip(keys, labels):
    per_class[label][drawn[key]] += 1
  for label, n in sizes.items():
    if n >= 2:
      assert per_class[label]["train"] >= 1 and per_class[label]["test"] >= 1, (label, fraction)
      # round half up, at least one video on each side
      assert per_class[label]["test"] == min(max(int(n * fraction + 0.5), 1), n - 1)
    else:
      assert per_class[label] == {"train": 1}  # a lone video trains
  assert per_class["pass"]["test"] == {0.05: 1, 0.2: 1, 0.5: 3, 0.95: 4}[fraction]


def test_stratified_split_is_seeded_and_independent_of_order_and_other_classes():
  keys, labels = _keys_labels({"a": 20, "b": 20})
  first = video_lists.stratified_split(keys, labels, 0.3, seed=0)
  assert first == video_lists.stratified_split(keys[::-1], labels[::-1], 0.3, seed=0)
  assert first != video_lists.stratified_split(keys, labels, 0.3, seed=1)
  more_keys, more_labels = _keys_labels({"a": 20, "b": 20, "c": 9})
  with_c = video_lists.stratified_split(more_keys, more_labels, 0.3, seed=0)
  assert {k: with_c[k] for k in first} == first
  with pytest.raises(ValueError, match="test_fraction=1.0"):
    video_lists.stratified_split(keys, labels, 1.0)


def test_class_folders_give_sorted_classes_and_a_stratified_split(tmp_path):
  _touch(tmp_path, "walk/a.mp4", "walk/b.MP4", "walk/sub/c.avi", "run/a.mkv", "run/b.webm",
         "run/notes.txt", "run/.hidden.mp4", "Jump/x.mov", "Jump/y.mov", "empty/readme.md",
         "labels.json")
  listing = video_lists.list_labelled_videos(tmp_path, test_fraction=0.5, seed=3)
  assert listing.class_names == ["Jump", "run", "walk"]  # sorted; an empty folder is no class
  assert listing.source == "class folders" and listing.splits_from == "stratified"
  everything = listing.splits["train"] + listing.splits["test"]
  assert sorted(v.key for v in everything) == [
      "Jump/x", "Jump/y", "run/a", "run/b", "walk/a", "walk/b", "walk/sub/c"]
  for split in ("train", "test"):
    assert {v.label for v in listing.splits[split]} == {"Jump", "run", "walk"}
  assert all(pathlib.Path(v.path).is_absolute() and v.path.endswith((".mp4", ".MP4", ".avi",
                                                                     ".mkv", ".webm", ".mov"))
             for v in everything)


def test_split_folders_are_taken_as_given(tmp_path):
  _touch(tmp_path, "train/walk/a.mp4", "train/run/a.mp4", "val/walk/b.mp4", "test/run/c.mp4",
         "test/swim/d.mp4")
  listing = video_lists.list_labelled_videos(tmp_path)
  assert listing.splits_from == "given" and listing.source == "split folders"
  assert listing.class_names == ["run", "swim", "walk"]
  assert {s: sorted(v.key for v in vs) for s, vs in listing.splits.items()} == {
      "train": ["train/run/a", "train/walk/a"], "validation": ["val/walk/b"],
      "test": ["test/run/c", "test/swim/d"]}


def test_folder_layout_errors_name_what_is_wrong(tmp_path):
  _touch(tmp_path / "mixed", "train/walk/a.mp4", "walk/b.mp4")
  with pytest.raises(ValueError, match="mixes split folders"):
    video_lists.list_labelled_videos(tmp_path / "mixed")
  _touch(tmp_path / "loose", "walk/a.mp4", "b.mp4")
  with pytest.raises(ValueError, match=r"videos outside any class folder \(b.mp4\)"):
    video_lists.list_labelled_videos(tmp_path / "loose")
  _touch(tmp_path / "none", "walk/a.txt")
  with pytest.raises(ValueError, match="no videos found"):
    video_lists.list_labelled_videos(tmp_path / "none")
  _touch(tmp_path / "no_train", "test/walk/a.mp4")
  with pytest.raises(ValueError, match="no 'train' videos"):
    video_lists.list_labelled_videos(tmp_path / "no_train")
  with pytest.raises(FileNotFoundError, match="is not a folder"):
    video_lists.list_labelled_videos(tmp_path / "absent")


def test_csv_list_with_relative_and_absolute_paths_splits_and_times(tmp_path):
  elsewhere = tmp_path / "elsewhere" / "far.mp4"
  _touch(tmp_path, "elsewhere/far.mp4")
  manual = tmp_path / "manual"
  manual.mkdir()
  (manual / "videos.csv").write_text(
      "# my set\n"
      "clips/a.mp4,walk,train\n"
      "\n"
      f"{elsewhere},run,test\n"
      "clips/a.mp4,run,train,1.5,4\n"
      "clips/b.mp4,walk,val,,3\n")
  listing = video_lists.list_labelled_videos(manual)
  assert listing.source == str(manual / "videos.csv") and listing.splits_from == "given"
  assert listing.class_names == ["run", "walk"]
  by_key = {v.key: v for vs in listing.splits.values() for v in vs}
  assert sorted(by_key) == ["clips/a", "clips/a_1.5_4", "clips/b_0_3",
                            str(elsewhere.with_suffix("")).lstrip("/")]
  assert by_key["clips/a"].path == str(manual / "clips" / "a.mp4")
  assert (by_key["clips/a_1.5_4"].start_s, by_key["clips/a_1.5_4"].end_s) == (1.5, 4.0)
  assert by_key["clips/b_0_3"].split == "validation" and by_key["clips/b_0_3"].start_s is None
  assert by_key["clips/a"].source.endswith("videos.csv:2")


def test_tsv_list_with_a_header_and_numeric_labels_drawn_split(tmp_path):
  rows = ["file\tclass\tstart_s\tend_s"] + [f"v{i}.avi\t{i % 3 * 5}\t0\t2" for i in range(12)]
  (tmp_path / "list.tsv").write_text("\n".join(rows) + "\n")
  listing = video_lists.list_labelled_videos(tmp_path, test_fraction=0.25, seed=0)
  assert listing.class_names == ["0", "5", "10"]  # numeric order, not '10' < '5'
  assert listing.splits_from == "stratified"
  for split in ("train", "test"):
    assert {v.label for v in listing.splits[split]} == {"0", "5", "10"}
  assert len(listing.splits["test"]) == 3


@pytest.mark.parametrize("text,message", [
    ("a.mp4\n", "expected 2 to 5 fields"),
    ("a.mp4,walk,train,1,2,3\n", "expected 2 to 5 fields"),
    ("a.mp4,walk,tain\n", "unknown split 'tain'"),
    ("a.mp4,walk,3,2\n", "end 2 s is not after start 3 s"),
    ("a.mp4,walk,x,2\n", "start 'x' is not a number"),
    ("a.mp4,walk,train\nb.mp4,run\n", "no split, while other rows give one"),
    ("a.mp4,walk\n./a.mp4,run\n", "already listed on line 1"),
    ("path,label,colour\na.mp4,walk,red\n", r"unknown column\(s\) \['colour'\]"),
    ("a.mp4,\n", "needs a path and a label"),
    ("# nothing\n", "lists no videos"),
])
def test_list_errors_name_the_line(tmp_path, text, message):
  (tmp_path / "videos.csv").write_text(text)
  with pytest.raises(ValueError, match=message) as error:
    video_lists.list_labelled_videos(tmp_path)
  assert "videos.csv" in str(error.value)


def test_which_list_is_read(tmp_path):
  _touch(tmp_path, "walk/a.mp4", "walk/b.mp4")
  (tmp_path / "one.csv").write_text("walk/a.mp4,walk\nwalk/b.mp4,walk\n")
  (tmp_path / "two.tsv").write_text("walk/a.mp4\trun\nwalk/b.mp4\trun\n")
  with pytest.raises(ValueError, match="several lists .*--list_file"):
    video_lists.list_labelled_videos(tmp_path)
  assert video_lists.list_labelled_videos(tmp_path, list_file="two.tsv").class_names == ["run"]
  assert video_lists.list_labelled_videos(tmp_path, list_file=str(tmp_path / "one.csv")).class_names == [
      "walk"]
  with pytest.raises(FileNotFoundError, match="three.csv"):
    video_lists.list_labelled_videos(tmp_path, list_file="three.csv")


def test_listing_imports_no_tensorflow():
  import subprocess  # pylint: disable=import-outside-toplevel
  from tests.conftest import REPO_ROOT  # pylint: disable=import-outside-toplevel
  result = subprocess.run(
      [sys.executable, "-c", "import sys; from datasets.common import video_lists; "
       "print('tensorflow' in sys.modules, 'tensorflow_datasets' in sys.modules)"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
  assert result.stdout.split() == ["False", "False"], result.stderr[-2000:]
