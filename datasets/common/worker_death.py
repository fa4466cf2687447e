"""Spawned workers that die with the process that started them (kill -9 included).

A killed parent runs no cleanup, so its multiprocessing pool's workers would go on decoding (at
full CPU) as orphans. Each worker asks Linux to SIGKILL it when its parent dies
(prctl PR_SET_PDEATHSIG) and, where there is no prctl (macOS) or the parent died before that
call, a daemon thread checks once a second that its parent is still the one that started it.
Stdlib only: this runs in spawned workers that never import TensorFlow.
"""
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1
WATCH_EVERY_S = 1.0


def _set_parent_death_signal(sig=signal.SIGKILL):
  """True when the kernel will send `sig` to this process at its parent's death (Linux)."""
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
  except (OSError, AttributeError):
    return False


def _watch_parent(parent_pid):
  while True:
    if os.getppid() != parent_pid:  # re-parented: the parent is gone
      os._exit(1)  # pylint: disable=protected-access
    threading.Event().wait(WATCH_EVERY_S)


def die_with_parent(parent_pid):
  """Makes this process end when `parent_pid` (the process that started it) ends."""
  _set_parent_death_signal()
  if os.getppid() != parent_pid:  # the parent died before prctl took effect
    os._exit(1)  # pylint: disable=protected-access
  threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watchdog",
                   daemon=True).start()


def init_worker(parent_pid, then=None):
  """Pool initializer: die with `parent_pid`, then run `then()` (the pool's own initializer)."""
  die_with_parent(parent_pid)
  if then is not None:
    then()


@contextlib.contextmanager
def main_module_hidden():
  """Spawned workers re-run the parent's `__main__` unless told it has none.

  Workers need only the (importable) process function, and re-running a user's script or
  `python -m datasets.build` in each of them would rebuild the dataset recursively (scripts without
  an `if __name__ == '__main__'` guard) or at least import TensorFlow for nothing.
  """
  main = sys.modules.get("__main__")
  if main is None:
    yield
    return
  saved_spec = getattr(main, "__spec__", None)
  saved_file = main.__dict__.pop("__file__", None)
  main.__spec__ = None
  try:
    yield
  finally:
    main.__spec__ = saved_spec
    if saved_file is not None:
      main.__file__ = saved_file
