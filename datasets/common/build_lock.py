"""One build per dataset config at a time, and the leftovers of dead builds removed.

A build holds an exclusive `flock` on `<data_dir>/<name>/<config>/.build.lock` from before TFDS
looks for a finished version until that version is renamed into place. A second build of the same
config (two first runs of the embedded set, CI and a developer) waits, then finds the first's
build and reuses it instead of racing it to the final rename. The kernel drops the lock when its
holder dies (kill -9 included), so a dead build never blocks the next one; whoever holds the lock
knows that every `incomplete.*` folder beside the versions belongs to a dead build, and removes it.
Remote data_dirs (gs://...) have no flock: there the build runs unlocked, as TFDS does.
"""
import contextlib
import fcntl
import logging
import os
import shutil
import socket
import time

LOCK_FILENAME = ".build.lock"
INCOMPLETE_PREFIX = "incomplete."  # TFDS's prefix of a version being built
_WAIT_LOG_EVERY_S = 60.0

log = logging.getLogger(__name__)


def _is_local(path):
  return "://" not in os.fspath(path)


def _holder(lock_path):
  try:
    with open(lock_path) as f:
      return f.read().strip() or "another process"
  except OSError:
    return "another process"


@contextlib.contextmanager
def config_lock(config_dir, what):
  """Holds the build lock of `config_dir` (waiting, with a message, while another build has it)."""
  if not _is_local(config_dir):
    yield
    return
  os.makedirs(config_dir, exist_ok=True)
  lock_path = os.path.join(config_dir, LOCK_FILENAME)
  fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o664)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      started = time.monotonic()
      print(f"{what}: waiting for the build in progress ({_holder(lock_path)}, lock {lock_path}); "
            "its result will be reused.", flush=True)
      while True:
        try:
          fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
          break
        except BlockingIOError:
          time.sleep(0.5)
          if time.monotonic() - started > _WAIT_LOG_EVERY_S:
            log.info("%s: still waiting for %s", what, lock_path)
            started = time.monotonic()
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    yield
  finally:
    os.close(fd)  # releases the flock


def remove_stale_incomplete(config_dir):
  """Removes `incomplete.*` version folders of dead builds; call only while holding the lock."""
  if not _is_local(config_dir) or not os.path.isdir(config_dir):
    return []
  removed = []
  for name in sorted(os.listdir(config_dir)):
    path = os.path.join(config_dir, name)
    if name.startswith(INCOMPLETE_PREFIX) and os.path.isdir(path):
      size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
      shutil.rmtree(path, ignore_errors=True)
      log.warning("Removed %s (%.1f MB), left by an interrupted build", path, size / 1e6)
      removed.append(path)
  return removed
