"""TV-L1 flow: direction and sign conventions, T kept, truncation, 8-bit quantization."""
import cv2
import numpy as np
import pytest

from i3d_tf.video import flow as flow_lib


def _texture(height, width, seed=0):
  """A smooth random texture with strong gradients everywhere (what TV-L1 needs)."""
  noise = np.random.default_rng(seed).uniform(0, 255, (height, width)).astype(np.float32)
  smooth = cv2.GaussianBlur(noise, (0, 0), 1.5)
  smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 255
  return np.repeat(smooth.astype(np.uint8)[..., None], 3, axis=-1)


def _moving(dx, dy, num_frames=3, size=(64, 80)):
  """Frames of one texture translated by (dx, dy) px per frame (x right, y down)."""
  base = _texture(size[0] + 40, size[1] + 40)
  return np.stack([base[20 - t * dy:20 - t * dy + size[0], 20 - t * dx:20 - t * dx + size[1]]
                   for t in range(num_frames)])


@pytest.mark.parametrize("method", ["tvl1", "tvl1_fast"])
def test_texture_moving_right_gives_positive_x(method):
  frames = _moving(dx=3, dy=0)
  flow = flow_lib.compute_flow(frames, method)
  assert flow.shape == (3, 64, 80, 2) and flow.dtype == np.float32
  inside = flow[0, 12:-12, 12:-12]
  assert abs(np.median(inside[..., 0]) - 3.0) < 0.3
  assert abs(np.median(inside[..., 1])) < 0.3


def test_texture_moving_down_and_left():
  flow = flow_lib.compute_flow(_moving(dx=-2, dy=2), "tvl1")
  inside = flow[0, 12:-12, 12:-12]
  assert abs(np.median(inside[..., 0]) + 2.0) < 0.3  # Left: x negative.
  assert abs(np.median(inside[..., 1]) - 2.0) < 0.3  # Down: y positive.


def test_same_t_and_last_frame_repeats():
  frames = _moving(dx=1, dy=1, num_frames=4, size=(32, 40))
  flow = flow_lib.compute_flow(frames, "tvl1_fast")
  assert flow.shape[0] == 4
  np.testing.assert_array_equal(flow[3], flow[2])
  assert np.abs(flow[0]).mean() > 0.5
  single = flow_lib.compute_flow(frames[:1], "tvl1")
  assert single.shape == (1, 32, 40, 2) and not single.any()


def test_none_method_and_bad_input():
  frames = _moving(dx=2, dy=0, size=(16, 16))
  assert not flow_lib.compute_flow(frames, "none").any()
  with pytest.raises(ValueError, match="not one of"):
    flow_lib.compute_flow(frames, "farneback")
  with pytest.raises(ValueError, match="uint8"):
    flow_lib.compute_flow(frames.astype(np.float32), "tvl1")


def test_truncated_to_bound():
  # Unrelated frames make TV-L1 produce arbitrary, sometimes large, vectors.
  rng = np.random.default_rng(1)
  frames = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
  flow = flow_lib.compute_flow(frames, "tvl1_fast")
  assert np.abs(flow).max() <= flow_lib.FLOW_BOUND


def test_fast_setting_differs_from_default():
  assert "Epsilon=0.01" in flow_lib.method_settings("tvl1")
  assert "Epsilon=0.05" in flow_lib.method_settings("tvl1_fast")
  assert "InnerIterations=10" in flow_lib.method_settings("tvl1_fast")


def test_quantization_rounds_and_zero_is_exact():
  assert flow_lib.quantize(np.float32(0.0)) == 127
  assert flow_lib.dequantize(np.uint8(127)) == 0.0
  pixels = np.random.default_rng(0).uniform(-20, 20, 10000).astype(np.float32)
  back = flow_lib.dequantize(flow_lib.quantize(pixels))
  assert np.abs(back - pixels).max() <= flow_lib.FLOW_SCALE / 2 + 1e-5
  assert abs((back - pixels).mean()) < 0.01
  assert flow_lib.quantize(np.float32([-25, 25])).tolist() == [0, 255]
  assert np.abs(flow_lib.dequantize(np.arange(256, dtype=np.uint8))).max() <= 20.0


def test_mediapipe_truncated_levels_read_unbiased():
  pixels = np.random.default_rng(0).uniform(-19, 19, 10000).astype(np.float32)
  mediapipe_levels = ((pixels + 20) / 40 * 255).astype(np.uint8)  # FlowQuantizerModel::Apply.
  naive = mediapipe_levels * (40 / 255) - 20
  assert (naive - pixels).mean() < -0.07  # The truncation bias the issue names.
  assert abs((flow_lib.dequantize(mediapipe_levels) - pixels).mean()) < 0.01
  assert flow_lib.dequantize(((np.float32(0) + 20) / 40 * 255).astype(np.uint8)) == 0.0


def test_image_layout():
  pixels = np.zeros((2, 4, 4, 2), np.float32)
  pixels[..., 0] = 5.0
  pixels[..., 1] = -3.0
  image = flow_lib.to_image(pixels)
  assert image.shape == (2, 4, 4, 3) and image.dtype == np.uint8
  assert (image[..., 2] == 0).all() and (image[..., 0] > 127).all() and (image[..., 1] < 127).all()
  np.testing.assert_allclose(flow_lib.from_image(image), pixels, atol=flow_lib.FLOW_SCALE / 2)
