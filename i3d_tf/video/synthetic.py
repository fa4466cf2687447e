"""Procedural videos whose classes only motion tells apart: the project's embedded data set.

A textured object over a textured background that drifts slowly. The class is what the object does:
translate right/left/up/down, rotate clockwise/counter-clockwise, zoom in/out. The object is a nest
of self-similar layers (a shape holding a copy of itself 0.55x the size, alternating two textures,
the outermost fading out), so it can zoom in or out forever, like a tunnel, at the same edge speed
as the other motions. Everything about frame 0 (textures, colours, shape, size, position, angle,
zoom phase, speeds, background drift) is drawn from the seed alone, before the label is looked at:
make_video(a, seed)[0] == make_video(b, seed)[0] for any two labels. The scene is a torus (an
object leaving on the right comes back on the left), and position, angle and zoom phase are
uniform over their periods, so every later frame has the same distribution as frame 0 for every
class: no single frame tells the classes apart; the motion does.

Designed so that both kinds of network learn it in minutes: textures are smooth colour noise
(gradients everywhere, so motion shows at every pixel, not only at edges), the object fills about
30% of the frame over a fainter background, and moves 2.5-4 px per frame. With flat two-colour
blotches, a smaller object and 1.5-3 px (version 1.0.0), RGB I3D stayed at chance while flow
learned; see BENCHMARKS.md, 'Embedded default'.
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
# Range of the object's edge speed, px per frame. TV-L1 follows 1.5-3 px as well, but RGB I3D's
# 7x7x7 first filters learn the faster motion much sooner (version 1.1.0 of the set).
_EDGE_SPEED = (2.5, 4.0)
_NEST_RATIO = 0.55  # Each layer of the object holds the next, this much smaller.
_FADE = 1.3  # A layer fades out as its radius grows from 1x to 1.3x the object's radius.
_MIN_LAYER_RADIUS = 1.0  # Layers smaller than this (px) are not drawn.
_BACKGROUND_MAX_SPEED = 0.5  # Label-independent drift of the background, px per frame.
_RADIUS = (0.28, 0.36)  # Object radius, a fraction of the shorter side (about 30% of the frame).
_OBJECT_CONTRAST = 50.0  # Std of the object's textures, in 0-255 pixel values (clipped at render).
_BACKGROUND_CONTRAST = 0.3  # The background's texture std, a fraction of the object's: the
#   object stands out by its texture (not only by its motion), as a foreground does in real video.
_TINT = 10.0  # Mean colours are mid-grey +- this (0-255): dark or saturated scenes hid the motion.
_BLUR = (0.02, 0.026)  # Texture smoothness: Gaussian sigma, a fraction of the shorter side.


def _texture(rng, height, width, mean_colour, contrast, blur):
  """A smooth random colour texture, float32 [H, W, 3]: mean_colour + contrast * N(0, 1) noise.

  Each channel is white noise low-pass filtered in the Fourier domain (a Gaussian of sigma `blur`
  px), so the texture tiles (the background wraps around seamlessly) and has gradients everywhere:
  both TV-L1 and an RGB network's spatio-temporal filters see its motion at every pixel. (Flat
  two-colour blotches, the first design, moved visibly only at their edges: RGB I3D stayed at
  chance on them while flow learned them.)
  """
  noise = rng.standard_normal((height, width, 3))
  freq_y = np.fft.fftfreq(height)[:, None, None]
  freq_x = np.fft.rfftfreq(width)[None, :, None]
  gain = np.exp(-2 * (np.pi * blur) ** 2 * (freq_y ** 2 + freq_x ** 2))  # Gaussian of sigma blur.
  smooth = np.fft.irfft2(np.fft.rfft2(noise, axes=(0, 1)) * gain, s=(height, width), axes=(0, 1))
  smooth = (smooth - smooth.mean(axis=(0, 1))) / np.maximum(smooth.std(axis=(0, 1)), 1e-6)
  return (mean_colour + contrast * smooth).astype(np.float32)


def _random_colour(rng):
  """A mean colour near mid-grey: the textures' colour noise, not their mean, carries the motion."""
  return rng.uniform(127.5 - _TINT, 127.5 + _TINT, size=3).astype(np.float32)


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
  radius = side * rng.uniform(*_RADIUS)  # Object radius (its outermost opaque layer), px.
  canvas = int(math.ceil(radius * _FADE)) * 2 + 2  # Layer canvas: the largest layer at 1:1.
  log_period = 2 * math.log(1 / _NEST_RATIO)  # Zooming by this returns the same picture.
  return {
      "background": _texture(rng, height, width, _random_colour(rng),
                             contrast=_BACKGROUND_CONTRAST * _OBJECT_CONTRAST,
                             blur=side * rng.uniform(*_BLUR)),
      "background_velocity": _polar(rng.uniform(0, _BACKGROUND_MAX_SPEED),
                                    rng.uniform(0, 2 * np.pi)),
      # Even layers wear texture a, odd layers texture b.
      "textures": [_texture(rng, canvas, canvas, _random_colour(rng), contrast=_OBJECT_CONTRAST,
                            blur=side * rng.uniform(*_BLUR)) for _ in range(2)],
      "mask": _shape_mask(SHAPES[rng.integers(len(SHAPES))], canvas),
      "radius": radius,
      "centre": np.array([rng.uniform(0, width), rng.uniform(0, height)]),
      "angle": rng.uniform(0, 2 * np.pi),
      "log_zoom": rng.uniform(0, log_period),
      "edge_speed": rng.uniform(*_EDGE_SPEED),
  }


def _polar(speed, angle):
  return np.array([speed * math.cos(angle), speed * math.sin(angle)])


def object_pose(label_name, params, t):
  """(centre [x, y] before wrapping, angle rad, log zoom) of the object at frame t."""
  centre = params["centre"].copy()
  angle = params["angle"]
  log_zoom = params["log_zoom"]
  speed = params["edge_speed"]
  rate = speed / params["radius"]  # Rotation (rad) and zoom (log) per frame: the edge moves `speed`.
  if label_name in _DIRECTIONS:
    centre = centre + speed * t * np.array(_DIRECTIONS[label_name])
  elif label_name == "rotate_clockwise":  # y points down, so +angle turns x towards +y: clockwise.
    angle += rate * t
  elif label_name == "rotate_counterclockwise":
    angle -= rate * t
  elif label_name == "zoom_in":
    log_zoom += rate * t
  elif label_name == "zoom_out":
    log_zoom -= rate * t
  else:
    raise ValueError(f"unknown synthetic class {label_name!r}; expected one of {CLASS_NAMES}")
  return centre, angle, log_zoom


def _layers(params, log_zoom):
  """[(radius px, opacity, texture index)] of the visible nested layers, outermost first.

  Layer j (any integer) has radius R * exp(log_zoom) * 0.55**j; a zoom by 0.55**-2 maps layer j
  onto layer j-2, same texture, so the picture is periodic in log_zoom.
  """
  radius = params["radius"]
  step = math.log(1 / _NEST_RATIO)
  first = math.ceil((log_zoom - math.log(_FADE)) / step)
  last = math.floor((log_zoom + math.log(radius / _MIN_LAYER_RADIUS)) / step)
  layers = []
  for j in range(first, last + 1):
    layer_radius = radius * math.exp(log_zoom - j * step)
    opacity = min(1.0, max(0.0, (radius * _FADE - layer_radius) / (radius * (_FADE - 1))))
    layers.append((layer_radius, opacity, j % 2))
  return layers


def render(label, seed, num_frames=16, height=64, width=64):
  """(uint8 frames [T, H, W, 3], float32 object coverage [T, H, W] in [0, 1]) of one video."""
  label_name = CLASS_NAMES[label] if not isinstance(label, str) else label
  if label_name not in CLASS_NAMES:
    raise ValueError(f"unknown synthetic class {label!r}; expected one of {CLASS_NAMES}")
  if num_frames < 1 or height < 16 or width < 16:
    raise ValueError(f"need num_frames >= 1 and height, width >= 16; got {num_frames}, "
                     f"{height}, {width}")
  params = scene_parameters(seed, height, width)
  mask = params["mask"]
  canvas_centre = (mask.shape[0] - 1) / 2.0
  canvas_radius = mask.shape[0] / 2.0 - 1  # The shape's radius on the canvas, px.
  extent = params["radius"] * _FADE * 1.5  # Bounding radius of the object, px.
  frames = np.empty((num_frames, height, width, 3), np.uint8)
  coverage = np.empty((num_frames, height, width), np.float32)
  for t in range(num_frames):
    # Background: the tiling texture shifted by its drift (sub-pixel, bilinear, wrapping).
    shift = params["background_velocity"] * t
    to_background = np.float32([[1, 0, -shift[0]], [0, 1, -shift[1]]])
    frame = cv2.warpAffine(params["background"], to_background, (width, height),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_WRAP)
    centre, angle, log_zoom = object_pose(label_name, params, t)
    centre = np.mod(centre, [width, height])  # The scene is a torus.
    alpha_total = np.zeros((height, width), np.float32)
    for dx in (-width, 0, width):
      for dy in (-height, 0, height):
        cx, cy = centre[0] + dx, centre[1] + dy
        if cx + extent < 0 or cx - extent > width or cy + extent < 0 or cy - extent > height:
          continue
        for layer_radius, opacity, texture_index in _layers(params, log_zoom):
          scale = layer_radius / canvas_radius
          cos, sin = scale * math.cos(angle), scale * math.sin(angle)
          # Canvas -> image: scale and rotate about the canvas centre, then move to (cx, cy).
          to_image = np.float32([
              [cos, -sin, cx - (cos - sin) * canvas_centre],
              [sin, cos, cy - (sin + cos) * canvas_centre]])
          pixels = cv2.warpAffine(params["textures"][texture_index], to_image, (width, height),
                                  flags=cv2.INTER_LINEAR)
          alpha = opacity * cv2.warpAffine(mask, to_image, (width, height),
                                           flags=cv2.INTER_LINEAR)
          frame = frame * (1 - alpha[..., None]) + pixels * alpha[..., None]
          alpha_total = np.maximum(alpha_total, alpha)
    frames[t] = np.clip(frame + 0.5, 0, 255)
    coverage[t] = alpha_total
  return frames, coverage


def make_video(label, seed, num_frames=16, height=64, width=64):
  """uint8 [num_frames, height, width, 3] RGB video of class `label` (index or name), by seed."""
  return render(label, seed, num_frames, height, width)[0]
