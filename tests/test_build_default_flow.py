"""Issue #19: new dataset builds default to tvl1_tf; sets built before keep their method and bytes.

Tiny generated videos (no ../shared needed): a new i3d_video_folder set built with no flow method
records tvl1_tf; a set built with tvl1 (what every build without --flow_method made before) is
found, reported and kept as tvl1 when rebuilt without the flag (nothing redone; --overwrite
rebuilds the same bytes), refused with another explicit method; i3d_ucf101/split1 keeps its name.
"""
import json

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")
cv2 = pytest.importorskip("cv2")

from datasets.common import building, video_builder  # noqa: E402
from i3d_tf.video import flow as flow_lib  # noqa: E402

_UCF_CLASSES = "datasets/i3d_ucf101/classes.txt"


def _write_video(path, shift, frames=3, size=(64, 48)):
  """An MJPG .avi of `frames` frames at 25 fps: a textured square moving `shift` px a frame."""
  path.parent.mkdir(parents=True, exist_ok=True)
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
  texture = np.random.default_rng(shift).integers(0, 255, (16, 16, 3), dtype=np.uint8)
  for t in range(frames):
    frame = np.full((size[1], size[0], 3), 40, np.uint8)  # [H, W, 3]
    x = 8 + shift * t
    frame[16:32, x:x + 16] = texture
    writer.write(frame)
  writer.release()
  assert path.stat().st_size > 0, f"{path}: OpenCV wrote no MJPG video"


def _build(dataset, data_dir, manual_dir, overwrite=False, **options):
  builder = building.make_builder(dataset, str(data_dir), num_workers=0, **options)
  return builder, building.build(builder, str(manual_dir), overwrite=overwrite)


def _files(version_dir, pattern):
  return {p.name: p.read_bytes() for p in sorted(version_dir.glob(pattern))}


def test_new_sets_default_to_tvl1_tf_and_built_sets_keep_theirs(tmp_path, monkeypatch):
  manual = tmp_path / "manual"
  for i, label in enumerate(("left", "right", "left", "right")):
    _write_video(manual / label / f"clip{i}.avi", shift=1 + i)
  data_dir = tmp_path / "tfds"

  # A new set, no method given: flow.DEFAULT_METHOD computes its flow (the real one, watched for
  # the method asked), recorded in metadata.json and in each example.
  assert flow_lib.DEFAULT_METHOD == "tvl1_tf"
  compute_flow, methods = flow_lib.compute_flow, []

  def recording_flow(frames, method, *args, **kwargs):  # [T, H, W, 3] -> [T, H, W, 2]
    methods.append(method)
    return compute_flow(frames, method, *args, **kwargs)

  monkeypatch.setattr(flow_lib, "compute_flow", recording_flow)
  new, result = _build("i3d_video_folder/fresh", data_dir, manual, shorter_side=32)
  monkeypatch.setattr(flow_lib, "compute_flow", compute_flow)
  assert methods == ["tvl1_tf"] * 4
  metadata = json.loads((new.data_path / "metadata.json").read_text())
  assert metadata["flow_method"] == "tvl1_tf"
  assert metadata["flow_settings"] == flow_lib.method_settings("tvl1_tf")
  assert "(flow tvl1_tf, " in building.format_summary(new, result)
  [example] = tfds.as_numpy(new.as_dataset(split="test").take(1))
  assert example["flow_method"] == b"tvl1_tf"

  # A set built with tvl1, as every build without --flow_method was before issue 19.
  old, _ = _build("i3d_video_folder/old", data_dir, manual, shorter_side=32, flow_method="tvl1")
  shards = _files(old.data_path, "*.tfrecord-*")
  assert shards and json.loads((old.data_path / "metadata.json").read_text())["flow_method"] == (
      "tvl1")
  # Run again without the flag: it is tvl1 (its metadata.json), found built, nothing redone.
  again, result = _build("i3d_video_folder/old", data_dir, manual, shorter_side=32)
  assert again.flow_method == "tvl1" and again.info.metadata["flow_method"] == "tvl1"
  summary = building.format_summary(again, result)
  assert "(flow tvl1, " in summary and "already built: nothing to do" in summary
  assert _files(old.data_path, "*.tfrecord-*") == shards
  # Another method asked for explicitly: refused as before, nothing touched.
  with pytest.raises(video_builder.FlowMethodMismatchError,
                     match=r"was built with --flow_method=tvl1 .*asks for --flow_method=tvl1_tf"):
    _build("i3d_video_folder/old", data_dir, manual, shorter_side=32, flow_method="tvl1_tf")
  assert _files(old.data_path, "*.tfrecord-*") == shards
  # --overwrite without the flag rebuilds it with its recorded method: the same bytes.
  rebuilt, result = _build("i3d_video_folder/old", data_dir, manual, overwrite=True,
                           shorter_side=32)
  assert rebuilt.flow_method == "tvl1" and result["splits"]["train"]["examples"] == 2
  assert json.loads((old.data_path / "metadata.json").read_text())["flow_method"] == "tvl1"
  assert _files(old.data_path, "*.tfrecord-*") == shards
  # The new tvl1_tf set asked for tvl1: refused too (one method per named set).
  with pytest.raises(video_builder.FlowMethodMismatchError, match=r"built with --flow_method="
                     r"tvl1_tf .*asks for --flow_method=tvl1\. "):
    _build("i3d_video_folder/fresh", data_dir, manual, shorter_side=32, flow_method="tvl1")


def _ucf_tree(manual):
  """UCF-101's layout with its 101 classes, one generated clip per split."""
  from tests.conftest import REPO_ROOT  # pylint: disable=import-outside-toplevel
  classes = (REPO_ROOT / _UCF_CLASSES).read_text().split()
  lists = manual / "ucfTrainTestlist"
  lists.mkdir(parents=True)
  (lists / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(classes, 1)))
  (lists / "trainlist01.txt").write_text("Archery/v_Archery_g08_c01.avi 3\r\n")
  (lists / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\r\n")
  for name, shift in (("v_Archery_g08_c01", 2), ("v_Archery_g01_c01", 3)):
    _write_video(manual / "UCF-101" / "Archery" / f"{name}.avi", shift, frames=2)


def test_registered_names_keep_finding_builds_made_before(tmp_path):
  """i3d_ucf101/split1: no flag is still `split1` (tvl1_tf when new), --flow_method=tvl1 is
  `split1` (where builds before issue 19 are), other methods join the name as before."""
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import experiment  # pylint: disable=import-outside-toplevel
  data_dir = tmp_path / "tfds"
  names = {method: building.make_builder("i3d_ucf101/split1", str(data_dir), flow_method=method)
           for method in (None, "tvl1", "tvl1_tf", "tvl1_fast")}
  assert {m: (b.builder_config.name, b.flow_method) for m, b in names.items()} == {
      None: ("split1", "tvl1_tf"), "tvl1": ("split1", "tvl1"),
      "tvl1_tf": ("split1_tvl1_tf", "tvl1_tf"), "tvl1_fast": ("split1_tvl1_fast", "tvl1_fast")}
  # synthetic_motion's recipes keep their own methods.
  assert building.make_builder("synthetic_motion/small", str(data_dir)).flow_method == "tvl1_fast"
  assert building.make_builder("synthetic_motion/standard", str(data_dir)).flow_method == "tvl1"

  # split1 as a build before issue 19 made it (tvl1, at its 256-px shorter side; 1 pair a clip).
  manual = tmp_path / "manual"
  _ucf_tree(manual)
  old, _ = _build("i3d_ucf101/split1", data_dir, manual, flow_method="tvl1")
  assert old.data_path.parts[-3:] == ("i3d_ucf101", "split1", "1.0.0")
  shards = _files(old.data_path, "*.tfrecord-*")
  # Training's reader finds it by the same name, and says its method.
  data = training_flags.resolve_data("i3d_ucf101/split1", str(data_dir))
  assert data.num_classes == 101 and experiment.dataset_flow_method(data) == "tvl1"
  # The same command without the flag uses it as it is.
  again, result = _build("i3d_ucf101/split1", data_dir, manual)
  assert again.flow_method == "tvl1" and not result["splits"]
  assert _files(old.data_path, "*.tfrecord-*") == shards
