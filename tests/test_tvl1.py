"""TV-L1 in TensorFlow (i3d_tf/video/tvl1.py): agreement with OpenCV's DualTVL1, known motion,
batch independence, input dtypes, XLA; the 'tvl1_tf' flow methods."""
import math

import cv2
import numpy as np
import pytest

from i3d_tf.video import flow as flow_lib
from i3d_tf.video import synthetic
from i3d_tf.video import tvl1


def _texture(height, width, seed=0, blur=2.0):
  """A smooth random uint8 texture with gradients everywhere (what TV-L1 needs)."""
  noise = np.random.default_rng(seed).uniform(0, 255, (height, width)).astype(np.float32)
  smooth = cv2.GaussianBlur(noise, (0, 0), blur)
  return ((smooth - smooth.min()) / (smooth.max() - smooth.min()) * 255).astype(np.float32)


def _affine_pair(matrix, size=(40, 56), seed=0):
  """(frame0, frame1, true flow [H, W, 2]): frame1(x') = frame0(x) for x' = A x + b.

  Both frames are cut from one larger texture, frame1 resampled bicubically, so the true flow of
  pixel x of frame0 is A x + b - x everywhere (no occlusion, no border).
  """
  height, width = size
  margin = 16
  big = _texture(height + 2 * margin, width + 2 * margin, seed)
  shift = np.float32([[1, 0, margin], [0, 1, margin]])  # frame coordinates -> big coordinates
  frame0 = big[margin:margin + height, margin:margin + width]
  # frame1 at x' samples big at A^-1 (x' - b) + margin.
  full = np.vstack([matrix, [0, 0, 1]]).astype(np.float64)
  inverse = np.linalg.inv(full)[:2]
  to_big = inverse.copy()
  to_big[:, 2] += margin
  frame1 = cv2.warpAffine(big, to_big.astype(np.float32), (width, height),
                          flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
  del shift
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
  moved_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
  moved_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
  truth = np.stack([moved_x - xs, moved_y - ys], axis=-1).astype(np.float32)
  to_uint8 = lambda f: np.clip(np.rint(f), 0, 255).astype(np.uint8)
  return to_uint8(frame0), to_uint8(frame1), truth


def _translation(dx, dy, **kwargs):
  return _affine_pair(np.array([[1, 0, dx], [0, 1, dy]], np.float64), **kwargs)


def _rotation(degrees, size=(40, 56), **kwargs):
  centre = ((size[1] - 1) / 2, (size[0] - 1) / 2)
  return _affine_pair(cv2.getRotationMatrix2D(centre, degrees, 1.0), size=size, **kwargs)


def _opencv(frame0, frame1, **settings):
  """OpenCV's DualTVL1 flow [H, W, 2]; a fresh instance (calc lowers its scale count for good
  after a small image)."""
  flow = cv2.optflow.DualTVL1OpticalFlow_create()
  for name, value in settings.items():
    getattr(flow, "set" + name)(value)
  return flow.calc(frame0, frame1, None)


def _epe(a, b):
  return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)


_SETTINGS = [  # (OpenCV setters, TVL1Params): each stage of the algorithm on its own, then all.
    ({"ScalesNumber": 1, "WarpingsNumber": 1, "InnerIterations": 5, "OuterIterations": 1,
      "MedianFiltering": 1, "Epsilon": 0.0},
     {"scales": 1, "warps": 1, "inner_iterations": 5, "outer_iterations": 1,
      "median_filtering": 1, "epsilon": 0.0}),
    ({"ScalesNumber": 1, "WarpingsNumber": 2, "InnerIterations": 4, "OuterIterations": 2,
      "Epsilon": 0.0},
     {"scales": 1, "warps": 2, "inner_iterations": 4, "outer_iterations": 2, "epsilon": 0.0}),
    ({"ScalesNumber": 3, "WarpingsNumber": 2, "InnerIterations": 5, "OuterIterations": 2},
     {"scales": 3, "warps": 2, "inner_iterations": 5, "outer_iterations": 2}),
    ({"Gamma": 0.1, "ScalesNumber": 2, "WarpingsNumber": 2, "InnerIterations": 5,
      "OuterIterations": 2},
     {"gamma": 0.1, "scales": 2, "warps": 2, "inner_iterations": 5, "outer_iterations": 2}),
]


@pytest.mark.parametrize("opencv_settings,params", _SETTINGS)
def test_each_stage_matches_opencv(opencv_settings, params):
  frame0, frame1, _ = _translation(2.6, -1.3)
  expected = _opencv(frame0, frame1, **opencv_settings)
  got = tvl1.tvl1_flow(frame0[None], frame1[None], tvl1.TVL1Params(**params))[0].numpy()
  assert got.shape == expected.shape and got.dtype == np.float32
  assert np.abs(expected).mean() > 0.3  # The settings do move the flow.
  np.testing.assert_allclose(got, expected, atol=2e-3)


def test_defaults_are_opencvs():
  params = tvl1.TVL1Params()
  opencv = cv2.optflow.DualTVL1OpticalFlow_create()
  pairs = {"tau": "Tau", "lambda_": "Lambda", "theta": "Theta", "scales": "ScalesNumber",
           "scale_step": "ScaleStep", "warps": "WarpingsNumber", "epsilon": "Epsilon",
           "inner_iterations": "InnerIterations", "outer_iterations": "OuterIterations",
           "median_filtering": "MedianFiltering", "gamma": "Gamma"}
  for ours, theirs in pairs.items():
    assert getattr(params, ours) == pytest.approx(getattr(opencv, "get" + theirs)()), ours
  assert not opencv.getUseInitialFlow()


def test_pyramid_drops_levels_under_16_px():
  assert tvl1.pyramid_sizes(256, 340, tvl1.TVL1Params()) == [
      (256, 340), (205, 272), (164, 218), (131, 174), (105, 139)]
  assert tvl1.pyramid_sizes(24, 40, tvl1.TVL1Params()) == [(24, 40), (19, 32)]


def _synthetic_truth(label, seed, size=48):
  """(frame0, frame1 gray uint8, true flow [H, W, 2], mask of pixels whose motion is known)."""
  frames, coverage = synthetic.render(label, seed, num_frames=2, height=size, width=size)
  gray = flow_lib.to_gray(frames)
  params = synthetic.scene_parameters(seed, size, size)
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
  truth = np.zeros((size, size, 2), np.float64)
  truth[...] = params["background_velocity"]
  (c0, a0, _), (c1, a1, _) = (synthetic.object_pose(label, params, t) for t in (0, 1))
  c0 = np.mod(c0, size)
  dx = (xs - c0[0] + size / 2) % size - size / 2  # Offsets to the nearest copy of the centre.
  dy = (ys - c0[1] + size / 2) % size - size / 2
  turn = a1 - a0
  moved_x = c1[0] - c0[0] + math.cos(turn) * dx - math.sin(turn) * dy
  moved_y = c1[1] - c0[1] + math.sin(turn) * dx + math.cos(turn) * dy
  inside = (coverage[0] > 0.99) & (coverage[1] > 0.99)
  truth[inside, 0] = (moved_x - dx)[inside]
  truth[inside, 1] = (moved_y - dy)[inside]
  known = inside | ((coverage[0] < 0.01) & (coverage[1] < 0.01))
  known[:4], known[-4:], known[:, :4], known[:, -4:] = False, False, False, False
  return gray[0], gray[1], truth.astype(np.float32), known


_SIZE = (64, 64)  # One frame size for the default-parameter tests: one traced function.
_DEFAULT_TVL1 = tvl1.TVL1()


def _known_motion_cases():
  cases = {}
  size = _SIZE
  for name, (dx, dy) in {"subpixel": (0.4, -0.3), "multipixel": (3.5, 2.0)}.items():
    frame0, frame1, truth = _translation(dx, dy, size=size)
    cases[name] = (frame0, frame1, truth, np.ones(truth.shape[:2], bool))
  frame0, frame1, truth = _rotation(5.0, size=size)
  cases["rotation"] = (frame0, frame1, truth, np.ones(truth.shape[:2], bool))
  for label in ("translate_right", "rotate_clockwise"):
    cases[label] = _synthetic_truth(label, seed=3, size=_SIZE[0])
  return cases


def test_known_motion_and_agreement_with_opencv():
  """EPE against the true motion within 10% of OpenCV's, and close to OpenCV's flow itself.

  Measured at 64x64 (ours / OpenCV EPE to the truth, px): subpixel 0.039 / 0.038, multipixel
  0.021 / 0.021, rotation 0.129 / 0.131, synthetic translation 0.046 / 0.046, synthetic rotation
  0.074 / 0.074. Against OpenCV's flow: up to 7500 iterations amplify float round-off where the
  data term is weak, mostly at the border where the warp samples outside frame t+1 (measured on a
  small rotation: mean 0.027 px, p95 0.10 px, 0.008 px inside a 6-px margin).
  """
  cases = _known_motion_cases()
  frames0 = np.stack([c[0] for c in cases.values()])  # [5, H, W]
  frames1 = np.stack([c[1] for c in cases.values()])
  ours_all = _DEFAULT_TVL1(frames0, frames1).numpy()
  for (name, (frame0, frame1, truth, known)), ours in zip(cases.items(), ours_all):
    theirs = _opencv(frame0, frame1)
    ours_error = _epe(ours, truth)[known].mean()
    theirs_error = _epe(theirs, truth)[known].mean()
    motion = np.linalg.norm(truth, axis=-1)[known].mean()
    assert ours_error < 0.5 * motion + 0.1, (name, ours_error, motion)  # It did find the motion.
    assert ours_error <= 1.1 * theirs_error + 1e-3, (name, ours_error, theirs_error)
    difference = _epe(ours, theirs)
    assert difference.mean() < 0.05 and np.percentile(difference, 95) < 0.15, (
        name, difference.mean(), difference.max())
    assert difference[6:-6, 6:-6].mean() < 0.02, name


def test_pair_does_not_depend_on_its_batch():
  # Three pairs that stop after different numbers of iterations: still, small and large motion.
  still = _translation(0, 0, seed=1, size=_SIZE)[:2]
  pairs = [_translation(0.3, 0.2, seed=2, size=_SIZE)[:2], still,
           _translation(4, -3, seed=3, size=_SIZE)[:2]]
  frames0 = np.stack([p[0] for p in pairs])  # [3, H, W]
  frames1 = np.stack([p[1] for p in pairs])
  batched = _DEFAULT_TVL1(frames0, frames1).numpy()
  for i in range(3):
    alone = _DEFAULT_TVL1(frames0[i:i + 1], frames1[i:i + 1]).numpy()[0]
    np.testing.assert_allclose(batched[i], alone, atol=1e-5, err_msg=f"pair {i}")
  assert np.abs(batched[1]).max() < 0.05  # Identical frames: no motion.


def test_uint8_and_float_input_agree():
  frame0, frame1, _ = _translation(1.5, 0.5, size=(24, 32))
  params = tvl1.TVL1Params(scales=2, warps=2, inner_iterations=10, outer_iterations=2)
  from_uint8 = tvl1.tvl1_flow(frame0[None], frame1[None], params).numpy()
  # Float frames are read as 0..1, as OpenCV reads them.
  from_float = tvl1.tvl1_flow(frame0[None] / np.float32(255), frame1[None] / np.float32(255),
                              params)
  np.testing.assert_allclose(from_float.numpy(), from_uint8, atol=1e-3)
  with pytest.raises(ValueError, match=r"\[N, H, W\]"):
    tvl1.tvl1_flow(frame0, frame1)


def test_xla_compiles_on_cpu_and_matches():
  frame0, frame1, _ = _translation(1.5, -1.0, size=(20, 24))
  params = tvl1.TVL1Params(scales=1, warps=2, inner_iterations=5, outer_iterations=2)
  plain = tvl1.TVL1(params)(frame0[None], frame1[None]).numpy()
  compiled = tvl1.TVL1(params, jit_compile=True)(frame0[None], frame1[None]).numpy()
  assert np.abs(plain).mean() > 0.5
  np.testing.assert_allclose(compiled, plain, atol=1e-3)


def test_xla_batches_are_padded_to_a_power_of_two():
  """Under XLA each batch size compiles its own program: 3 pairs run as 4, the copy dropped."""
  pairs = [_translation(dx, dy, size=(20, 24)) for dx, dy in ((1.5, -1.0), (0.5, 2.0), (-2.0, 0.0))]
  frames0 = np.stack([p[0] for p in pairs])
  frames1 = np.stack([p[1] for p in pairs])
  params = tvl1.TVL1Params(scales=1, warps=2, inner_iterations=5, outer_iterations=2)
  compiled = tvl1.TVL1(params, jit_compile=True)
  sizes = []
  real = compiled._function  # pylint: disable=protected-access

  def recording(*args):
    function = real(*args)

    def run(f0, f1):
      sizes.append(int(f0.shape[0]))
      return function(f0, f1)
    return run
  compiled._function = recording  # pylint: disable=protected-access
  flow = compiled(frames0, frames1).numpy()
  assert sizes == [4] and flow.shape == (3, 20, 24, 2)
  np.testing.assert_allclose(flow, tvl1.TVL1(params)(frames0, frames1).numpy(), atol=1e-3)
  assert [tvl1.compiled_batch_size(n) for n in (0, 1, 2, 3, 5, 32, 33)] == [0, 1, 2, 4, 8, 32, 64]
  # Full batches on a GPU/TPU are powers of two already (32 of 256x340, 16 of 256x456).
  assert [flow_lib.pairs_per_call(256, w, "GPU") for w in (340, 456)] == [32, 16]
  assert flow_lib.pairs_per_call(64, 64, "CPU") == 2 and flow_lib.pairs_per_call(91, 91, "CPU") == 1
  assert flow_lib.pairs_per_call(32, 40, "CPU") == 4  # 6 would run padded to 8


def test_bad_params():
  with pytest.raises(ValueError, match="scale_step"):
    tvl1.TVL1Params(scale_step=1.2)
  with pytest.raises(ValueError, match="median_filtering"):
    tvl1.TVL1Params(median_filtering=4)
  with pytest.raises(ValueError, match="warps"):
    tvl1.TVL1Params(warps=0)


@pytest.mark.parametrize("method", ["tvl1_tf", "tvl1_tf_fast"])
def test_flow_methods(method):
  assert method in flow_lib.METHODS
  base = np.repeat(_texture(80, 96)[..., None], 3, axis=-1).astype(np.uint8)
  # 24x32: two pyramid levels, an XLA program half as long to compile as 32x40's four (each
  # batch size compiles); measured medians -3.00 / 1.99 px (fast: -3.00 / 2.00).
  frames = np.stack([base[20 - 2 * t:44 - 2 * t, 20 + 3 * t:52 + 3 * t] for t in range(4)])
  flow = flow_lib.compute_flow(frames, method)
  assert flow.shape == (4, 24, 32, 2) and flow.dtype == np.float32
  np.testing.assert_array_equal(flow[3], flow[2])
  inside = flow[:3, 8:-8, 8:-8]
  assert abs(np.median(inside[..., 0]) + 3.0) < 0.3  # Content moves left: x negative.
  assert abs(np.median(inside[..., 1]) - 2.0) < 0.3  # And down: y positive.
  if method == "tvl1_tf":  # (the same code batches both methods; each batch size compiles)
    # compute_flow's one call of 3 pairs (run as 4) gives the flow of one pair per call.
    gray = flow_lib.to_gray(frames)
    single = flow_lib.pairs_flow(gray, method, pixels_per_call=24 * 32)
    np.testing.assert_allclose(single, np.clip(flow[:3], -20, 20), atol=1e-5)
  settings = flow_lib.method_settings(method)
  assert settings.startswith(method) and "TensorFlow" in settings
  # Compiled with XLA on every device, the CPU included (~6x faster there, BENCHMARKS.md).
  assert flow_lib.tf_flow(method).jit_compile and "XLA on" in settings
  assert ("epsilon=0.05" in settings) == (method == "tvl1_tf_fast")
