"""Local builds with a TensorFlow flow method: workers decode and encode, one process runs the flow.

With 'tvl1_tf' or 'tvl1_tf_fast', a pool worker that computed its videos' flow itself would load
its own TensorFlow, whose thread pools spread over every core, so N workers would fight over the
cores (or the one GPU) N times over. Instead the pool workers decode each video, JPEG-encode its
RGB frames and make its grayscale frames (`video_example.prepare_*`, OpenCV only, no TensorFlow);
the build's own process runs the batched TV-L1 (`flow.flow_from_gray`, each video batched as
`compute_flow` batches it, hence the same bytes) on the GPU/TPU or the CPU's cores, on a few
videos at once in threads (one TensorFlow runtime: its calls release the GIL); the workers then
PNG-encode the quantized flow. While the flow runs, the workers decode the next videos: at most
`max_ahead` videos are in flight, so memory stays bounded on long videos.
OpenCV methods keep one whole video per worker (`video_example.process_*`).
"""
from concurrent import futures
import functools
import os
import queue
import time

from i3d_tf.video import flow as flow_lib

from . import video_example


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
  """Videos whose flow runs at once in this process: on the CPU one per core (a pair of small
  frames keeps one core busy, TensorFlow's ops being too small to spread), on a GPU/TPU two (one
  computes while the other's frames come in)."""
  if flow_lib.tf_device() != "CPU":
    return 2
  return max(1, min(int(workers), os.cpu_count() or 1))


def results(pool, items, process_fn, max_ahead, threads=None):
  """item -> video_example.ProcessResult for each item (in no fixed order), the flow computed here.

  `pool` is the build's multiprocessing pool; `process_fn` must have a `prepare_fn_of`. At most
  `max_ahead` videos are between decoding and their result; `threads` (default `flow_threads`)
  videos' flow runs at once, each batched as `compute_flow` batches it.
  """
  prepare_fn = prepare_fn_of(process_fn)
  if prepare_fn is None:
    raise ValueError(f"{process_fn!r}: not a per-video function with a TensorFlow flow method")
  options = prepare_fn.keywords["options"]
  flow_lib.tf_flow(options.flow_method)  # Imports TensorFlow and builds the TV-L1, once.
  threads = flow_threads(max_ahead) if threads is None else max(1, int(threads))
  max_ahead = max(threads, int(max_ahead))
  done = queue.Queue()  # ProcessResults (built or skipped), or an exception to raise here

  def flow_then_encode(prepared):
    """In a flow thread: the flow here, its PNGs in a worker, the result to `done`."""
    try:
      result = prepared.result
      if result.skip_reason is not None:  # did not decode (no example made yet either way)
        done.put(result)
        return
      started = time.perf_counter()
      try:
        quantized = flow_lib.quantize(flow_lib.flow_from_gray(prepared.gray,
                                                              options.flow_method))
      except Exception as e:  # pylint: disable=broad-except
        # As process_video records what one bad file raises (e.g. frames too small for TV-L1).
        result.skip_reason = f"{type(e).__name__}: {e}"
        done.put(result)
        return
      result.seconds += time.perf_counter() - started
      prepared.gray = None

      def encoded(pngs):
        try:
          done.put(video_example.finish_example(prepared, pngs, options))
        except Exception as e:  # pylint: disable=broad-except
          done.put(e)
      pool.apply_async(video_example.encode_flow_frames, (quantized, options.png_compression),
                       callback=encoded, error_callback=done.put)
    except BaseException as e:  # pylint: disable=broad-except
      done.put(e)

  flow_pool = futures.ThreadPoolExecutor(threads, thread_name_prefix="flow")

  def decoded(prepared):  # in the pool's result thread: hand the video to a flow thread
    try:
      flow_pool.submit(flow_then_encode, prepared)
    except RuntimeError as e:  # the build is over (shut down)
      done.put(e)

  todo = iter(items)
  submitted = finished = 0
  exhausted = False
  try:
    while True:
      while not exhausted and submitted - finished < max_ahead:
        item = next(todo, None)
        if item is None:
          exhausted = True
          break
        pool.apply_async(prepare_fn, (item,), callback=decoded, error_callback=done.put)
        submitted += 1
      if finished == submitted:
        return
      result = done.get()
      finished += 1
      if isinstance(result, BaseException):
        raise result
      yield result
  finally:
    flow_pool.shutdown(wait=False, cancel_futures=True)
