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
import dataclasses
import fcntl
import logging
import os
import shutil
import socket
import time
from typing import Optional

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


@dataclasses.dataclass
class LockWait:
  """What taking a config's lock took: whose build it waited for (None: nobody) and how long;
  `reused` is set by the builder when that build's result was then found and reused."""
  holder: Optional[str] = None
  seconds: float = 0.0
  reused: bool = False


@contextlib.contextmanager
def config_lock(config_dir, what):
  """Holds the build lock of `config_dir` (waiting, with a message, while another build has it).

  Yields a LockWait saying whose build it waited for and how long.
  """
  wait = LockWait()
  if not _is_local(config_dir):
    yield wait
    return
  os.makedirs(config_dir, exist_ok=True)
  lock_path = os.path.join(config_dir, LOCK_FILENAME)
  fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o664)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      started = last_note = time.monotonic()
      wait.holder = _holder(lock_path)
      print(f"{what}: waiting for the build in progress ({wait.holder}, lock {lock_path}); when "
            "it finishes its result is reused (built here if it does not finish).", flush=True)
      while True:
        try:
          fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
          break
        except BlockingIOError:
          time.sleep(0.5)
          if time.monotonic() - last_note > _WAIT_LOG_EVERY_S:
            print(f"{what}: still waiting for the build of {wait.holder} "
                  f"({time.monotonic() - started:.0f} s so far)", flush=True)
            last_note = time.monotonic()
      wait.seconds = time.monotonic() - started
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    yield wait
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
