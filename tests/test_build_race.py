"""Two builds of one dataset config at once (issue #12 item 4): the second waits, then reuses.

Two first runs of the embedded set (CI and a developer, two terminals) share the default cache;
real processes race here, started together, on one data_dir.
"""
import re
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("tensorflow_datasets")

from datasets.common import build_lock  # noqa: E402
from tests.test_build_faults import _start_build  # noqa: E402


def test_two_first_builds_of_one_cache_at_once_both_succeed_on_one_build(tmp_path):
  go = tmp_path / "go"
  builds = [_start_build(tmp_path / "cache", num_train=8, workers=0, go=go, embedded=True)
            for _ in range(2)]
  try:
    time.sleep(0.5)
    go.touch()
    outs = [b.communicate(timeout=150)[0] for b in builds]
  finally:
    for b in builds:
      if b.poll() is None:
        b.kill()
  for b, out in zip(builds, outs):
    assert b.returncode == 0, out
    assert "BUILT 8" in out
  waited = [(b, out) for b, out in zip(builds, outs)
            if "waiting for the build in progress (pid " in out]
  assert len(waited) == 1, outs
  (waiter, out), = waited
  first = builds[1 - builds.index(waiter)]
  holder = f"pid {first.pid} on {socket.gethostname()}"
  assert f"synthetic_motion/faults: waiting for the build in progress ({holder}, lock " in out
  # What happened, said after the wait: whose build, how long, reused (not "Built in N s").
  assert re.search(rf"synthetic_motion/faults: waited \d+ s for the build of {holder}; reusing "
                   rf"its result \(", out), out
  assert re.search(rf"Reused the embedded synthetic_motion/faults set built by {holder} "
                   rf"\(waited \d+ s for it; nothing built here\)", out), out
  assert "Built in" not in out
  assert "Built in" in outs[builds.index(first)]
  config_dir = tmp_path / "cache" / "synthetic_motion" / "faults"
  assert sorted(p.name for p in config_dir.iterdir()) == [build_lock.LOCK_FILENAME, "1.1.0"]


def test_a_live_build_s_folder_is_not_removed(tmp_path):
  """Whoever holds the lock removes `incomplete.*`; a live build holds it, so nobody else can."""
  config_dir = tmp_path / "synthetic_motion" / "faults"
  with build_lock.config_lock(str(config_dir), "first"):
    live = config_dir / "incomplete.ABCDEF_1.1.0"
    live.mkdir()
    probe = subprocess.run(
        [sys.executable, "-c", "import fcntl, sys; fd = open(sys.argv[1]); "
         "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(config_dir / ".build.lock")],
        capture_output=True, text=True, timeout=30)
    assert probe.returncode != 0 and "BlockingIOError" in probe.stderr
    assert live.exists()
  with build_lock.config_lock(str(config_dir), "second"):
    assert build_lock.remove_stale_incomplete(str(config_dir)) == [str(live)]
  assert not live.exists()
