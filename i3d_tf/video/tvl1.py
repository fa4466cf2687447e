"""Dual TV-L1 optical flow in TensorFlow ops: batched, on CPU, GPU and TPU (XLA).

The algorithm of Zach, Pock and Bischof (2007) with Wedel et al.'s (2009) median filtering, as
written up by Sanchez Perez, Meinhardt-Llopis and Facciolo (IPOL 2013), with the conventions of
OpenCV's `DualTVL1OpticalFlow` so that the result agrees with it (tests/test_tvl1.py):
- images as float 0..255 (uint8 as is, float input in [0, 1] is multiplied by 255, as OpenCV does);
- the pyramid: each level is the previous one resized by `scale_step` (bilinear, half-pixel
  centres, clamped borders, no smoothing), to round(size * scale_step); levels under 16 px on
  either side are dropped; the coarsest level starts from zero flow;
- between levels the flow is resized bilinearly to the finer level's size and divided by
  `scale_step`;
- per level: the dual variables start at zero, the centred gradient of frame t+1 (replicated
  border) is computed once; each warp samples frame t+1 and its gradient at x + u bicubically
  (Keys' kernel a = -0.75 at the float position, zero outside the image); each outer
  iteration first median-filters the flow (replicated border), then runs inner iterations
  (thresholding, divergence with backward differences, primal update, forward-difference gradient,
  dual update); a warp stops once the squared change of the flow summed over the level is at most
  epsilon^2 * pixels.
Batched pairs are independent: a pair that meets the stopping rule stops changing while the rest
iterate, so a pair's flow does not depend on the batch it is in.
Layout for speed (BENCHMARKS.md, "TV-L1 on the CPU, issue #19"): a level's flow and dual
variables are planes first ([C, N, H, W]); under XLA an inner iteration is 4 fused passes (the
flow; its squared change; p_x; p_y), the stopping rule's sum and a copy of the carried flow, each
pass computing what it needs (gradients, norms) rather than reading it from a pass of its own.
"""
import dataclasses
import math

import numpy as np
import tensorflow as tf

_MIN_LEVEL_SIDE = 16  # Pyramid levels with a side under 16 px are not used (as OpenCV).
_CUBIC_A = -0.75      # Keys' cubic convolution parameter (OpenCV's INTER_CUBIC).


@dataclasses.dataclass(frozen=True)
class TVL1Params:
  """TV-L1 parameters; the defaults are OpenCV's DualTVL1OpticalFlow defaults."""
  tau: float = 0.25               # Time step of the dual update.
  lambda_: float = 0.15           # Weight of the data term (smaller: smoother flow).
  theta: float = 0.3              # Coupling of the flow u and its auxiliary variable v.
  scales: int = 5                 # Pyramid levels (fewer when a level would be under 16 px).
  scale_step: float = 0.8         # Downscaling factor between levels.
  warps: int = 5                  # Warps of frame t+1 per level.
  epsilon: float = 0.01           # Stopping threshold (per pixel, RMS change of the flow).
  inner_iterations: int = 30
  outer_iterations: int = 10
  median_filtering: int = 5       # Median window over the flow at each outer iteration; <= 1 off.
  gamma: float = 0.0              # Weight of the illumination-change term (0: off).

  def __post_init__(self):
    for name in ("scales", "warps", "inner_iterations", "outer_iterations"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"TVL1Params.{name}={getattr(self, name)}: expected an integer >= 1")
    if not 0 < self.scale_step < 1:
      raise ValueError(f"TVL1Params.scale_step={self.scale_step}: expected 0 < scale_step < 1")
    if self.median_filtering > 1 and self.median_filtering % 2 == 0:
      raise ValueError(f"TVL1Params.median_filtering={self.median_filtering}: expected an odd size")
    if self.tau <= 0 or self.theta <= 0 or self.lambda_ <= 0 or self.epsilon < 0:
      raise ValueError(f"TVL1Params: tau, lambda_, theta must be > 0 and epsilon >= 0, got {self}")

  def describe(self):
    """One line with every parameter, for the data's metadata."""
    return ", ".join(f"{f.name.rstrip('_')}={getattr(self, f.name):g}"
                     for f in dataclasses.fields(self))


def pyramid_sizes(height, width, params):
  """[(H, W)] of the levels used, finest first (OpenCV's rounding and 16-px floor)."""
  sizes = [(int(height), int(width))]
  for _ in range(1, params.scales):
    h, w = sizes[-1]
    # cv::resize with fx = fy = scale_step: round half away from zero (saturate_cast<int>(double)).
    nh, nw = (int(math.floor(h * params.scale_step + 0.5)),
              int(math.floor(w * params.scale_step + 0.5)))
    if nh < _MIN_LEVEL_SIDE or nw < _MIN_LEVEL_SIDE:
      break
    sizes.append((nh, nw))
  return sizes


def _linear_taps(in_size, out_size, scale):
  """Bilinear source indices and weights along one axis: out[i] = a[i0] * w0 + a[i1] * w1.

  `scale` is source pixels per output pixel; half-pixel centres; positions outside the image
  take the border pixel (OpenCV's INTER_LINEAR resize, computed in float32 as it does).
  """
  pos = ((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
  i0 = np.floor(pos).astype(np.int64)
  frac = (pos - i0.astype(np.float32)).astype(np.float32)
  low = i0 < 0
  frac[low], i0[low] = 0.0, 0
  high = i0 >= in_size - 1
  frac[high], i0[high] = 0.0, in_size - 1
  i1 = np.minimum(i0 + 1, in_size - 1)
  return i0, i1, (1.0 - frac).astype(np.float32), frac


def _resize_axis(x, axis, out_size, scale):
  """Bilinear resize of `x` along `axis` to `out_size` (static shapes)."""
  in_size = int(x.shape[axis])
  i0, i1, w0, w1 = _linear_taps(in_size, out_size, scale)
  shape = [1] * len(x.shape)
  shape[axis] = out_size
  return (tf.gather(x, i0, axis=axis) * tf.constant(w0.reshape(shape)) +
          tf.gather(x, i1, axis=axis) * tf.constant(w1.reshape(shape)))


def _resize(x, size, scale_yx=None, axes=(1, 2)):
  """x resized bilinearly to size[0] x size[1] on its `axes` (H, W); `scale_yx` overrides the
  in/out ratios."""
  in_h, in_w = int(x.shape[axes[0]]), int(x.shape[axes[1]])
  sy, sx = scale_yx if scale_yx is not None else (in_h / size[0], in_w / size[1])
  # Rows first, then columns, as OpenCV does (the float rounding then matches it).
  return _resize_axis(_resize_axis(x, axes[1], size[1], sx), axes[0], size[0], sy)


def _clamped_indices(size, before, after):
  return np.clip(np.arange(-before, size + after), 0, size - 1)


def _replicate_pad(x, pad):
  """[N, H, W, C] padded by `pad` on H and W with the border values."""
  x = tf.gather(x, _clamped_indices(int(x.shape[1]), pad, pad), axis=1)
  return tf.gather(x, _clamped_indices(int(x.shape[2]), pad, pad), axis=2)


def centered_gradient(image):
  """[N, H, W] -> ([N, H, W] d/dx, d/dy): (I[x+1] - I[x-1]) / 2 with the border replicated."""
  padded = _replicate_pad(image[..., None], 1)[..., 0]
  dx = 0.5 * (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2])
  dy = 0.5 * (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1])
  return dx, dy


def forward_gradient(u):
  """[..., H, W] -> d/dx, d/dy by forward differences, zero on the last column / row."""
  rank = len(u.shape)
  dx = tf.pad(u[..., :, 1:] - u[..., :, :-1], [[0, 0]] * (rank - 1) + [[0, 1]])
  dy = tf.pad(u[..., 1:, :] - u[..., :-1, :], [[0, 0]] * (rank - 2) + [[0, 1], [0, 0]])
  return dx, dy


def _forward_gradient_by_concat(u):
  """`forward_gradient` written another way: the last column / row is its own neighbour."""
  dx = tf.concat([u[..., :, 1:], u[..., :, -1:]], axis=-1) - u
  dy = tf.concat([u[..., 1:, :], u[..., -1:, :]], axis=-2) - u
  return dx, dy


def divergence(px, py):
  """Backward-difference divergence of the field (px, py) [..., H, W], zero outside the image
  (the adjoint of `forward_gradient`: px is zero on the last column, py on the last row)."""
  rank = len(px.shape)
  px_left = tf.pad(px[..., :, :-1], [[0, 0]] * (rank - 1) + [[1, 0]])
  py_up = tf.pad(py[..., :-1, :], [[0, 0]] * (rank - 2) + [[1, 0], [0, 0]])
  return (px - px_left) + (py - py_up)


def _batcher_comparators(lo, hi):
  """Compare-exchange pairs (i, j), i < j, of Batcher's odd-even merge sort of wires lo..hi."""
  def merge(lo, hi, r):
    step = r * 2
    if step < hi - lo:
      yield from merge(lo, hi, step)
      yield from merge(lo + r, hi, step)
      yield from ((i, i + r) for i in range(lo + r, hi - r, step))
    else:
      yield (lo, lo + r)
  if hi - lo >= 1:
    mid = lo + (hi - lo) // 2
    yield from _batcher_comparators(lo, mid)
    yield from _batcher_comparators(mid + 1, hi)
    yield from merge(lo, hi, 1)


def _median_by_network(values):
  """The median of an odd number of same-shape tensors by min/max compare-exchanges.

  Batcher's network padded to a power of two with +inf wires (comparators against them are
  resolved here); only the comparators the middle output depends on are kept, and of those only
  the min or max that is used: ~2.5x fewer elementwise ops than sorting all values, and no sort
  kernel (slow on CPU), which XLA fuses into one loop.
  """
  count = len(values)
  width = 1 << (count - 1).bit_length()
  comparators = list(_batcher_comparators(0, width - 1))
  # Forward pass over symbols: a wire holds ('in', k), ('min'/'max', node, node) or None (+inf).
  wires = [("in", k) for k in range(count)] + [None] * (width - count)
  nodes = []
  for i, j in comparators:
    a, b = wires[i], wires[j]
    if b is None:
      continue                       # min(a, inf) = a stays on i.
    if a is None:
      wires[i], wires[j] = b, None   # The finite value moves to the min wire.
      continue
    nodes.append(("min", a, b))
    low = ("node", len(nodes) - 1)
    nodes.append(("max", a, b))
    wires[i], wires[j] = low, ("node", len(nodes) - 1)
  cache = {}

  def build(symbol):
    if symbol[0] == "in":
      return values[symbol[1]]
    index = symbol[1]
    if index not in cache:
      op, a, b = nodes[index]
      cache[index] = (tf.minimum if op == "min" else tf.maximum)(build(a), build(b))
    return cache[index]
  return build(wires[count // 2])


def median_filter(u, size):
  """[..., H, W] -> the median over each size x size window, border replicated."""
  half = size // 2
  height, width = int(u.shape[-2]), int(u.shape[-1])
  padded = tf.gather(u, _clamped_indices(height, half, half), axis=len(u.shape) - 2)
  padded = tf.gather(padded, _clamped_indices(width, half, half), axis=len(u.shape) - 1)
  windows = [padded[..., dy:dy + height, dx:dx + width]
             for dy in range(size) for dx in range(size)]
  return _median_by_network(windows)


def _cubic_weights(frac):
  """Keys' cubic weights (a = -0.75) of taps -1, 0, 1, 2 at fractions `frac` in [0, 1)."""
  a = _CUBIC_A
  f1 = frac + 1.0
  g = 1.0 - frac
  w0 = ((a * f1 - 5 * a) * f1 + 8 * a) * f1 - 4 * a
  w1 = ((a + 2) * frac - (a + 3)) * frac * frac + 1
  w2 = ((a + 2) * g - (a + 3)) * g * g + 1
  return [w0, w1, w2, 1.0 - w0 - w1 - w2]


def warp_bicubic(images, u):
  """Samples images [N, H, W, C] at (x + u_x, y + u_y) for u [N, H, W, >=2]; zero outside.

  Keys' cubic kernel (a = -0.75) at the exact (float) position; taps outside the image count as
  zero (OpenCV 5's remap with INTER_CUBIC and a zero constant border).
  """
  n = tf.shape(images)[0]
  height, width, channels = int(images.shape[1]), int(images.shape[2]), int(images.shape[3])
  pad = 4
  padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
  padded_w = width + 2 * pad
  flat = tf.reshape(padded, [n, (height + 2 * pad) * padded_w, channels])
  xs = tf.range(width, dtype=tf.float32)[None, None, :] + u[..., 0]
  ys = tf.range(height, dtype=tf.float32)[None, :, None] + u[..., 1]
  xs = tf.clip_by_value(xs, -8.0, width + 8.0)  # Beyond 3 px outside every tap is zero.
  ys = tf.clip_by_value(ys, -8.0, height + 8.0)
  fx, fy = tf.floor(xs), tf.floor(ys)
  wx = [w[..., None] for w in _cubic_weights(xs - fx)]  # 4 x [N, H, W, 1]
  wy = [w[..., None] for w in _cubic_weights(ys - fy)]
  # Taps ix-1 .. ix+2; far outside, every tap lands in the zero padding.
  ix = tf.clip_by_value(tf.cast(fx, tf.int32), -3, width + 1) + pad
  iy = tf.clip_by_value(tf.cast(fy, tf.int32), -3, height + 1) + pad
  out = None
  for j in range(4):
    row = None
    for i in range(4):
      index = tf.reshape((iy + j - 1) * padded_w + (ix + i - 1), [n, height * width])
      taps = tf.reshape(tf.gather(flat, index, batch_dims=1), [n, height, width, channels])
      term = taps * wx[i]
      row = term if row is None else row + term
    term = row * wy[j]
    out = term if out is None else out + term
  return out


def _one_level(i0, i1, u, params):
  """TV-L1 at one pyramid level: i0, i1 [N, H, W] float 0..255, u [C, N, H, W] initial flow
  (C = 2, or 3 with gamma's illumination term) -> refined u [C, N, H, W].

  Planes first ([C, N, H, W]): each plane is contiguous, so the stencils and the elementwise
  updates run on whole vectors of one component."""
  num_pairs = tf.shape(i0)[0]
  height, width = int(i0.shape[1]), int(i0.shape[2])
  channels = int(u.shape[0])
  use_gamma = channels == 3
  l_t = np.float32(params.lambda_ * params.theta)
  taut = np.float32(params.tau / params.theta)
  theta = np.float32(params.theta)
  gamma = np.float32(params.gamma)
  scaled_epsilon = np.float32(params.epsilon * params.epsilon * height * width)
  tiny = np.finfo(np.float32).eps
  i1x, i1y = centered_gradient(i1)
  targets = tf.stack([i1, i1x, i1y], axis=-1)  # [N, H, W, 3]
  zeros_p = tf.zeros([channels, num_pairs, height, width], tf.float32)

  def pairwise(active, new, old):
    return tf.where(tf.reshape(active, [1, -1, 1, 1]), new, old)

  def warp_body(w, u, px, py):
    warped = warp_bicubic(targets, tf.stack([u[0], u[1]], axis=-1))
    i1w, i1wx, i1wy = warped[..., 0], warped[..., 1], warped[..., 2]  # [N, H, W]
    grad = i1wx * i1wx + i1wy * i1wy
    rho_c = i1w - i1wx * u[0] - i1wy * u[1] - i0
    i_grad = [i1wx, i1wy] + ([tf.fill(tf.shape(i1wx), gamma)] if use_gamma else [])
    i_grad = tf.stack(i_grad)  # [C, N, H, W]
    # A product by a per-warp 1 / grad replaces the thresholding step's division, an expensive
    # op that XLA keeps in a pass of its own. 1 / grad is taken in float64 and rounded: exact
    # either way, where TensorFlow's approximate float32 reciprocal rounds differently in the
    # vector body and the scalar tail (a pair's flow would depend on its batch).
    safe_grad = tf.cast(tf.where(grad > tiny, grad, 1.0), tf.float64)
    inv_grad = tf.where(grad > tiny, tf.cast(1.0 / safe_grad, tf.float32), 0.0)
    lt_grad = l_t * grad

    def inner_cond(k, u, px, py, active):
      return tf.logical_and(k < params.inner_iterations, tf.reduce_any(active))

    def inner_body(k, u, px, py, active):
      """One primal-dual iteration: u from (u, p), then p from (p, the new u)."""
      rho = rho_c + i_grad[0] * u[0] + i_grad[1] * u[1]
      if use_gamma:
        rho += gamma * u[2]
      coef = tf.where(rho < -lt_grad, l_t, tf.where(rho > lt_grad, -l_t, -rho * inv_grad))
      u_new = u + coef[None] * i_grad + theta * divergence(px, py)
      u_new = pairwise(active, u_new, u)
      change = u_new - u
      # Summed over the components first: each pair's sum then runs over its own contiguous
      # [H, W] plane, in an order that does not depend on the batch.
      squared = tf.add_n([change[c] * change[c] for c in range(channels)])  # [N, H, W]
      error = tf.reduce_sum(squared, axis=[1, 2])  # [N]
      # p_x and p_y each compute the gradient and its norm themselves, in one pass each (XLA
      # stores an op that two passes read in a pass of its own). The derivative a pass uses
      # three times is the concatenation form (XLA fuses that one), the other one the padded
      # form; written differently, the passes share nothing that XLA would merge.
      ux_by_concat, uy_by_concat = _forward_gradient_by_concat(u_new)
      ux_by_pad, uy_by_pad = forward_gradient(u_new)
      norm_x = 1.0 + taut * tf.sqrt(ux_by_concat * ux_by_concat + uy_by_pad * uy_by_pad)
      px = pairwise(active, (px + taut * ux_by_concat) / norm_x, px)
      norm_y = 1.0 + taut * tf.sqrt(ux_by_pad * ux_by_pad + uy_by_concat * uy_by_concat)
      py = pairwise(active, (py + taut * uy_by_concat) / norm_y, py)
      active = tf.logical_and(active, error > scaled_epsilon)
      return k + 1, u_new, px, py, active

    def outer_cond(n, u, px, py, active):
      return tf.logical_and(n < params.outer_iterations, tf.reduce_any(active))

    def outer_body(n, u, px, py, active):
      """Each outer iteration median-filters the flow of the pairs still iterating, then runs
      the inner iterations."""
      if params.median_filtering > 1:
        flow = median_filter(u[:2], params.median_filtering)
        if use_gamma:
          flow = tf.concat([flow, u[2:]], axis=0)
        u = pairwise(active, flow, u)
      _, u, px, py, active = tf.while_loop(inner_cond, inner_body,
                                           (tf.constant(0), u, px, py, active))
      return n + 1, u, px, py, active

    active = tf.ones([num_pairs], tf.bool)
    _, u, px, py, _ = tf.while_loop(outer_cond, outer_body,
                                    (tf.constant(0), u, px, py, active))
    return w + 1, u, px, py

  _, u, _, _ = tf.while_loop(lambda w, u, px, py: w < params.warps, warp_body,
                             (tf.constant(0), u, zeros_p, zeros_p))
  return u


def _to_float_255(frames):
  if frames.dtype == tf.uint8:
    return tf.cast(frames, tf.float32)
  return tf.cast(frames, tf.float32) * 255.0  # OpenCV reads float frames as 0..1.


def tvl1_graph(frames0, frames1, params):
  """The TV-L1 graph: [N, H, W] frames t and t+1 (static H, W) -> [N, H, W, 2] flow in pixels."""
  i0, i1 = _to_float_255(frames0), _to_float_255(frames1)
  height, width = int(i0.shape[1]), int(i0.shape[2])
  sizes = pyramid_sizes(height, width, params)
  step = params.scale_step
  pyramid0, pyramid1 = [i0[..., None]], [i1[..., None]]
  for size in sizes[1:]:
    pyramid0.append(_resize(pyramid0[-1], size, (1.0 / step, 1.0 / step)))
    pyramid1.append(_resize(pyramid1[-1], size, (1.0 / step, 1.0 / step)))
  channels = 3 if params.gamma != 0 else 2
  coarse_h, coarse_w = sizes[-1]
  u = tf.zeros([channels, tf.shape(i0)[0], coarse_h, coarse_w], tf.float32)  # [C, N, H, W]
  for level in range(len(sizes) - 1, -1, -1):
    u = _one_level(pyramid0[level][..., 0], pyramid1[level][..., 0], u, params)
    if level == 0:
      break
    u = _resize(u, sizes[level - 1], axes=(2, 3))
    scale = tf.constant([1.0 / step, 1.0 / step] + [1.0] * (channels - 2), tf.float32)
    u = u * scale[:, None, None, None]  # The illumination term is not a displacement.
  return tf.stack([u[0], u[1]], axis=-1)  # [N, H, W, 2]


class TVL1:
  """A reusable batched TV-L1: one traced tf.function per frame size (any batch size).

  tvl1 = TVL1(); flow = tvl1(frames0, frames1)  # [N, H, W] uint8 x2 -> [N, H, W, 2] float32
  `jit_compile=True` compiles with XLA (on the CPU too: several times faster there; BENCHMARKS.md,
  "TV-L1 on the CPU, issue #19"). XLA
  compiles one program per batch size, so under it a batch is padded to the next power of two
  (repeating its last pair, whose copies are dropped): a build whose batches vary (the last pairs
  of each video, partial batches across videos) compiles at most log2(largest batch) + 1 programs
  per frame size, not one per size it meets. A pair's flow does not depend on its batch.
  """

  def __init__(self, params=None, jit_compile=False):
    self.params = params if params is not None else TVL1Params()
    self.jit_compile = bool(jit_compile)
    self._functions = {}

  def _function(self, height, width, dtype):
    key = (height, width, dtype)
    if key not in self._functions:
      spec = tf.TensorSpec([None, height, width], dtype)
      params = self.params

      def flow_fn(frames0, frames1):
        return tvl1_graph(frames0, frames1, params)
      self._functions[key] = tf.function(flow_fn, input_signature=[spec, spec],
                                         jit_compile=self.jit_compile, autograph=False)
    return self._functions[key]

  def function(self, height, width, dtype=tf.uint8):
    """The tf.function this TVL1 runs on [N, height, width] frames of `dtype` (unpadded): what
    benchmarks/xla_export.py takes XLA's program from."""
    return self._function(int(height), int(width), tf.as_dtype(dtype))

  def __call__(self, frames0, frames1):
    """[N, H, W] frames t and t+1 (uint8 0..255 or float 0..1) -> float32 [N, H, W, 2] tensor."""
    frames0 = tf.convert_to_tensor(frames0)
    frames1 = tf.convert_to_tensor(frames1)
    if frames0.shape.rank != 3 or frames0.shape != frames1.shape:
      raise ValueError(f"frames0 {frames0.shape} and frames1 {frames1.shape}: expected two "
                       f"[N, H, W] grayscale batches of one shape")
    if frames0.dtype != frames1.dtype:
      raise ValueError(f"frames0 is {frames0.dtype.name}, frames1 {frames1.dtype.name}: "
                       f"expected one dtype")
    if frames0.dtype != tf.uint8:
      frames0, frames1 = tf.cast(frames0, tf.float32), tf.cast(frames1, tf.float32)
    height, width = int(frames0.shape[1]), int(frames0.shape[2])
    if height < 2 or width < 2:
      raise ValueError(f"frames of {height}x{width}: TV-L1 needs at least 2x2 pixels")
    function = self._function(height, width, frames0.dtype)
    count = int(frames0.shape[0])
    padded = compiled_batch_size(count) if self.jit_compile else count
    if padded == count:
      return function(frames0, frames1)
    extra = padded - count
    frames0 = tf.concat([frames0, tf.repeat(frames0[-1:], extra, axis=0)], axis=0)
    frames1 = tf.concat([frames1, tf.repeat(frames1[-1:], extra, axis=0)], axis=0)
    return function(frames0, frames1)[:count]


def compiled_batch_size(count):
  """The batch an XLA-compiled TVL1 runs `count` pairs in: the next power of two (0 stays 0)."""
  return 0 if count <= 0 else 1 << (int(count) - 1).bit_length()


def tvl1_flow(frames0, frames1, params=None, jit_compile=False):
  """One-off batched TV-L1 (see `TVL1`, which keeps the traced function for reuse)."""
  return TVL1(params, jit_compile)(frames0, frames1)
