"""Figure 4 of the paper: the 64 conv1 filters of an I3D (7x7x7: 7 temporal slices, left to right)
or of a 2D model (7x7: one slice), as a PNG.

  python -m experiments.visualize_filters --checkpoint=runs/kinetics400/i3d_rgb_imagenet \
      --output=conv1_rgb.png
  python -m experiments.visualize_filters --checkpoint=kinetics-i3d/data/checkpoints/flow_imagenet/model.ckpt \
      --stream=flow --output=conv1_flow.png
  python -m experiments.visualize_filters --checkpoint=checkpoints/inception_v1/inception_v1.ckpt  # 2D
  python -m experiments.visualize_filters --model=i3d_rgb    # a freshly initialised model

--checkpoint: a training run's model_dir (its latest ckpt-*), a DeepMind-layout checkpoint prefix or
a slim Inception-v1 checkpoint. The first layer's kernel is found by its shape ([7, 7, 7, C, 64]
for I3D, [7, 7, C, 64] for 2D; C = 3 for RGB, 2 for flow), optimizer slots excluded.
Layout: an 8x8 grid of filters; a filter is its temporal slices side by side, each 7x7 pixels
scaled by --scale. Colours: each filter divided by its largest |weight|, zero is mid-grey; RGB
filters in colour, flow filters with x in red and y in green.
"""
import os

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from i3d_tf import entry
from i3d_tf.models import registry

SLICE_GAP = 1    # pixels between the temporal slices of one filter
FILTER_GAP = 4   # pixels between filters (and around the grid)
GRID_COLUMNS = 8
STREAM_CHANNELS = {"rgb": (3,), "flow": (2,), "any": (3, 2)}


def _is_conv1_shape(shape, channels):
  shape = tuple(shape)
  if len(shape) == 5:
    return shape[:3] == (7, 7, 7) and shape[3] in channels and shape[4] == 64
  if len(shape) == 4:
    return shape[:2] == (7, 7) and shape[2] in channels and shape[3] == 64
  return False


def _is_slot(name):
  lowered = name.lower()
  return "optimizer" in lowered or "momentum" in lowered or "slot" in lowered


def kernel_from_checkpoint(path, stream="any"):
  """The conv1 kernel (numpy) of a checkpoint prefix or of a run directory's latest checkpoint."""
  prefix = path
  if os.path.isdir(path):
    prefix = tf.train.latest_checkpoint(path)
    if prefix is None:
      raise FileNotFoundError(f"--checkpoint={path}: the folder holds no ckpt-* checkpoint")
  reader = tf.train.load_checkpoint(prefix)
  shapes = reader.get_variable_to_shape_map()
  channels = STREAM_CHANNELS[stream]
  candidates = sorted(n for n, s in shapes.items() if _is_conv1_shape(s, channels)
                      and not _is_slot(n))
  if not candidates:
    raise ValueError(f"--checkpoint={path}: no conv1 kernel of shape [7,7,(7,)C,64] with C in "
                     f"{channels} (--stream={stream}); shapes seen include "
                     f"{sorted(set(tuple(s) for s in shapes.values()))[:8]}")
  # Prefer the first channel count listed (RGB over flow for --stream=any).
  candidates.sort(key=lambda n: channels.index(tuple(shapes[n])[-2]))
  return reader.get_tensor(candidates[0]), candidates[0]


def kernel_from_model(model_name, stream="any"):
  """The conv1 kernel of a freshly built registered model (random initialisation)."""
  spec = registry.get(model_name)
  i3d = registry.is_release_i3d(model_name)
  model = registry.build_model(model_name, 10, **({"final_pool_padding": "SAME"} if i3d else {}))
  crop = spec.input_spec.crop_size if spec.input_spec.crop_size == 112 else 64
  shapes = {s.name: (1, 16 if i3d else s.train_frames, crop, crop, s.channels)
            for s in spec.input_spec.streams}
  inputs = {k: tf.zeros(v) for k, v in shapes.items()}
  model(next(iter(inputs.values())) if len(inputs) == 1 else inputs, training=False)
  channels = STREAM_CHANNELS[stream]
  for variable in model.weights:
    if _is_conv1_shape(variable.shape, channels):
      return variable.numpy(), variable.path
  raise ValueError(f"--model={model_name}: no conv1 kernel with {channels} input channels")


def filter_grid(kernel, scale=4):
  """uint8 RGB image [H, W, 3] of the 64 filters of `kernel` ([7,7,7,C,64] or [7,7,C,64])."""
  kernel = np.asarray(kernel, np.float32)
  if kernel.ndim == 4:
    kernel = kernel[None]                                  # one temporal slice
  taps, height, width, channels, count = kernel.shape
  if channels == 2:                                        # flow: x -> red, y -> green, blue 0
    kernel = np.concatenate([kernel, np.zeros_like(kernel[..., :1, :])], axis=3)
  elif channels != 3:
    kernel = np.repeat(kernel.mean(axis=3, keepdims=True), 3, axis=3)
  peak = np.abs(kernel).reshape(-1, count).max(axis=0)
  peak[peak == 0] = 1.0
  unit = 0.5 + 0.5 * kernel / peak                         # [T, H, W, 3, N] in [0, 1]
  rows = -(-count // GRID_COLUMNS)
  cell_h = height * scale
  cell_w = taps * width * scale + (taps - 1) * SLICE_GAP
  image = np.ones((rows * cell_h + (rows + 1) * FILTER_GAP,
                   GRID_COLUMNS * cell_w + (GRID_COLUMNS + 1) * FILTER_GAP, 3), np.float32)
  for n in range(count):
    top = FILTER_GAP + (n // GRID_COLUMNS) * (cell_h + FILTER_GAP)
    left = FILTER_GAP + (n % GRID_COLUMNS) * (cell_w + FILTER_GAP)
    for t in range(taps):
      tile = np.repeat(np.repeat(unit[t, :, :, :, n], scale, axis=0), scale, axis=1)
      x = left + t * (width * scale + SLICE_GAP)
      image[top:top + cell_h, x:x + width * scale] = tile
  return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def grid_size(taps, count=64, size=7, scale=4):
  """(height, width) of filter_grid's image for `taps` temporal slices."""
  rows = -(-count // GRID_COLUMNS)
  cell_w = taps * size * scale + (taps - 1) * SLICE_GAP
  return (rows * size * scale + (rows + 1) * FILTER_GAP,
          GRID_COLUMNS * cell_w + (GRID_COLUMNS + 1) * FILTER_GAP)


def write_png(image, path):
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.image  # pylint: disable=import-outside-toplevel
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  matplotlib.image.imsave(path, image)


FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a binary, so that tests and other binaries can import this."""
  flags.DEFINE_string("checkpoint", None, "A run's model_dir, a DeepMind or slim checkpoint prefix.")
  flags.DEFINE_string("model", None, "Or: a registered model, freshly initialised.")
  flags.DEFINE_enum("stream", "any", list(STREAM_CHANNELS), "Which stream's conv1 (two-stream models).")
  flags.DEFINE_integer("scale", 4, "Pixels per filter tap.")
  flags.DEFINE_string("output", "conv1_filters.png", "PNG to write.")


def main(argv):
  del argv
  if bool(FLAGS.checkpoint) == bool(FLAGS.model):
    raise app.UsageError("give exactly one of --checkpoint and --model")
  if FLAGS.checkpoint:
    kernel, name = kernel_from_checkpoint(FLAGS.checkpoint, FLAGS.stream)
  else:
    kernel, name = kernel_from_model(FLAGS.model, FLAGS.stream)
  image = filter_grid(kernel, FLAGS.scale)
  write_png(image, FLAGS.output)
  print(f"{name} {list(kernel.shape)} -> {FLAGS.output} ({image.shape[1]}x{image.shape[0]})")


if __name__ == "__main__":
  define_flags()
  entry.run(main)  # absl's app.run, with --help exiting 0
