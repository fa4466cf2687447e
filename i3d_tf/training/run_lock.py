"""One training run per model_dir: an OS file lock that a dead process does not hold.

Two runs writing one model_dir interleave checkpoints and event files, so a run takes
`fcntl.flock` on a lock file in model_dir before it builds anything and a second run is refused with
a message naming the holder (pid, host, command). The OS drops a flock when its process dies (also
on kill -9), so a crashed run never blocks the next one. The lock file itself stays (removing lock
files races); its content is only informative.

Every task of one multi-worker run shares model_dir: the chief (or the single process) takes
`.run.lock`, every other task its own `.run.<type>_<index>.lock`, so the tasks of one run never
refuse each other while a second run's tasks are each refused by their twin. Holding its lock, each
task removes what killed runs left behind in its own part of model_dir (`remove_leftovers`).
"""
import fcntl
import glob
import json
import os
import shutil
import socket
import sys
import time

CHIEF_LOCK = ".run.lock"


class ModelDirInUseError(RuntimeError):
  """Another live training run holds the model_dir's lock."""


def lock_name(task_type=None, task_id=0, chief=True):
  """The lock file of one task: the chief's (or single process's) or a non-chief worker's."""
  if chief or task_type is None:
    return CHIEF_LOCK
  return f".run.{task_type}_{task_id}.lock"


def _describe_holder(text):
  try:
    holder = json.loads(text)
  except ValueError:
    return "a process that left no details"
  started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("started", 0)))
  return (f"pid {holder.get('pid')} on host {holder.get('host')} (since {started}: "
          f"{holder.get('command', '?')})")


class RunLock:
  """An exclusive flock on model_dir/<name>; `acquire` raises ModelDirInUseError when held."""

  def __init__(self, model_dir, name=CHIEF_LOCK):
    self.model_dir = model_dir
    self.path = os.path.join(model_dir, name)
    self._fd = None

  @property
  def supported(self):
    """flock needs a local (or NFS) path; gs:// and other remote model_dirs are not locked."""
    return "://" not in self.model_dir

  def acquire(self):
    if not self.supported:
      return self
    os.makedirs(self.model_dir, exist_ok=True)
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
      os.close(fd)
      raise ModelDirInUseError(
          f"model_dir {self.model_dir} is in use by another training run: "
          f"{_describe_holder(holder)} holds {self.path}. Two runs in one model_dir would "
          f"interleave their checkpoints; wait for that run to end (or stop it), or pass another "
          f"--model_dir.") from None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
            "command": " ".join(sys.argv)[:500]}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    self._fd = fd
    return self

  def release(self):
    if self._fd is not None:
      fcntl.flock(self._fd, fcntl.LOCK_UN)
      os.close(self._fd)
      self._fd = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def _has_files(path):
  return any(files for _, _, files in os.walk(path))


def remove_leftovers(model_dir, task_type=None, task_id=0, chief=True):
  """Removes the temporary folders of killed runs; call only while holding this task's lock.

  The chief (or a single process) removes `ckpt-*_temp/` (its checkpoint writes cut short) and the
  empty folders under `.worker_tmp/` (non-chief workers' checkpoint and SavedModel copies, deleted
  after every save); each non-chief task removes its own `.worker_tmp/<type>_<index>/` whatever it
  holds (its lock says no live process writes there). None of these is ever read back. Returns
  the removed paths.
  """
  if "://" in model_dir or not os.path.isdir(model_dir):
    return []
  tmp_roots = [os.path.join(model_dir, ".worker_tmp"),
               os.path.join(model_dir, "saved_model", ".worker_tmp")]
  removed = []
  if chief:
    found = [p for p in glob.glob(os.path.join(model_dir, "ckpt-*_temp")) if os.path.isdir(p)]
    for root in tmp_roots:
      if os.path.isdir(root):
        found += [os.path.join(root, e) for e in sorted(os.listdir(root))
                  if not _has_files(os.path.join(root, e))]
  else:
    found = [os.path.join(root, f"{task_type}_{task_id}") for root in tmp_roots]
  for path in found:
    if os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
      removed.append(path)
  for root in tmp_roots:
    if chief and os.path.isdir(root) and not os.listdir(root):
      os.rmdir(root)
      removed.append(root)
  return removed
