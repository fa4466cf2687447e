"""Figure 4 (conv1 filters) for an I3D and a 2D checkpoint, and training curves from a run's logs."""
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from experiments import plot_curves
from experiments import visualize_filters

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _render(args, output):
  result = subprocess.run([sys.executable, "-m", "experiments.visualize_filters", *args,
                           f"--output={output}"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  import matplotlib.image  # pylint: disable=import-outside-toplevel
  return (matplotlib.image.imread(output)[..., :3] * 255).round()


def _assert_not_blank(image):
  assert image.std() > 10                     # not one flat colour
  assert len(np.unique(image.reshape(-1, 3), axis=0)) > 64


def test_i3d_filters_from_a_deepmind_layout_checkpoint(tmp_path):
  from i3d_tf.checkpoints import deepmind  # pylint: disable=import-outside-toplevel
  from i3d_tf.models import i3d  # pylint: disable=import-outside-toplevel
  model = i3d.InceptionI3D(num_classes=5, in_channels=3, final_pool_padding="SAME")
  model(tf.zeros([1, 16, 64, 64, 3]))
  prefix = str(tmp_path / "rgb" / "model.ckpt")
  deepmind.save_deepmind_checkpoint(model, prefix)
  image = _render([f"--checkpoint={prefix}"], str(tmp_path / "i3d.png"))
  assert image.shape[:2] == visualize_filters.grid_size(taps=7)   # 64 filters x 7 slices
  _assert_not_blank(image)
  kernel = model.deepmind_variables()["Conv3d_1a_7x7/conv_3d/w"].numpy()
  grid = visualize_filters.filter_grid(kernel)
  np.testing.assert_array_equal(grid, image.astype(np.uint8))     # the checkpoint's own filters


def test_2d_filters_from_a_slim_checkpoint(tmp_path):
  """The binary's steps in this process (its process run is the I3D test's): the slim
  checkpoint's conv1 kernel found by shape, gridded and written as a PNG."""
  from i3d_tf.checkpoints import slim  # pylint: disable=import-outside-toplevel
  from i3d_tf.models import inception_v1  # pylint: disable=import-outside-toplevel
  model = inception_v1.InceptionV1(num_classes=1001)
  model(tf.zeros([1, 224, 224, 3]))  # the 7x7 VALID logits pool needs 224 px
  prefix = slim.save_slim_checkpoint(model, str(tmp_path / "inception_v1.ckpt"))
  kernel, _ = visualize_filters.kernel_from_checkpoint(prefix, "any")
  conv1 = [v for v in model.weights if tuple(v.shape) == (7, 7, 3, 64)]
  assert len(conv1) == 1, [v.path for v in conv1]
  np.testing.assert_array_equal(kernel, conv1[0].numpy())  # the checkpoint's own filters
  output = str(tmp_path / "2d.png")
  visualize_filters.write_png(visualize_filters.filter_grid(kernel), output)
  import matplotlib.image  # pylint: disable=import-outside-toplevel
  image = (matplotlib.image.imread(output)[..., :3] * 255).round()
  assert image.shape[:2] == visualize_filters.grid_size(taps=1)
  _assert_not_blank(image)


def test_filter_grid_places_each_filter_and_zero_is_grey():
  kernel = np.zeros([7, 7, 7, 3, 64], np.float32)
  kernel[3, 2, 2, 0, 9] = 1.0                 # filter 9 (row 1, column 1), slice 3, red
  grid = visualize_filters.filter_grid(kernel, scale=1)
  assert grid.shape[:2] == visualize_filters.grid_size(taps=7, scale=1)
  cell_w = 7 * 7 + 6 * visualize_filters.SLICE_GAP
  top = visualize_filters.FILTER_GAP + (7 + visualize_filters.FILTER_GAP)
  left = visualize_filters.FILTER_GAP + (cell_w + visualize_filters.FILTER_GAP)
  x = left + 3 * (7 + visualize_filters.SLICE_GAP) + 2
  np.testing.assert_array_equal(grid[top + 2, x], [255, 128, 128])
  np.testing.assert_array_equal(grid[top + 3, x], [128, 128, 128])


def test_curves_png_from_a_runs_event_files_and_metrics(tmp_path):
  from i3d_tf.training import loop  # pylint: disable=import-outside-toplevel
  run_dir = tmp_path / "run"
  for split, tags in (("train", ("loss", "top1", "learning_rate")), ("eval", ("loss", "top1"))):
    writer = tf.summary.create_file_writer(str(run_dir / split))
    with writer.as_default():
      for step in range(0, 50, 10):
        for tag in tags:
          loop.write_scalar(tag, 1.0 / (step + 1), step)
    writer.close()
  curves = plot_curves.read_curves(str(run_dir))
  assert [s for s, _ in curves["train"]["loss"]] == [0, 10, 20, 30, 40]
  output = str(tmp_path / "curves.png")
  assert plot_curves.plot(curves, output) == 5   # train loss/top1/lr + eval loss/top1
  import matplotlib.image  # pylint: disable=import-outside-toplevel
  image = matplotlib.image.imread(output)
  assert image.shape[0] > 200 and image[..., :3].std() > 0.05
