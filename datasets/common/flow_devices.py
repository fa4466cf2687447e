"""Where a local build's TensorFlow flow runs: threads of this process, or one process per device.

A flow device takes a batch of frame pairs (uint8 [N, H, W] frames t and t+1, from any videos of
one size) and gives back their stored flow levels (uint8 [N, H, W, 2], `flow.tf_pair_levels`).
- `ThreadDevices`: this process's TensorFlow, in `slots` threads (its calls release the GIL). What
  a build uses on the CPU (one slot per core) or with one GPU/TPU (two slots: one batch computes
  while the next is handed over).
- `ProcessDevices`: one child process per device, each seeing only its own GPU
  (CUDA_VISIBLE_DEVICES) and holding one TensorFlow runtime, two batches in flight each. What a
  build uses with several GPUs; on a CPU-only machine `--flow_processes=N` splits the cores among N
  such processes (how the path is tested here). Children die with the build (kill -9 included)
  and never run Python code of the build but this module's loop.
Both post ("flow", batch_id, levels or an exception) to the build's event queue.
"""
from concurrent import futures
import multiprocessing
import os
import threading

from i3d_tf.video import flow as flow_lib

from . import worker_death


class FlowDeviceLost(RuntimeError):
  """A flow process ended before answering (killed, out of memory, crashed)."""


class ThreadDevices:
  """The flow in `slots` threads of this process (one TensorFlow runtime)."""

  def __init__(self, method, slots, events):
    flow_lib.tf_flow(method)  # Imports TensorFlow and builds the TV-L1, once.
    self.method = method
    self.slots = max(1, int(slots))
    self.kind = flow_lib.tf_device()
    self.description = f"{self.slots} thread(s) of the build's process ({self.kind})"
    self._events = events
    self._pool = futures.ThreadPoolExecutor(self.slots, thread_name_prefix="flow")

  def submit(self, batch_id, frames0, frames1):
    def run():
      try:
        levels = flow_lib.tf_pair_levels(frames0, frames1, self.method)
      except Exception as e:  # pylint: disable=broad-except
        levels = e
      self._events.put(("flow", batch_id, levels))
    self._pool.submit(run)

  def close(self):
    self._pool.shutdown(wait=False, cancel_futures=True)


def see_only(visible_gpu):
  """Before TensorFlow starts: this process sees GPU `visible_gpu` only, or none (None), and then
  TensorFlow's failed cuInit is not logged (cuda_probe.py): it would be noise, once per process."""
  os.environ["CUDA_VISIBLE_DEVICES"] = "" if visible_gpu is None else str(visible_gpu)
  from i3d_tf import cuda_probe  # pylint: disable=g-import-not-at-top
  cuda_probe.install()


def _serve(conn, parent_pid, method, visible_gpu, threads):
  """A flow process: sees one GPU (or none), answers batches until told to stop (None)."""
  worker_death.die_with_parent(parent_pid)
  see_only(visible_gpu)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
  flow_lib.tf_flow(method)
  conn.send(("ready", flow_lib.tf_device()))
  while True:
    message = conn.recv()
    if message is None:
      return
    batch_id, frames0, frames1 = message
    try:
      conn.send((batch_id, flow_lib.tf_pair_levels(frames0, frames1, method), None))
    except Exception as e:  # pylint: disable=broad-except
      conn.send((batch_id, None, f"{type(e).__name__}: {e}"))


class ProcessDevices:
  """One flow process per device: GPU i for process i (cycling) where there are GPUs, else the
  CPU's cores split among `count` processes. Two batches in flight per process."""

  IN_FLIGHT = 2

  def __init__(self, method, count, events, gpus=None):
    gpus = physical_gpus() if gpus is None else int(gpus)
    count = max(1, int(count))
    cores = os.cpu_count() or 1
    threads = None if gpus else max(1, cores // count)
    self.method = method
    self.kind = "GPU" if gpus else "CPU"
    self.slots = count * self.IN_FLIGHT
    where = (f"GPU {', '.join(str(i % gpus) for i in range(count))}" if gpus
             else f"{threads} core(s) each")
    self.description = f"{count} flow process(es), {where}"
    self._events = events
    self._lock = threading.Lock()
    self._closed = False
    self._processes, self._conns = [], []
    self._in_flight = [0] * count
    context = multiprocessing.get_context("spawn")
    try:
      self._start(context, count, method, gpus, threads)
    except BaseException:
      self.close()  # the processes started so far: none outlives a failed start
      raise

  def _start(self, context, count, method, gpus, threads):
    for i in range(count):
      parent_end, child_end = context.Pipe()
      process = context.Process(
          target=_serve, name=f"flow-{i}", daemon=True,
          args=(child_end, os.getpid(), method, i % gpus if gpus else None, threads))
      with worker_death.main_module_hidden():
        process.start()
      child_end.close()
      self._processes.append(process)
      self._conns.append(parent_end)
    for i in range(count):
      self._await_ready(i)
      threading.Thread(target=self._read, args=(i,), name=f"flow-{i}-reader",
                       daemon=True).start()

  def _await_ready(self, i):
    try:
      message = self._conns[i].recv()
    except (EOFError, OSError) as e:
      raise FlowDeviceLost(self._lost(i)) from e
    if message[0] != "ready":
      raise FlowDeviceLost(f"flow process {i}: unexpected first message {message!r}")

  def _lost(self, i):
    process = self._processes[i]
    process.join(timeout=1.0)
    return (f"flow process {i} (pid {process.pid}, {self.description}) ended with exit code "
            f"{process.exitcode} before answering (killed, out of memory, or crashed); the "
            f"build stops: rerun it (with fewer --flow_processes if memory ran out)")

  def _read(self, i):
    conn = self._conns[i]
    while True:
      try:
        batch_id, levels, error = conn.recv()
      except (EOFError, OSError):
        if not self._closed:  # not the end of the build: the process died
          self._events.put(("flow", None, FlowDeviceLost(self._lost(i))))
        return
      with self._lock:
        self._in_flight[i] -= 1
      self._events.put(("flow", batch_id, levels if error is None else RuntimeError(error)))

  def submit(self, batch_id, frames0, frames1):
    with self._lock:
      i = min(range(len(self._conns)), key=lambda k: self._in_flight[k])
      self._in_flight[i] += 1
    self._conns[i].send((batch_id, frames0, frames1))

  def close(self):
    self._closed = True
    for conn in self._conns:
      try:
        conn.send(None)
      except (OSError, ValueError):
        pass
    for process in self._processes:
      process.join(timeout=5.0)
      if process.is_alive():
        process.kill()
        process.join()


def physical_gpus():
  """The GPUs TensorFlow sees, counted without initialising them."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return len(tf.config.list_physical_devices("GPU"))


def default_flow_processes():
  """`--flow_processes` when not given: one per GPU with two or more GPUs, else 0 (the build's
  own process: the CPU's cores in threads, or its one GPU / TPU)."""
  gpus = physical_gpus()
  return gpus if gpus >= 2 else 0


def make_devices(method, flow_processes, threads, events):
  """The flow devices of a local build: `flow_processes` child processes (None: the default),
  or, with 0, `threads` threads of this process."""
  count = default_flow_processes() if flow_processes is None else int(flow_processes)
  if count > 0:
    return ProcessDevices(method, count, events)
  return ThreadDevices(method, threads, events)
