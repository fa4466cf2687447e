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
  options = prepare_fn.keywords["options"]
  events = queue.Queue()  # (kind, ...) from the pool's callbacks and the flow devices
  threads = flow_threads(max_ahead) if threads is None else max(1, int(threads))
  devices = flow_devices.make_devices(options.flow_method, flow_processes, threads, events)
  max_ahead = max(devices.slots, int(max_ahead))
  pending = collections.OrderedDict()  # (H, W) -> deque of (video, t): pairs not yet sent
  batches = {}  # batch_id -> ([(video, t)], start time): pairs being computed
  batch_ids = itertools.count()
  # Videos submitted, decoding, finished; pairs queued and wanted; batches busy on the devices.
  state = collections.Counter()

  def batch_size(shape):
    return flow_lib.pairs_per_call(shape[0], shape[1], devices.kind)

  def done(result):
    events.put(("done", result))

  def skip(video, error):
    if not video.failed:
      video.failed = True
      video.prepared.result.skip_reason = f"{type(error).__name__}: {error}"
      done(video.prepared.result)

  def complete(video):
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
        done(video_example.finish_example(prepared, pngs, options))
      except Exception as e:  # pylint: disable=broad-except
        events.put(("error", e))
    pool.apply_async(video_example.encode_flow_frames, (levels, options.png_compression),
                     callback=encoded, error_callback=lambda e: events.put(("error", e)))

  def decoded(prepared):
    state["decoding"] -= 1
    if prepared.result.skip_reason is not None:  # did not decode (no example made yet)
      done(prepared.result)
      return
    video = _Video(prepared)
    if video.remaining == 0:
      complete(video)
      return
    # Pairs that keep every device busy; below that, one more video is decoded beyond max_ahead.
    state["wanted"] = devices.slots * batch_size(video.shape)
    queue_ = pending.setdefault(video.shape, collections.deque())
    queue_.extend((video, t) for t in range(video.remaining))
    state["queued"] += video.remaining

  def next_shape():
    """The frame size of the next batch: a full batch first (oldest size first), else a partial
    one when waiting for more pairs would idle every device or no video is left decoding."""
    for shape, pairs in pending.items():
      if len(pairs) >= batch_size(shape):
        return shape
    if pending and (not state["busy"] or not state["decoding"]):
      return next(iter(pending))
    return None

  def dispatch():
    while state["busy"] < devices.slots:
      shape = next_shape()
      if shape is None:
        return
      pairs, queue_ = [], pending[shape]
      while queue_ and len(pairs) < batch_size(shape):
        pair = queue_.popleft()
        state["queued"] -= 1
        if not pair[0].failed:
          pairs.append(pair)
      if not queue_:
        del pending[shape]
      if not pairs:
        continue
      batch_id = next(batch_ids)
      batches[batch_id] = (pairs, time.perf_counter())
      state["busy"] += 1
      frames0 = np.stack([video.prepared.gray[t] for video, t in pairs])
      frames1 = np.stack([video.prepared.gray[t + 1] for video, t in pairs])
      devices.submit(batch_id, frames0, frames1)

  def flowed(batch_id, levels):
    if batch_id is None:  # a flow process is gone: the build cannot go on
      raise levels
    pairs, started = batches.pop(batch_id)
    state["busy"] -= 1
    share = (time.perf_counter() - started) / len(pairs)
    for i, (video, t) in enumerate(pairs):
      if video.failed:
        continue
      if isinstance(levels, BaseException):
        # As process_video records what one bad file raises (e.g. frames too small for TV-L1).
        skip(video, levels)
        continue
      video.prepared.result.seconds += share
      video.levels[t] = levels[i]
      video.remaining -= 1
      if video.remaining == 0:
        complete(video)

  todo = iter(items)
  exhausted = False
  try:
    while True:
      while not exhausted and (
          state["submitted"] - state["finished"] < max_ahead or
          (not state["decoding"] and state["queued"] < state["wanted"])):
        item = next(todo, None)
        if item is None:
          exhausted = True
          break
        state["submitted"] += 1
        state["decoding"] += 1
        pool.apply_async(prepare_fn, (item,), callback=lambda p: events.put(("decoded", p)),
                         error_callback=lambda e: events.put(("error", e)))
      if state["finished"] == state["submitted"]:
        return
      dispatch()
      kind, *payload = events.get()
      if kind == "decoded":
        decoded(*payload)
      elif kind == "flow":
        flowed(*payload)
      elif kind == "done":
        state["finished"] += 1
        yield payload[0]
      else:
        raise payload[0]
  finally:
    devices.close()
