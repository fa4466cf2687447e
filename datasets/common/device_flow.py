"""Local builds with a TensorFlow flow method: workers decode and encode, flow devices batch pairs.

With 'tvl1_tf' or 'tvl1_tf_fast', a pool worker that computed its videos' flow itself would load
its own TensorFlow, whose thread pools spread over every core, so N workers would fight over the
cores (or the one GPU) N times over. Instead the pool workers decode each video, JPEG-encode its
RGB frames and make its grayscale frames (`video_example.prepare_*`, OpenCV only, no TensorFlow);
the build's process cuts every decoded video into frame pairs and batches pairs of one frame size
across videos (`flow.pairs_per_call` pairs per call: 32 of 256x340 on a GPU/TPU) for its flow
devices (`flow_devices.py`: threads of this process, or one process per GPU); each pair's stored
levels go back to its video, and a video whose pairs are all done goes to a worker to PNG-encode.
A pair's flow does not depend on its batch, so the shards are byte for byte those of
`compute_flow` per video (tests/test_device_flow_build.py). Full batches go first; a partial one
goes when a device would otherwise idle or no video is left decoding. At most `max_ahead` videos
are in flight (more only while the devices lack a batch), so memory stays bounded.
OpenCV methods keep one whole video per worker (`video_example.process_*`).
"""
import collections
import functools
import itertools
import os
import queue
import time

import numpy as np

from i3d_tf.video import flow as flow_lib

from . import flow_devices, video_example


def prepare_fn_of(process_fn):
  """The worker half (decode + encode, no flow) of a builder's per-video function, or None when
  its flow is not a TensorFlow method or the function is not one `video_example` can split."""
  func = getattr(process_fn, "func", None)
  keywords = dict(getattr(process_fn, "keywords", None) or {})
  options = keywords.get("options")
  if getattr(options, "flow_method", None) not in flow_lib.TF_METHODS or func is None:
    return None
  prepare = video_example.PREPARE_FNS.get(getattr(func, "__name__", None))
  if prepare is None or getattr(video_example, func.__name__, None) is not func:
    return None
  return functools.partial(prepare, *getattr(process_fn, "args", ()), **keywords)


def flow_threads(workers):
  """Flow threads of the build's process when it runs the flow itself: on the CPU one per core
  (a pair of small frames keeps one core busy, TensorFlow's ops being too small to spread), on a
  GPU/TPU two (one batch computes while the next is handed over)."""
  if flow_lib.tf_device() != "CPU":
    return 2
  return max(1, min(int(workers), os.cpu_count() or 1))


class _Video:
  """A decoded video whose pairs are being computed: its levels fill in pair by pair."""

  def __init__(self, prepared):
    self.prepared = prepared
    num_frames, height, width = prepared.gray.shape
    self.shape = (height, width)
    self.levels = np.empty((num_frames, height, width, 2), np.uint8)
    self.remaining = num_frames - 1
    self.failed = False


def results(pool, items, process_fn, max_ahead, threads=None, flow_processes=0):
  """item -> video_example.ProcessResult for each item (in no fixed order), the flow batched here.

  `pool` is the build's multiprocessing pool; `process_fn` must have a `prepare_fn_of`. About
  `max_ahead` videos are between decoding and their result. The flow runs in `flow_processes`
  child processes (None: one per GPU with two or more GPUs, else none), or with 0 in `threads`
  threads of this process (default `flow_threads`).
  """
  prepare_fn = prepare_fn_of(process_fn)
  if prepare_fn is None:
    raise ValueError(f"{process_fn!r}: not a per-video function with a TensorFlow flow method")
  events = queue.Queue()  # (kind, ...) from the pool's callbacks and the flow devices
  threads = flow_threads(max_ahead) if threads is None else max(1, int(threads))
  options = prepare_fn.keywords["options"]
  devices = flow_devices.make_devices(options.flow_method, flow_processes, threads, events)
  try:
    yield from _Scheduler(pool, prepare_fn, devices, events, max_ahead).run(items)
  finally:
    devices.close()


class _Scheduler:
  """The build process's side of `results`: submits videos to the pool, batches their pairs for
  the flow devices, puts each pair's levels back and hands finished videos on to be encoded."""

  def __init__(self, pool, prepare_fn, devices, events, max_ahead):
    self.pool, self.prepare_fn, self.devices, self.events = pool, prepare_fn, devices, events
    self.options = prepare_fn.keywords["options"]
    self.max_ahead = max(devices.slots, int(max_ahead))
    self.pending = collections.OrderedDict()  # (H, W) -> deque of (video, t): pairs not yet sent
    self.batches = {}  # batch_id -> ([(video, t)], start time): pairs being computed
    self.batch_ids = itertools.count()
    self.submitted = 0  # videos handed to the pool to decode
    self.decoding = 0   # ... of which not decoded yet
    self.finished = 0   # videos whose result was yielded
    self.queued = 0     # pairs in `pending`
    self.wanted = 0     # pairs that keep every device busy
    self.busy = 0       # batches on the devices

  def run(self, items):
    """Yields each item's result as it finishes; raises what a worker or a flow device raised."""
    todo = iter(items)
    exhausted = False
    while True:
      while not exhausted and self._room_for_another():
        item = next(todo, None)
        if item is None:
          exhausted = True
          break
        self.submitted += 1
        self.decoding += 1
        self.pool.apply_async(self.prepare_fn, (item,),
                              callback=lambda p: self.events.put(("decoded", p)),
                              error_callback=lambda e: self.events.put(("error", e)))
      if self.finished == self.submitted:
        return
      self._dispatch()
      kind, *payload = self.events.get()
      if kind == "decoded":
        self._decoded(*payload)
      elif kind == "flow":
        self._flowed(*payload)
      elif kind == "done":
        self.finished += 1
        yield payload[0]
      else:
        raise payload[0]

  def _room_for_another(self):
    """Below `max_ahead` videos in flight, or the devices would lack pairs with none decoding."""
    return (self.submitted - self.finished < self.max_ahead or
            (not self.decoding and self.queued < self.wanted))

  def _batch_size(self, shape):
    return flow_lib.pairs_per_call(shape[0], shape[1], self.devices.kind)

  def _done(self, result):
    self.events.put(("done", result))

  def _skip(self, video, error):
    if not video.failed:
      video.failed = True
      video.prepared.result.skip_reason = f"{type(error).__name__}: {error}"
      self._done(video.prepared.result)

  def _complete(self, video):
    """Every pair is done: the last frame repeats the last pair (compute_flow's rule)."""
    levels = video.levels
    if len(levels) == 1:
      levels[0] = flow_lib.quantize(np.zeros(levels.shape[1:], np.float32))
    else:
      levels[-1] = levels[-2]
    prepared = video.prepared
    prepared.gray = None

    def encoded(pngs):
      try:
        self._done(video_example.finish_example(prepared, pngs, self.options))
      except Exception as e:  # pylint: disable=broad-except
        self.events.put(("error", e))
    self.pool.apply_async(video_example.encode_flow_frames, (levels, self.options.png_compression),
                          callback=encoded, error_callback=lambda e: self.events.put(("error", e)))

  def _decoded(self, prepared):
    self.decoding -= 1
    if prepared.result.skip_reason is not None:  # did not decode (no example made yet)
      self._done(prepared.result)
      return
    video = _Video(prepared)
    if video.remaining == 0:
      self._complete(video)
      return
    # Pairs that keep every device busy; below that, one more video is decoded beyond max_ahead.
    self.wanted = self.devices.slots * self._batch_size(video.shape)
    pairs = self.pending.setdefault(video.shape, collections.deque())
    pairs.extend((video, t) for t in range(video.remaining))
    self.queued += video.remaining

  def _next_shape(self):
    """The frame size of the next batch: a full batch first (oldest size first), else a partial
    one when waiting for more pairs would idle every device or no video is left decoding."""
    for shape, pairs in self.pending.items():
      if len(pairs) >= self._batch_size(shape):
        return shape
    if self.pending and (not self.busy or not self.decoding):
      return next(iter(self.pending))
    return None

  def _take_batch(self, shape):
    """Up to a batch of `shape`'s pending pairs, those of failed videos dropped."""
    pairs, pending = [], self.pending[shape]
    while pending and len(pairs) < self._batch_size(shape):
      pair = pending.popleft()
      self.queued -= 1
      if not pair[0].failed:
        pairs.append(pair)
    if not pending:
      del self.pending[shape]
    return pairs

  def _dispatch(self):
    while self.busy < self.devices.slots:
      shape = self._next_shape()
      if shape is None:
        return
      pairs = self._take_batch(shape)
      if not pairs:
        continue
      batch_id = next(self.batch_ids)
      self.batches[batch_id] = (pairs, time.perf_counter())
      self.busy += 1
      frames0 = np.stack([video.prepared.gray[t] for video, t in pairs])  # [B, H, W]
      frames1 = np.stack([video.prepared.gray[t + 1] for video, t in pairs])
      self.devices.submit(batch_id, frames0, frames1)

  def _flowed(self, batch_id, levels):
    if batch_id is None:  # a flow process is gone: the build cannot go on
      raise levels
    pairs, started = self.batches.pop(batch_id)
    self.busy -= 1
    share = (time.perf_counter() - started) / len(pairs)
    for i, (video, t) in enumerate(pairs):
      if video.failed:
        continue
      if isinstance(levels, BaseException):
        # As process_video records what one bad file raises (e.g. frames too small for TV-L1).
        self._skip(video, levels)
        continue
      video.prepared.result.seconds += share
      video.levels[t] = levels[i]
      video.remaining -= 1
      if video.remaining == 0:
        self._complete(video)
