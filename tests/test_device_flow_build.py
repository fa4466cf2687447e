"""Local builds with a TensorFlow flow method (datasets/common/device_flow.py): pool workers decode
and encode, the build's process (or its flow processes, flow_devices.py) batch frame pairs across
videos. Same shard bytes and skips as the flow computed with each video (`compute_flow`, the
in-process build); the workers never load TensorFlow; workers and flow processes die with a killed
build, and a dead flow process ends the build naming it."""
import os
import signal
import time

import cv2
import numpy as np
import psutil
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from datasets import synthetic_motion  # noqa: E402
from datasets.common import building, device_flow, flow_devices, video_builder  # noqa: E402
from i3d_tf.video import synthetic  # noqa: E402
from tests import test_build_faults  # noqa: E402

# One frame size for every build: the TensorFlow TV-L1 is traced once per process and size. 16 px
# high: one pyramid level (tvl1.pyramid_sizes), an XLA program ~3x quicker to compile than 24x32's
# two levels, and each process compiles one per batch size it meets.
_HEIGHT, _WIDTH = 16, 24


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


@pytest.fixture
def batch_sizes(monkeypatch):
  """The pairs in each batch the build's process hands to its flow processes."""
  sizes = []
  real = flow_devices.ProcessDevices.submit

  def recording(self, batch_id, frames0, frames1):
    sizes.append(len(frames0))
    return real(self, batch_id, frames0, frames1)
  monkeypatch.setattr(flow_devices.ProcessDevices, "submit", recording)
  return sizes


def test_flow_processes_batch_pairs_across_videos_same_shards_as_flow_per_video(tmp_path,
                                                                                 batch_sizes):
  # Two frame sizes (pairs batch only with pairs of their size), 4 pairs per video, a broken file.
  root = tmp_path / "videos"
  for label, name in enumerate(("left", "right")):
    for i in range(3):
      width = _WIDTH if i < 2 else _WIDTH + 8
      _write_avi(root / name / f"{name}{i}.avi",
                 synthetic.make_video(label, 10 * label + i, 5, _HEIGHT, width))
  (root / "left" / "broken.avi").write_bytes(b"not a video" * 50)
  builders = {}
  for workers, flow_processes in ((2, 2), (0, None)):
    builder = building.make_builder("i3d_video_folder/flowprocs", str(tmp_path / f"w{workers}"),
                                    num_workers=workers, flow_method="tvl1_tf",
                                    shorter_side=_HEIGHT, flow_processes=flow_processes)
    building.build(builder, manual_dir=str(root))
    builders[workers] = builder
  assert sum(s.num_examples for s in builders[2].info.splits.values()) == 6
  shards = _shard_bytes(builders[2])
  assert shards and shards == _shard_bytes(builders[0])
  skipped = video_builder.read_skipped(builders[2].data_path)
  assert [row["path"].rsplit("/", 1)[-1] for row in skipped] == ["broken.avi"]
  assert skipped == video_builder.read_skipped(builders[0].data_path)
  # Every pair went through the flow processes (6 videos x 4 pairs), some batches held the pairs
  # of several videos.
  assert sum(batch_sizes) == 24 and max(batch_sizes) > 4, batch_sizes


def _flow_processes_of(proc):
  """The children of `proc` that have loaded TensorFlow (its flow processes), and its pool
  workers (the others but multiprocessing's resource tracker)."""
  with_tf, without = [], []
  for child in proc.children():
    try:
      if "resource_tracker" in " ".join(child.cmdline()):
        continue
      loaded = any("tensorflow" in m.path for m in child.memory_maps())
    except psutil.NoSuchProcess:
      continue
    (with_tf if loaded else without).append(child)
  return with_tf, without


def test_kill_9_of_a_build_with_flow_processes_leaves_none(tmp_path):
  config_dir = tmp_path / "data" / "synthetic_motion" / "faults"
  parent = test_build_faults._start_build(  # pylint: disable=protected-access
      tmp_path / "data", num_train=40, workers=2, frames=16, size=64, flow="tvl1_tf",
      flow_processes=2)
  proc = psutil.Process(parent.pid)
  try:
    test_build_faults._wait_for(  # pylint: disable=protected-access
        lambda: len(_flow_processes_of(proc)[0]) == 2, 120, "the build's 2 flow processes")
  except BaseException:
    parent.kill()
    raise

  def tensorflow_in_the_flow_processes_only(unused_proc, children):
    with_tf, without = _flow_processes_of(proc)
    assert len(with_tf) == 2 and len(without) == 2, (with_tf, without)

  test_build_faults.kill_9_mid_build(parent, config_dir, settle_s=1.0,
                                     while_running=tensorflow_in_the_flow_processes_only)


def test_a_dead_flow_process_ends_the_build_naming_it(tmp_path):
  parent = test_build_faults._start_build(  # pylint: disable=protected-access
      tmp_path / "data", num_train=40, workers=2, frames=16, size=64, flow="tvl1_tf",
      flow_processes=2)
  proc = psutil.Process(parent.pid)
  children = []
  try:
    test_build_faults._wait_for(  # pylint: disable=protected-access
        lambda: len(_flow_processes_of(proc)[0]) == 2, 120, "the build's 2 flow processes")
    time.sleep(1.0)
    children = proc.children(recursive=True)
    victim = _flow_processes_of(proc)[0][0]
    os.kill(victim.pid, signal.SIGKILL)  # as the kernel's OOM killer would
    out, _ = parent.communicate(timeout=60)
    assert parent.returncode != 0, out
    assert "FlowDeviceLost" in out and f"pid {victim.pid}" in out, out[-3000:]
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"processes left 10 s after the build ended: {alive}"
    assert "BUILT" not in out
  finally:
    if parent.poll() is None:
      parent.kill()
    for child in children:
      try:
        child.kill()
      except psutil.NoSuchProcess:
        pass
