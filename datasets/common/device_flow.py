"""Local builds with a TensorFlow flow method: workers decode and encode, one process runs the flow.

With 'tvl1_tf' or 'tvl1_tf_fast', a pool worker that computed its videos' flow itself would load
its own TensorFlow, whose thread pools spread over every core, so N workers would fight over the
cores (or the one GPU) N times over. Instead the pool workers decode each video, JPEG-encode its
RGB frames and make its grayscale frames (`video_example.prepare_*`, OpenCV only, no TensorFlow);
the build's own process runs the batched TV-L1 on one video's pairs after another, on all cores or
the GPU/TPU (`flow.flow_from_gray`, batched as `compute_flow` batches, hence the same bytes);
the workers then PNG-encode the quantized flow. While the flow runs, the workers decode the next
videos: at most `max_ahead` decoded videos wait, so memory stays bounded on long videos.
OpenCV methods keep one whole video per worker (`video_example.process_*`).
"""
import collections
import functools
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


def _next_decoded(decoding):
  """The first decoded video in `decoding` (a deque of AsyncResults): a ready one if any."""
  for i, pending in enumerate(decoding):
    if pending.ready():
      del decoding[i]
      return pending.get()
  return decoding.popleft().get()


def results(pool, items, process_fn, max_ahead):
  """item -> video_example.ProcessResult for each item (in no fixed order), the flow computed here.

  `pool` is the build's multiprocessing pool; `process_fn` must have a `prepare_fn_of`.
  """
  prepare_fn = prepare_fn_of(process_fn)
  if prepare_fn is None:
    raise ValueError(f"{process_fn!r}: not a per-video function with a TensorFlow flow method")
  options = prepare_fn.keywords["options"]
  flow_lib.tf_flow(options.flow_method)  # Imports TensorFlow and builds the TV-L1, once.
  max_ahead = max(1, int(max_ahead))
  todo = iter(items)
  decoding = collections.deque()   # AsyncResult -> PreparedVideo, at most max_ahead
  encoding = collections.deque()   # (PreparedVideo, AsyncResult -> flow PNGs, flow seconds)

  def submit():
    while len(decoding) < max_ahead:
      item = next(todo, None)
      if item is None:
        return
      decoding.append(pool.apply_async(prepare_fn, (item,)))

  def finish(prepared, pngs, flow_seconds):
    result = video_example.finish_example(prepared, pngs.get(), options)
    result.seconds += flow_seconds
    return result

  submit()
  while decoding or encoding:
    # Encoded videos first; block on one only when nothing is left to flow or too many wait.
    while encoding and (encoding[0][1].ready() or not decoding or len(encoding) > max_ahead):
      yield finish(*encoding.popleft())
    if not decoding:
      continue
    prepared = _next_decoded(decoding)
    submit()  # The workers decode the next videos while this one's flow runs.
    result = prepared.result
    if result.skip_reason is not None:  # did not decode (its example is not made yet either way)
      yield result
      continue
    started = time.perf_counter()
    try:
      quantized = flow_lib.quantize(flow_lib.flow_from_gray(prepared.gray, options.flow_method))
    except Exception as e:  # pylint: disable=broad-except
      # As process_video records what one bad file raises (e.g. frames too small for TV-L1).
      result.skip_reason = f"{type(e).__name__}: {e}"
      yield result
      continue
    prepared.gray = None
    pngs = pool.apply_async(video_example.encode_flow_frames,
                            (quantized, options.png_compression))
    encoding.append((prepared, pngs, time.perf_counter() - started))
