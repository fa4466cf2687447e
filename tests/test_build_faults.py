"""Builds under faults (issue #12 items 1-4), on real processes and real files.

An all-unreadable split, kill -9 of a build with its pool workers, the killed build's leftovers,
and two first builds of one cache racing each other.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

tfds = pytest.importorskip("tensorflow_datasets")
psutil = pytest.importorskip("psutil")

from datasets import i3d_ucf101  # noqa: E402
from datasets.common import build_lock, video_builder  # noqa: E402
from datasets.i3d_ucf101.i3d_ucf101_dataset_builder import Ucf101Config  # noqa: E402
from i3d_tf.data import records  # noqa: E402
from tests.conftest import REPO_ROOT  # noqa: E402
from tests.test_builders_bad_input import TAICHI, TEST_CLIP, _tree  # noqa: E402


def _ucf_build(tmp_path, manual, **builder_kwargs):
  config = Ucf101Config(name="split1_tiny", split_number=1, shorter_side=32, flow_method="none",
                        max_seconds=0.4)
  builder = i3d_ucf101.Builder(config=config, data_dir=str(tmp_path / "data"), **builder_kwargs)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual), try_download_gcs=False))
  return builder


def _make_unreadable(manual, rel):
  path = manual / "UCF-101" / rel
  path.unlink()  # a symlink to ../shared: never write through it
  path.write_bytes(b"this is not a video\n" * 50)


def test_a_split_with_no_decodable_video_is_left_out_and_the_others_kept(tmp_path):
  manual = _tree(tmp_path, {rel: "tai_chi.mp4" for rel in TAICHI[:2]})
  _make_unreadable(manual, TEST_CLIP)  # the test split's only video
  builder = _ucf_build(tmp_path, manual, num_workers=2)

  assert list(builder.info.splits) == ["train"]
  assert builder.info.splits["train"].num_examples == 2
  assert builder.empty_splits == {"test": 1}
  rows = video_builder.read_skipped(builder.data_path)
  assert [(r["split"], r["video_id"]) for r in rows] == [("test", "v_ApplyEyeMakeup_g01_c01")]
  data_dir, name = tmp_path / "data", "i3d_ucf101/split1_tiny"
  assert len(records.list_shards(data_dir, name, "train")) == 1
  with pytest.raises(ValueError, match=r"split 'test' of .*split1_tiny/1.0.0 was built empty: none "
                     r"of its 1 videos could be decoded \(see skipped.tsv"):
    records.list_shards(data_dir, name, "test")


def test_a_build_with_no_decodable_video_at_all_says_so(tmp_path):
  manual = _tree(tmp_path, {TAICHI[0]: "tai_chi.mp4"})
  for rel in (TAICHI[0], TEST_CLIP):
    _make_unreadable(manual, rel)
  with pytest.raises(ValueError, match=r"i3d_ucf101/split1_tiny: no split has a decodable video "
                     r"\(test: 1 listed, train: 1 listed\); nothing was written. First reasons: "
                     r"v_TaiChi_g08_c01.avi: "):
    _ucf_build(tmp_path, manual, num_workers=0)


@pytest.mark.slow
def test_on_beam_a_split_with_no_decodable_video_fails_naming_it(tmp_path):
  from apache_beam.options import pipeline_options  # pylint: disable=import-outside-toplevel
  manual = _tree(tmp_path, {rel: "tai_chi.mp4" for rel in TAICHI[:2]})
  _make_unreadable(manual, TEST_CLIP)
  config = Ucf101Config(name="split1_tiny", split_number=1, shorter_side=32, flow_method="none",
                        max_seconds=0.4)
  builder = i3d_ucf101.Builder(config=config, data_dir=str(tmp_path / "data"))
  with pytest.raises(ValueError, match=r"i3d_ucf101/split1_tiny: split 'test' has no decodable "
                     r"video \(of 1 listed\). A Beam build .* build without --beam"):
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(manual), try_download_gcs=False,
        beam_options=pipeline_options.PipelineOptions(["--runner=DirectRunner"])))


# --- real processes --------------------------------------------------------------------------

_SYNTHETIC_BUILD = textwrap.dedent("""
  import sys, time, pathlib
  from datasets.synthetic_motion import synthetic_motion_dataset_builder as sm
  import tensorflow_datasets as tfds
  data_dir, num_train, workers, go, frames, size, flow, embedded, flow_processes = sys.argv[1:]
  config = sm.SyntheticConfig(name="faults", flow_method=flow, num_train=int(num_train),
                              num_test=4, num_frames=int(frames), height=int(size), width=int(size))
  builder = sm.Builder(config=config, data_dir=data_dir, num_workers=int(workers),
                       flow_processes=None if flow_processes == "-" else int(flow_processes))
  while go != "-" and not pathlib.Path(go).exists():  # start together
    time.sleep(0.01)
  if embedded == "embedded":  # as train_kinetics's first run prepares its embedded set
    from experiments import train_kinetics
    train_kinetics.prepare_embedded(builder, "synthetic_motion/faults", data_dir,
                                    tfds.download.DownloadConfig(try_download_gcs=False))
  else:
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  print("BUILT", builder.info.splits["train"].num_examples, flush=True)
""")


def _start_build(data_dir, num_train, workers, go="-", frames=8, size=32, flow="tvl1_fast",
                 embedded=False, flow_processes=None):
  """A real build of a small synthetic_motion config 'faults' in its own process (embedded: as
  train_kinetics prepares its embedded set)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  args = [data_dir, num_train, workers, go, frames, size, flow,
          "embedded" if embedded else "-", "-" if flow_processes is None else flow_processes]
  return subprocess.Popen([sys.executable, "-c", _SYNTHETIC_BUILD, *map(str, args)],
                          cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _wait_for(condition, timeout_s, what):
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    value = condition()
    if value:
      return value
    time.sleep(0.2)
  raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def kill_9_mid_build(parent, config_dir, settle_s, while_running=None):
  """kill -9 of a running build `parent` once its 2 pool workers work (after `settle_s`);
  `while_running(build_process, workers)` checks them first. Asserts no worker outlives it, and
  kills any that would, whatever the outcome."""
  workers = []
  try:
    proc = psutil.Process(parent.pid)
    _wait_for(lambda: list(config_dir.glob("incomplete.*")), 90, "the incomplete folder")
    _wait_for(lambda: len(proc.children()) >= 2, 60, "the build's 2 pool workers")
    time.sleep(settle_s)
    workers = proc.children(recursive=True)
    if while_running is not None:
      while_running(proc, workers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"orphaned pool workers 5 s after kill -9 of the build: {alive}"
  finally:
    if parent.poll() is None:
      parent.kill()
    for orphan in workers:  # never leave them running, whatever the outcome
      try:
        orphan.kill()
      except psutil.NoSuchProcess:
        pass


def test_kill_9_of_a_build_leaves_no_workers_and_the_next_build_removes_its_folder(tmp_path):
  config_dir = tmp_path / "data" / "synthetic_motion" / "faults"
  # Videos of ~20 s each (full TV-L1 on 48 frames of 128x128): a worker killed with its parent must
  # not go on decoding its video as an orphan.
  parent = _start_build(tmp_path / "data", num_train=40, workers=2, frames=48, size=128,
                        flow="tvl1")
  # The workers are decoding their first video 2 s after they start.
  kill_9_mid_build(parent, config_dir, settle_s=2.0)
  stale = list(config_dir.glob("incomplete.*"))
  assert len(stale) == 1

  # The rerun (here a smaller set under the same config name) removes the dead build's folder.
  rerun = _start_build(tmp_path / "data", num_train=4, workers=0)
  out, _ = rerun.communicate(timeout=120)
  assert rerun.returncode == 0, out
  assert "BUILT 4" in out
  assert not stale[0].exists()
  assert sorted(p.name for p in config_dir.iterdir()) == [build_lock.LOCK_FILENAME, "1.1.0"]
