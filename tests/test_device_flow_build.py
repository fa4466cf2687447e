"""Local builds with a TensorFlow flow method (datasets/common/device_flow.py): pool workers decode
and encode, the build's process runs the flow. Same shard bytes and skips as the flow computed
with each video (`compute_flow`, the in-process build); the workers never load TensorFlow and die
with a killed build."""
import cv2
import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets import synthetic_motion  # noqa: E402
from datasets.common import building, device_flow, video_builder  # noqa: E402
from i3d_tf.video import synthetic  # noqa: E402
from tests import test_build_faults  # noqa: E402

# One frame size for every build: the TensorFlow TV-L1 is traced once per process and size.
_HEIGHT, _WIDTH = 24, 32


def _shard_bytes(builder):
  return {p.name: p.read_bytes() for p in sorted(builder.data_path.glob("*.tfrecord-*"))}


@pytest.fixture
def flow_calls(monkeypatch):
  """How many builds went through device_flow.results (the flow in the build's process)."""
  calls = []
  real = device_flow.results

  def counting(*args, **kwargs):
    calls.append(1)
    return real(*args, **kwargs)
  monkeypatch.setattr(device_flow, "results", counting)
  return calls


def _write_avi(path, frames):
  path.parent.mkdir(parents=True, exist_ok=True)
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0,
                           (frames.shape[2], frames.shape[1]))
  for frame in frames:
    writer.write(np.ascontiguousarray(frame[..., ::-1]))
  writer.release()


def test_video_files_same_shards_and_skips_as_flow_per_video(tmp_path, flow_calls):
  root = tmp_path / "videos"
  for label, name in enumerate(("left", "right")):
    for i in range(2):
      _write_avi(root / name / f"{name}{i}.avi",
                 synthetic.make_video(label, 10 * label + i, 5, _HEIGHT, _WIDTH))
  (root / "right" / "broken.avi").write_bytes(b"not a video" * 50)
  builders = {}
  for workers in (2, 0):  # 2: device_flow; 0: everything in this process, compute_flow per video
    builder = building.make_builder("i3d_video_folder/flowtest", str(tmp_path / f"w{workers}"),
                                    num_workers=workers, flow_method="tvl1_tf",
                                    shorter_side=_HEIGHT)
    building.build(builder, manual_dir=str(root))
    builders[workers] = builder
  assert len(flow_calls) == 2  # one per split of the 2-worker build
  assert sum(s.num_examples for s in builders[2].info.splits.values()) == 4
  shards = _shard_bytes(builders[2])
  assert shards and shards == _shard_bytes(builders[0])
  skipped = video_builder.read_skipped(builders[2].data_path)
  assert len(skipped) == 1 and skipped[0]["path"].endswith("broken.avi")
  assert skipped == video_builder.read_skipped(builders[0].data_path)
  flow = next(iter(tfds.as_numpy(builders[2].as_dataset(split="train"))))["flow"]
  assert np.abs(flow[..., :2].astype(int) - 127).max() > 5  # the objects move


def test_generated_clips_same_shards_as_flow_per_video(tmp_path, flow_calls):
  config = synthetic_motion.SyntheticConfig(
      name="tiny_device_flow", flow_method="tvl1_tf", num_train=2, num_test=2, num_frames=4,
      height=_HEIGHT, width=_WIDTH)
  shards = {}
  for workers in (2, 0):
    builder = synthetic_motion.Builder(config=config, data_dir=str(tmp_path / f"w{workers}"),
                                       num_workers=workers)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    shards[workers] = _shard_bytes(builder)
  assert len(flow_calls) == 2
  assert shards[2] and shards[2] == shards[0]


def test_kill_9_of_a_tvl1_tf_build_leaves_no_workers(tmp_path):
  config_dir = tmp_path / "data" / "synthetic_motion" / "faults"
  parent = test_build_faults._start_build(  # pylint: disable=protected-access
      tmp_path / "data", num_train=40, workers=2, frames=16, size=64, flow="tvl1_tf")

  def flow_in_the_build_process_only(proc, workers):
    # The flow runs in the build's process: no worker loads TensorFlow to compete for the cores.
    assert any("tensorflow" in m.path for m in proc.memory_maps())
    for worker in workers:
      assert not [m.path for m in worker.memory_maps() if "tensorflow" in m.path], worker

  # 1 s in, the build's process runs the flow and its workers decode ahead.
  test_build_faults.kill_9_mid_build(parent, config_dir, settle_s=1.0,
                                     while_running=flow_in_the_build_process_only)
