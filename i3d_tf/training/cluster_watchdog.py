"""The bounded wait of a multi-worker start.

  python -m i3d_tf.training.cluster_watchdog PID SECONDS

Started by distribute.make_strategy with a pipe on stdin. When the pipe closes first (the cluster
formed, or the training process died) it exits quietly; after SECONDS it names the tasks of
TF_CONFIG's cluster whose servers do not answer and kills PID (blocked in TensorFlow's C++ start,
which catches SIGTERM, so SIGKILL). Standard library only: it must start in a fraction of a second.
"""
import json
import os
import select
import signal
import socket
import sys


def _port_open(address, timeout=1.0):
  host, _, port = address.rpartition(":")
  try:
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
      return True
  except (OSError, ValueError):
    return False


def missing_tasks(tf_config):
  """The other tasks of the cluster whose server does not answer: ['worker 1 (host:port)', ...]."""
  me = tf_config.get("task", {})
  missing = []
  for job, addresses in sorted(tf_config.get("cluster", {}).items()):
    for index, address in enumerate(addresses):
      if job == me.get("type") and index == int(me.get("index", 0) or 0):
        continue
      if not _port_open(address):
        missing.append(f"{job} {index} ({address})")
  return missing


def main(argv):
  pid, seconds = int(argv[1]), float(argv[2])
  ready, _, _ = select.select([sys.stdin], [], [], seconds)
  if ready:  # EOF (or anything): the cluster formed or the parent is gone
    return 0
  tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
  task = tf_config.get("task", {})
  missing = missing_tasks(tf_config)
  names = ", ".join(missing) if missing else "none unreachable now (one may have just started)"
  print(f"multi-worker start: {task.get('type')} {task.get('index', 0)} waited {seconds:g} s "
        f"(--cluster_wait_seconds) for TF_CONFIG's cluster to connect; tasks not running: "
        f"{names}. Start every task of the cluster (the same TF_CONFIG cluster, each its own task "
        f"index) or raise --cluster_wait_seconds. Nothing was written; stopping this task.",
        file=sys.stderr, flush=True)
  try:
    os.kill(pid, signal.SIGKILL)
  except ProcessLookupError:
    pass
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
