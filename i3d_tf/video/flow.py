"""TV-L1 optical flow as the release describes, and its 8-bit storage.

compute_flow: grayscale frames, OpenCV's DualTVL1 ('tvl1', default parameters) or the same
algorithm in TensorFlow ops ('tvl1_tf', i3d_tf/video/tvl1.py, batched over the video's pairs,
compiled with XLA, on a GPU/TPU when one is visible, else on the CPU), flow[t] from frame t to
frame t+1, in pixels, x horizontal (+ right) and y vertical (+ down), truncated to [-20, 20].
The output has the frames' T: the last frame has no successor, so its flow repeats flow[T-2]
(motion is smooth over 40 ms; a zero frame would tell the model "everything stopped").
"""
import cv2
import numpy as np

FLOW_BOUND = 20.0  # Pixels; the release truncates to [-20, 20] and rescales to [-1, 1].
METHODS = ("tvl1", "tvl1_fast", "tvl1_tf", "tvl1_tf_fast", "none")
# The flow of video files read for a model (classify, extract_features, preprocess_video, the
# library's model input) and of new dataset builds: OpenCV's TV-L1 in TensorFlow, as close to
# 'tvl1' (the reference) as OpenCV's own versions are to each other and several times faster on
# the CPU (README, 'TV-L1 flow: OpenCV or TensorFlow'). A built set keeps the method it recorded
# (datasets/common/video_builder.py, resolve_flow_method).
DEFAULT_METHOD = "tvl1_tf"
# 'tvl1_fast': OpenCV defaults except a 5x looser stopping threshold and a third of the inner
# iterations. It is several times faster (BENCHMARKS.md, 'Preprocessing') and keeps the
# coarse-to-fine pyramid, so large motions are still found.
TVL1_FAST_SETTINGS = {"Epsilon": 0.05, "InnerIterations": 10}
# The TensorFlow methods: 'tvl1_tf' has OpenCV's defaults (it agrees with 'tvl1', see README.md),
# 'tvl1_tf_fast' the same changes as 'tvl1_fast'. Values are i3d_tf.video.tvl1.TVL1Params kwargs.
TF_METHODS = {"tvl1_tf": {}, "tvl1_tf_fast": {"epsilon": 0.05, "inner_iterations": 10}}
# Pixels of frame pairs per TensorFlow call on a GPU/TPU (32 pairs of 256x340): bounds memory on
# long videos. On the CPU two pairs of 64x64, one pair from 91x91 up: a batch iterates until its
# slowest pair stops (the others only stop changing), which parallel hardware absorbs and a CPU
# pays for; compiled, batches of 64x64 pairs neither gain nor lose (BENCHMARKS.md, 'TV-L1 in
# TensorFlow'). Rounded down to a power of two pairs, the batches XLA runs unpadded
# (tvl1.TVL1), so a frame size compiles few programs. A pair's flow does not depend on its batch,
# so these sizes change speed, never the flow.
TF_PIXELS_PER_CALL = 32 * 256 * 340
TF_CPU_PIXELS_PER_CALL = 2 * 64 * 64

# 8-bit storage: q = round(px * 255/40 + 127), px = (q - 127) * 40/255 (FORMAT.md section 1).
# MediaPipe truncates uint8((px + 20) / 40 * 255): zero motion becomes 127, which its naive
# inverse q * 40/255 - 20 reads as -0.078 px. Rounding around 127 stores zero as 127 and reads it
# back as exactly 0.0, and the same inverse reads MediaPipe's truncated levels at their bin
# centres, so one dequantization serves our shards and MediaSequence data alike.
FLOW_OFFSET = 127.0
FLOW_SCALE = 2 * FLOW_BOUND / 255.0  # Pixels per level (0.157).


def make_tvl1(method):
  """An OpenCV DualTVL1 instance configured for `method` ('tvl1' or 'tvl1_fast')."""
  tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
  if method == "tvl1_fast":
    for name, value in TVL1_FAST_SETTINGS.items():
      getattr(tvl1, "set" + name)(value)
  elif method != "tvl1":
    raise ValueError(f"flow method {method!r} has no TV-L1 setting; expected 'tvl1' or 'tvl1_fast'")
  return tvl1


# method -> (its tvl1.TVL1, the device kind it was built for): compiled programs are reused
# across videos, and pairs_flow sizes batches for that device without listing devices again.
_TF_FLOWS = {}


def tf_device():
  """Where the TensorFlow methods run: 'GPU' or 'TPU' when visible, else 'CPU'.

  GPUs are counted as physical devices, which does not initialise them: a build whose flow runs
  in one process per GPU (datasets/common/flow_devices.py) must not take their memory here.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.list_logical_devices("TPU"):
    return "TPU"
  if tf.config.list_physical_devices("GPU"):
    return "GPU"
  return "CPU"


def pairs_per_call(height, width, device=None):
  """Frame pairs of `height` x `width` per TensorFlow call on `device` (default `tf_device()`):
  a power of two, the batches XLA-compiled TV-L1 runs unpadded (tvl1.TVL1)."""
  device = tf_device() if device is None else device
  pixels = TF_CPU_PIXELS_PER_CALL if device == "CPU" else TF_PIXELS_PER_CALL
  pairs = max(1, pixels // (int(height) * int(width)))
  return 1 << (pairs.bit_length() - 1)


def tf_flow(method):
  """The batched TensorFlow TV-L1 of `method` ('tvl1_tf' or 'tvl1_tf_fast'), built once per
  process and compiled with XLA on every device: on the CPU too, where the compiled loops run
  several times faster than TensorFlow's executor and than OpenCV's one thread at the same
  distance from OpenCV's flow (BENCHMARKS.md, "TV-L1 on the CPU, issue #19"), at the cost of one
  compilation (8-10 s) per frame size and batch size."""
  if method not in TF_METHODS:
    raise ValueError(f"flow method {method!r} is not a TensorFlow method {tuple(TF_METHODS)}")
  if method not in _TF_FLOWS:
    from i3d_tf.video import tvl1  # pylint: disable=g-import-not-at-top
    _TF_FLOWS[method] = (tvl1.TVL1(tvl1.TVL1Params(**TF_METHODS[method]), jit_compile=True),
                         tf_device())
  return _TF_FLOWS[method][0]


def method_settings(method):
  """A description of `method`'s parameters, for the data's metadata."""
  if method == "none":
    return "none: zero flow"
  if method in TF_METHODS:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    flow = tf_flow(method)
    device = tf_device()
    return (f"{method}: i3d_tf.video.tvl1 (TensorFlow {tf.__version__}, {device}, "
            f"XLA {'on' if flow.jit_compile else 'off'}) DualTVL1 {flow.params.describe()}; "
            f"truncated to +-{FLOW_BOUND:g} px")
  tvl1 = make_tvl1(method)
  names = ("Tau", "Lambda", "Theta", "ScalesNumber", "WarpingsNumber", "Epsilon",
           "InnerIterations", "OuterIterations", "ScaleStep", "Gamma", "MedianFiltering")
  values = ", ".join(f"{n}={getattr(tvl1, 'get' + n)():g}" for n in names)
  return f"{method}: OpenCV {cv2.__version__} DualTVL1 {values}; truncated to +-{FLOW_BOUND:g} px"


def to_gray(frames):
  """uint8 [T, H, W, 3] RGB (or [T, H, W, 1] / [T, H, W]) -> uint8 [T, H, W] grayscale."""
  frames = np.asarray(frames)
  if frames.ndim == 4 and frames.shape[-1] == 3:
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
  if frames.ndim == 4 and frames.shape[-1] == 1:
    return frames[..., 0]
  if frames.ndim == 3:
    return frames
  raise ValueError(f"frames must be [T, H, W, 3], [T, H, W, 1] or [T, H, W], got {frames.shape}")


def pairs_flow(gray, method, pixels_per_call=None):
  """uint8 [T, H, W] grayscale -> float32 [T-1, H, W, 2] flow of pairs (t, t+1), not truncated.

  OpenCV methods run pair by pair; TensorFlow methods in batches of pairs of at most
  `pixels_per_call` pixels (default: `pairs_per_call`'s, by device).
  """
  num_frames, height, width = gray.shape
  if method in TF_METHODS:
    flow_fn = tf_flow(method)
    if pixels_per_call is None:  # by the device the function was built for
      batch = pairs_per_call(height, width, _TF_FLOWS[method][1])
    else:
      batch = max(1, int(pixels_per_call) // (height * width))
    chunks = []
    for start in range(0, num_frames - 1, batch):
      end = min(start + batch, num_frames - 1)
      chunks.append(flow_fn(gray[start:end], gray[start + 1:end + 1]).numpy())
    return np.concatenate(chunks, axis=0)
  tvl1 = make_tvl1(method)
  return np.stack([tvl1.calc(gray[t], gray[t + 1], None) for t in range(num_frames - 1)])


def tf_pair_levels(frames0, frames1, method):
  """uint8 [N, H, W] frames t and t+1 -> uint8 [N, H, W, 2] stored flow levels of each pair:
  `quantize` of the truncated TensorFlow flow, elementwise the same bytes as `flow_from_gray`'s
  frames (a pair's flow does not depend on its batch). What a build's flow process computes."""
  flow = tf_flow(method)(frames0, frames1).numpy()
  np.clip(flow, -FLOW_BOUND, FLOW_BOUND, out=flow)
  return quantize(flow)


def compute_flow(frames, method="tvl1"):
  """uint8 frames [T, H, W, 3] -> float32 flow [T, H, W, 2] in pixels, within [-20, 20].

  flow[t] maps frame t to frame t+1 (x then y); flow[T-1] repeats flow[T-2]; T=1 gives zeros.
  """
  if method not in METHODS:
    raise ValueError(f"flow method {method!r} is not one of {METHODS}")
  frames = np.asarray(frames)
  if frames.dtype != np.uint8:
    raise ValueError(f"frames must be uint8, got {frames.dtype}")
  return flow_from_gray(to_gray(frames), method)


def flow_from_gray(gray, method="tvl1"):
  """uint8 grayscale [T, H, W] -> `compute_flow`'s float32 flow [T, H, W, 2] (same bytes).

  The half of compute_flow a build's flow process runs on frames its workers decoded.
  """
  if method not in METHODS:
    raise ValueError(f"flow method {method!r} is not one of {METHODS}")
  num_frames, height, width = gray.shape
  if num_frames == 0:
    raise ValueError("frames is empty: at least one frame is needed")
  flow = np.zeros((num_frames, height, width, 2), np.float32)
  if method == "none" or num_frames == 1:
    return flow
  flow[:num_frames - 1] = pairs_flow(gray, method)
  flow[num_frames - 1] = flow[num_frames - 2]
  np.clip(flow, -FLOW_BOUND, FLOW_BOUND, out=flow)
  return flow


def quantize(flow):
  """float32 pixels -> uint8 levels: round(px * 255/40 + 127), clipped to [0, 255]."""
  levels = np.rint(np.asarray(flow, np.float32) / FLOW_SCALE + FLOW_OFFSET)
  return np.clip(levels, 0, 255).astype(np.uint8)


def dequantize(levels):
  """uint8 levels -> float32 pixels: (q - 127) * 40/255, clipped to [-20, 20]."""
  pixels = (np.asarray(levels, np.float32) - FLOW_OFFSET) * FLOW_SCALE
  return np.clip(pixels, -FLOW_BOUND, FLOW_BOUND).astype(np.float32)


def to_image(flow):
  """float32 [..., H, W, 2] pixels -> uint8 [..., H, W, 3] image: R = x, G = y, B = 0."""
  levels = quantize(flow)
  return np.concatenate([levels, np.zeros_like(levels[..., :1])], axis=-1)


def from_image(image):
  """uint8 [..., H, W, >=2] flow image (R = x, G = y) -> float32 [..., H, W, 2] pixels."""
  return dequantize(np.asarray(image)[..., :2])


# Precomputed flow frames (denseflow's flow_x_00001.jpg / flow_y_00001.jpg, as mmaction2's
# tools/data/build_rawframes.py writes them with its default bound of 20): one 8-bit grayscale
# image per axis, level v = round(255 * (px + 20) / 40) after truncating to [-20, 20] (denseflow's
# convertFlowToImage; OpenCV's cvRound, half to even). Its inverse is px = v * 40/255 - 20: zero
# motion lies between levels 127 (-0.078 px) and 128 (+0.078 px). Not our stored flow's levels
# (quantize: zero is exactly 127): the two differ by half a level.
DENSEFLOW_BOUND = 20.0


def to_denseflow(flow, bound=DENSEFLOW_BOUND):
  """float32 [..., 2] pixels -> uint8 [..., 2] denseflow levels round(255 (px + b) / 2b), the
  flow_x / flow_y images denseflow writes (for tests and for writing such folders)."""
  clipped = np.clip(np.asarray(flow, np.float32), -bound, bound)
  return np.clip(np.rint((clipped + bound) * (255.0 / (2 * bound))), 0, 255).astype(np.uint8)


def from_denseflow(levels, bound=DENSEFLOW_BOUND):
  """uint8 denseflow levels (flow_x / flow_y pixels) -> float32 pixels v * 2b/255 - b: the
  centre of each level's bin, so a read-back flow is within half a level (0.078 px) of its TV-L1
  flow (JPEG's own loss aside)."""
  return (np.asarray(levels, np.float32) * (2 * bound / 255.0) - bound).astype(np.float32)
