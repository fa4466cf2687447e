"""Procedural videos whose classes only motion tells apart: the project's embedded data set.

A textured shape over a textured background that drifts slowly. The class is what the shape does:
translate right/left/up/down, rotate clockwise/counter-clockwise, zoom in/out. Everything about
frame 0 (textures, colours, shape, size, position, angle, speeds, background drift) is drawn from
the seed alone, before the label is looked at, so make_video(a, seed)[0] == make_video(b, seed)[0]
for any two labels: no first frame can tell the classes apart; the flow can. The scene is a torus
(a shape leaving on the right comes back on the left) and positions and angles are uniform, so for
the six translation and rotation classes every later frame has the same distribution too; only
the zoom classes' sizes drift apart over a clip (by at most the 1.6x zoom).
"""
import math

import cv2
import numpy as np

CLASS_NAMES = (
    "translate_right", "translate_left", "translate_up", "translate_down",
    "rotate_clockwise", "rotate_counterclockwise", "zoom_in", "zoom_out",
)
NUM_CLASSES = len(CLASS_NAMES)
SHAPES = ("circle", "square", "triangle", "hexagon")

# Unit direction (x right, y down) of each translation class.
_DIRECTIONS = {"translate_right": (1.0, 0.0), "translate_left": (-1.0, 0.0),
               "translate_up": (0.0, -1.0), "translate_down": (0.0, 1.0)}
_EDGE_SPEED = (1.5, 3.0)  # Range of the shape's edge speed, px per frame (TV-L1 sees it well).
_ZOOM_OVER_CLIP = 1.6  # A zooming shape grows (or shrinks) by at most this factor over a clip.
_BACKGROUND_MAX_SPEED = 0.5  # Label-independent drift of the background, px per frame.


def _texture(rng, height, width, colour_a, colour_b, blur):
  """A smooth random two-colour texture, float32 [H, W, 3], with gradients TV-L1 can follow.

  Low-pass filtered in the Fourier domain, so it tiles: the background wraps around seamlessly.
  """
  noise = rng.random((height, width))
  freq_y = np.fft.fftfreq(height)[:, None]
  freq_x = np.fft.rfftfreq(width)[None, :]
  gain = np.exp(-2 * (np.pi * blur) ** 2 * (freq_y ** 2 + freq_x ** 2))  # Gaussian of sigma blur.
  smooth = np.fft.irfft2(np.fft.rfft2(noise) * gain, s=(height, width))
  smooth = (smooth - smooth.min()) / max(float(smooth.max() - smooth.min()), 1e-6)
  # Sharpen the contrast so that blotches have edges.
  mix = np.clip((smooth - 0.5) * 2.5 + 0.5, 0.0, 1.0)[..., None]
  return (colour_a * (1 - mix) + colour_b * mix).astype(np.float32)


def _random_colour(rng):
  return rng.uniform(20, 235, size=3).astype(np.float32)


def _shape_mask(shape, size):
  """float32 [size, size] mask of `shape` centred in the canvas, radius size/2 - 1."""
  mask = np.zeros((size, size), np.uint8)
  centre = (size - 1) / 2.0
  radius = size / 2.0 - 1
  if shape == "circle":
    cv2.circle(mask, (int(round(centre)), int(round(centre))), int(radius), 255, -1, cv2.LINE_AA)
  else:
    sides = {"square": 4, "triangle": 3, "hexagon": 6}[shape]
    angles = np.pi / 2 + 2 * np.pi * np.arange(sides) / sides
    if shape == "square":
      angles = angles + np.pi / 4
    points = np.stack([centre + radius * np.cos(angles), centre - radius * np.sin(angles)], -1)
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
  return mask.astype(np.float32) / 255.0


def scene_parameters(seed, height, width):
  """Everything the seed decides (no label, no clip length): textures, shape, placement, speeds."""
  rng = np.random.default_rng(seed)
  side = min(height, width)
  radius = side * rng.uniform(0.15, 0.22)  # Shape radius at scale 1, px.
  canvas = int(math.ceil(radius * _ZOOM_OVER_CLIP)) * 2 + 2  # Object canvas: sharp up to 1.6x.
  return {
      "background": _texture(rng, height, width, _random_colour(rng), _random_colour(rng),
                             blur=side * rng.uniform(0.02, 0.04)),
      "background_velocity": _polar(rng.uniform(0, _BACKGROUND_MAX_SPEED),
                                    rng.uniform(0, 2 * np.pi)),
      "object_texture": _texture(rng, canvas, canvas, _random_colour(rng), _random_colour(rng),
                                 blur=side * rng.uniform(0.015, 0.03)),
      "object_mask": _shape_mask(SHAPES[rng.integers(len(SHAPES))], canvas),
      "canvas_radius": canvas / 2.0,  # The canvas is drawn at 1/1.6 so that zooms stay sharp.
      "radius": radius,
      "centre": np.array([rng.uniform(0, width), rng.uniform(0, height)]),
      "angle": rng.uniform(0, 2 * np.pi),
      "scale": math.exp(rng.uniform(-0.25, 0.25)),
      "edge_speed": rng.uniform(*_EDGE_SPEED),
  }


def _polar(speed, angle):
  return np.array([speed * math.cos(angle), speed * math.sin(angle)])


def object_pose(label_name, params, t, num_frames):
  """(centre [x, y] before wrapping, angle rad, scale) of the shape at frame t."""
  centre = params["centre"].copy()
  angle = params["angle"]
  scale = params["scale"]
  speed = params["edge_speed"]
  radius = params["radius"] * scale
  # Zoom rate per frame: the edge speed, but at most 1.6x over the clip.
  zoom_rate = min(speed / radius, math.log(_ZOOM_OVER_CLIP) / max(num_frames - 1, 1))
  if label_name in _DIRECTIONS:
    centre = centre + speed * t * np.array(_DIRECTIONS[label_name])
  elif label_name == "rotate_clockwise":  # y points down, so +angle turns x towards +y: clockwise.
    angle += speed * t / radius
  elif label_name == "rotate_counterclockwise":
    angle -= speed * t / radius
  elif label_name == "zoom_in":
    scale *= math.exp(zoom_rate * t)
  elif label_name == "zoom_out":
    scale *= math.exp(-zoom_rate * t)
  else:
    raise ValueError(f"unknown synthetic class {label_name!r}; expected one of {CLASS_NAMES}")
  return centre, angle, scale


def render(label, seed, num_frames=16, height=64, width=64):
  """(uint8 frames [T, H, W, 3], float32 shape coverage [T, H, W] in [0, 1]) of one video."""
  label_name = CLASS_NAMES[label] if not isinstance(label, str) else label
  if label_name not in CLASS_NAMES:
    raise ValueError(f"unknown synthetic class {label!r}; expected one of {CLASS_NAMES}")
  if num_frames < 1 or height < 16 or width < 16:
    raise ValueError(f"need num_frames >= 1 and height, width >= 16; got {num_frames}, "
                     f"{height}, {width}")
  params = scene_parameters(seed, height, width)
  texture, mask = params["object_texture"], params["object_mask"]
  canvas_centre = (texture.shape[0] - 1) / 2.0
  # Canvas pixels per image pixel at scale 1: the canvas holds the shape at radius * 1.6.
  canvas_to_radius = params["radius"] / (params["canvas_radius"] - 1)
  frames = np.empty((num_frames, height, width, 3), np.uint8)
  coverage = np.empty((num_frames, height, width), np.float32)
  for t in range(num_frames):
    # Background: the tiling texture shifted by its drift (sub-pixel, bilinear, wrapping).
    shift = params["background_velocity"] * t
    to_background = np.float32([[1, 0, -shift[0]], [0, 1, -shift[1]]])
    frame = cv2.warpAffine(params["background"], to_background, (width, height),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_WRAP)
    centre, angle, scale = object_pose(label_name, params, t, num_frames)
    centre = np.mod(centre, [width, height])  # The scene is a torus.
    extent = scale * params["radius"] * 1.5  # Bounding radius of any of the shapes, px.
    cos = scale * canvas_to_radius * math.cos(angle)
    sin = scale * canvas_to_radius * math.sin(angle)
    alpha_total = np.zeros((height, width), np.float32)
    for dx in (-width, 0, width):
      for dy in (-height, 0, height):
        cx, cy = centre[0] + dx, centre[1] + dy
        if cx + extent < 0 or cx - extent > width or cy + extent < 0 or cy - extent > height:
          continue
        # Canvas -> image: scale and rotate about the canvas centre, then move to (cx, cy).
        to_image = np.float32([
            [cos, -sin, cx - (cos - sin) * canvas_centre],
            [sin, cos, cy - (sin + cos) * canvas_centre]])
        pixels = cv2.warpAffine(texture, to_image, (width, height), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(mask, to_image, (width, height), flags=cv2.INTER_LINEAR)
        frame = frame * (1 - alpha[..., None]) + pixels * alpha[..., None]
        alpha_total = np.maximum(alpha_total, alpha)
    frames[t] = np.clip(frame + 0.5, 0, 255)
    coverage[t] = alpha_total
  return frames, coverage


def make_video(label, seed, num_frames=16, height=64, width=64):
  """uint8 [num_frames, height, width, 3] RGB video of class `label` (index or name), by seed."""
  return render(label, seed, num_frames, height, width)[0]
