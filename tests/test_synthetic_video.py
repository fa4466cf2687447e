"""Synthetic motion videos: deterministic, first frames carry no label, TV-L1 flow separates them."""
import numpy as np
import pytest

from i3d_tf.video import flow as flow_lib
from i3d_tf.video import synthetic


def _shape_motion(flow, coverage):
  """[mean x, mean y, divergence, curl] of an affine fit to the flow on the shape, median over t."""
  height, width = coverage.shape[1:]
  yy, xx = np.mgrid[:height, :width].astype(np.float32)
  rows = []
  for t in range(len(flow) - 1):  # The last flow frame repeats the one before.
    on_shape = coverage[t] > 0.9
    if on_shape.sum() < 10:
      continue
    x, y = xx[on_shape], yy[on_shape]
    design = np.stack([np.ones_like(x), x - x.mean(), y - y.mean()], 1)
    fx = np.linalg.lstsq(design, flow[t][..., 0][on_shape], rcond=None)[0]
    fy = np.linalg.lstsq(design, flow[t][..., 1][on_shape], rcond=None)[0]
    rows.append([fx[0], fy[0], fx[1] + fy[2], fy[1] - fx[2]])
  return np.median(np.array(rows), axis=0)


def _leave_one_out_nearest_centroid(features, labels):
  features = (features - features.mean(0)) / (features.std(0) + 1e-6)
  correct = 0
  for i in range(len(features)):
    others = np.arange(len(features)) != i
    centroids = np.stack([features[others & (labels == k)].mean(0)
                          for k in range(synthetic.NUM_CLASSES)])
    correct += np.argmin(((centroids - features[i]) ** 2).sum(1)) == labels[i]
  return correct / len(features)


def test_classes_and_shapes():
  assert len(synthetic.CLASS_NAMES) >= 8 == synthetic.NUM_CLASSES
  video = synthetic.make_video(3, seed=1, num_frames=32, height=112, width=96)
  assert video.shape == (32, 112, 96, 3) and video.dtype == np.uint8
  np.testing.assert_array_equal(video, synthetic.make_video("translate_down", 1, 32, 112, 96))
  with pytest.raises(ValueError, match="unknown synthetic class"):
    synthetic.make_video("spin", 0)


def test_deterministic_by_seed():
  a = synthetic.make_video(5, seed=42, num_frames=8)
  np.testing.assert_array_equal(a, synthetic.make_video(5, seed=42, num_frames=8))
  assert not np.array_equal(a, synthetic.make_video(5, seed=43, num_frames=8))


def test_first_frame_is_the_same_for_every_class():
  first = [synthetic.make_video(label, seed=9, num_frames=8)[0]
           for label in range(synthetic.NUM_CLASSES)]
  for frame in first[1:]:
    np.testing.assert_array_equal(frame, first[0])
  later = [synthetic.make_video(label, seed=9, num_frames=8)[4]
           for label in range(synthetic.NUM_CLASSES)]
  assert len({frame.tobytes() for frame in later}) == synthetic.NUM_CLASSES  # They do move.


def _frame_features(frame):
  """Colour layout on a 6x6 grid plus global colour statistics of a [48, 48, 3] frame."""
  frame = frame.astype(np.float32)
  return np.concatenate([frame.reshape(6, 8, 6, 8, 3).mean((1, 3)).ravel(),
                         frame.mean((0, 1)), frame.std((0, 1))])


@pytest.mark.parametrize("frame_index", [0, 7])
def test_single_frames_are_at_chance(frame_index):
  size, per_class = 48, 16
  features, labels = [], []
  for label in range(synthetic.NUM_CLASSES):
    for i in range(per_class):
      video = synthetic.make_video(label, 1000 * label + i, frame_index + 1, size, size)
      features.append(_frame_features(video[frame_index]))
      labels.append(label)
  accuracy = _leave_one_out_nearest_centroid(np.array(features), np.array(labels))
  assert accuracy <= 0.3, accuracy  # Chance is 1/8: no frame's distribution depends on the label.


def test_first_frame_does_not_depend_on_clip_length():
  np.testing.assert_array_equal(synthetic.make_video(2, 5, 1, 48, 48)[0],
                                synthetic.make_video(2, 5, 12, 48, 48)[0])


def test_zoom_is_periodic_so_it_can_go_on():
  params = synthetic.scene_parameters(3, 64, 64)
  period = 2 * np.log(1 / synthetic._NEST_RATIO)
  for log_zoom in (0.1, 0.7):
    here = [(round(r, 6), round(o, 6), k) for r, o, k in synthetic._layers(params, log_zoom)]
    there = [(round(r, 6), round(o, 6), k)
             for r, o, k in synthetic._layers(params, log_zoom + period)]
    assert here == there and here[-1][1] == 1.0
    assert here[0][0] <= params["radius"] * synthetic._FADE and all(0 <= o <= 1 for _, o, _ in here)
  video = synthetic.make_video("zoom_in", 3, 60, 48, 48)  # Many periods: still a picture.
  assert video[-1].std() > 10


def test_tvl1_flow_separates_the_classes():
  size, num_frames, per_class = 48, 8, 4
  motion, labels = [], []
  for label in range(synthetic.NUM_CLASSES):
    for i in range(per_class):
      frames, coverage = synthetic.render(label, 1000 * label + i, num_frames, size, size)
      motion.append(_shape_motion(flow_lib.compute_flow(frames, "tvl1_fast"), coverage))
      labels.append(label)
  labels = np.array(labels)
  motion = np.array(motion)
  # Signs of the motion the classes name (x right, y down; curl > 0 is clockwise).
  by_class = {name: motion[labels == k].mean(0) for k, name in enumerate(synthetic.CLASS_NAMES)}
  assert by_class["translate_right"][0] > 1.0 and by_class["translate_left"][0] < -1.0
  assert by_class["translate_down"][1] > 1.0 and by_class["translate_up"][1] < -1.0
  assert by_class["rotate_clockwise"][3] > 0.05 and by_class["rotate_counterclockwise"][3] < -0.05
  assert by_class["zoom_in"][2] > 0.03 and by_class["zoom_out"][2] < -0.03
  assert _leave_one_out_nearest_centroid(motion, labels) >= 0.75
