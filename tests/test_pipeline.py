"""The input pipeline: sampling, looping, crop, flip (flow x negated), whole-video evaluation."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.data import pipeline
from i3d_tf.models import i3d
from i3d_tf.training import testing


def _indexed_example(num_frames, size=40, label=1):
  """Frame t is constant (t*3) mod 255 (RGB); flow x = +10 px, y = -5 px on the left half."""
  rgb = np.zeros((num_frames, size, size, 3), np.uint8)
  flow = np.zeros((num_frames, size, size, 2), np.float32)
  for t in range(num_frames):
    rgb[t] = (t * 3) % 255
    flow[t, :, : size // 2, 0] = 10.0   # x: +10 px on the left half
    flow[t, :, : size // 2, 1] = -5.0   # y: -5 px on the left half
  return testing.encode_example(rgb, flow, label, f"v{num_frames}")


def _frame_index(rgb_clip):
  """Recovers frame indices from the constant-valued RGB frames as the model gets them ([-1, 1])."""
  values = (np.asarray(pipeline.to_model_range(rgb_clip)).mean(axis=(1, 2, 3)) + 1.0) * 127.5
  return np.round(values / 3).astype(int)


def _spec(train_frames=64, crop=32, streams=("rgb", "flow"), min_frames=1, max_test=250):
  input_spec = pipeline.registry.get("i3d_two_stream").input_spec
  spec = pipeline.ClipSpec.from_input_spec(input_spec, train_frames=train_frames, crop_size=crop,
                                           max_test_frames=max_test, min_frames=min_frames)
  return pipeline.ClipSpec(tuple(s for s in spec.streams if s.name in streams), spec.crop_size,
                           spec.max_test_frames, spec.min_frames)


def test_twenty_frame_video_loops_to_64_frame_training_clips():
  example = _indexed_example(20)
  spec = _spec(train_frames=64)
  starts = set()
  for seed in range(6):
    streams, label = pipeline.train_transform(example, tf.constant([seed, 7], tf.int64), spec,
                                              testing.DECODERS)
    assert streams["rgb"].shape == (64, 32, 32, 3)
    assert streams["flow"].shape == (64, 32, 32, 2)
    assert int(label) == 1
    idx = _frame_index(streams["rgb"])
    start = idx[0]
    np.testing.assert_array_equal(idx, (start + np.arange(64)) % 20)  # looped, in order
    starts.add(start)
  assert len(starts) > 1  # the start is random


def test_long_video_clip_starts_among_valid_starts():
  num_frames, clip = 50, 16
  indices = [pipeline.train_frame_indices(num_frames, clip, 1, tf.constant([s, 0], tf.int64))
             .numpy() for s in range(40)]
  for idx in indices:
    assert idx[0] <= num_frames - clip
    np.testing.assert_array_equal(idx, idx[0] + np.arange(clip))
  assert len({idx[0] for idx in indices}) > 5
  # With a stride, the footprint (clip - 1) * stride + 1 must fit.
  idx = pipeline.train_frame_indices(40, 10, 3, tf.constant([1, 2], tf.int64)).numpy()
  assert idx[0] <= 40 - 28 and np.all(np.diff(idx) == 3)


def test_flip_mirrors_every_frame_of_both_streams_and_negates_flow_x():
  example = _indexed_example(12, size=32)
  spec = _spec(train_frames=8, crop=32)  # full-frame crop: only the flip changes the frames
  flipped_seen = unflipped_seen = False
  for seed in range(12):
    streams, _ = pipeline.train_transform(example, tf.constant([seed, 3], tf.int64), spec,
                                          testing.DECODERS)
    flow = streams["flow"].numpy()
    left_x, right_x = flow[:, :, :16, 0], flow[:, :, 16:, 0]
    left_y, right_y = flow[:, :, :16, 1], flow[:, :, 16:, 1]
    if np.abs(right_x).max() > 0.1:  # the moving half is now on the right: flipped
      flipped_seen = True
      np.testing.assert_allclose(right_x, -10.0 / 20, atol=0.02)   # x negated
      np.testing.assert_allclose(right_y, -5.0 / 20, atol=0.02)    # y kept
      np.testing.assert_allclose(left_x, 0.0, atol=0.02)
    else:
      unflipped_seen = True
      np.testing.assert_allclose(left_x, 10.0 / 20, atol=0.02)
      np.testing.assert_allclose(left_y, -5.0 / 20, atol=0.02)
  assert flipped_seen and unflipped_seen


def test_flip_applies_alike_to_rgb_and_flow():
  """A left-bright RGB frame and left-moving flow end up on the same side after the transform."""
  rgb = np.zeros((10, 32, 32, 3), np.uint8)
  rgb[:, :, :16] = 200
  flow = np.zeros((10, 32, 32, 2), np.float32)
  flow[:, :, :16, 0] = 8.0
  example = testing.encode_example(rgb, flow, 0, "v")
  spec = _spec(train_frames=8, crop=32)
  for seed in range(8):
    streams, _ = pipeline.train_transform(example, tf.constant([seed, 1], tf.int64), spec,
                                          testing.DECODERS)
    bright_left = streams["rgb"].numpy()[:, :, :16].mean() > streams["rgb"].numpy()[:, :, 16:].mean()
    moving_left = np.abs(streams["flow"].numpy()[:, :, :16, 0]).mean() > 0.1
    assert bright_left == moving_left


def test_random_crop_is_shared_by_streams_and_rgb_in_unit_range():
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (10, 48, 48, 3), dtype=np.uint8)
  flow = np.zeros((10, 48, 48, 2), np.float32)
  flow[..., 0] = np.linspace(-19, 19, 48)[None, None, :]  # x encodes the column
  example = testing.encode_example(rgb, flow, 0, "v")
  spec = _spec(train_frames=8, crop=32)
  streams, _ = pipeline.train_transform(example, tf.constant([5, 5], tf.int64), spec,
                                        testing.DECODERS)
  assert streams["rgb"].dtype == tf.uint8 and streams["flow"].dtype == tf.float32
  r = pipeline.to_model_range(streams)["rgb"].numpy()
  assert r.min() >= -1.0 and r.max() <= 1.0 and r.min() < -0.8 and r.max() > 0.8
  assert streams["flow"].shape == (8, 32, 32, 2)


def test_whole_video_evaluation_centre_crop_loops_to_minimum_and_groups_lengths():
  examples = [_indexed_example(n, size=40) for n in (30, 12, 30, 5, 300)]
  spec = _spec(crop=32, min_frames=9, max_test=250)
  ds = pipeline.test_dataset_from_examples(testing.examples_dataset(examples), spec,
                                           batch_size=4, decoders=testing.DECODERS)
  lengths = []
  for streams, labels in ds:
    t = streams["rgb"].shape[1]
    assert streams["flow"].shape[1] == t and streams["rgb"].shape[2:] == (32, 32, 3)
    lengths += [t] * int(labels.shape[0])
    for clip in streams["rgb"].numpy():
      idx = _frame_index(clip)
      assert idx[0] == 0  # the whole video from its first frame
  # 30 and 30 batched together; 12 whole; 5 looped to the model's 9; 300 cut at 250 (10 s).
  assert sorted(lengths) == [9, 12, 30, 30, 250]


def test_i3d_averages_whole_video_predictions_over_time():
  """Whole-video evaluation: the logits are the mean over time of the per-position logits."""
  model = i3d.InceptionI3D(num_classes=5, in_channels=2, final_pool_padding="SAME")
  video = tf.random.stateless_uniform((1, 24, 32, 32, 2), [1, 2], -1, 1)
  logits, endpoints = model.call_with_endpoints(video, training=False)
  features = endpoints["Mixed_5c"]  # [1, T', h, w, 1024]
  pooled = tf.nn.avg_pool3d(features, (1, 2, 7, 7, 1), (1, 1, 1, 1, 1), "SAME")
  per_position = model.blocks["Logits"](pooled, training=False)  # [1, T', h, w, classes]
  assert per_position.shape[1] > 1  # several time steps to average
  np.testing.assert_allclose(logits.numpy(), tf.reduce_mean(per_position, [1, 2, 3]).numpy(),
                             rtol=1e-5, atol=1e-5)


def test_deterministic_mode_reproduces_batches(tmp_path):
  examples = testing.moving_square_examples(8, num_frames=(8, 20), size=36)
  files = testing.write_shards(examples, str(tmp_path), num_shards=2)
  spec = _spec(train_frames=8, crop=32, streams=("flow",))

  def first_batches(seed):
    ds = pipeline.train_dataset(files, spec, 4, seed=seed, deterministic=True,
                                decoders=testing.DECODERS, parse_fn=testing.parse_toy_example)
    return [(x.numpy(), y.numpy()) for x, y in ds.take(3)]

  a, b, c = first_batches(3), first_batches(3), first_batches(4)
  for (xa, ya), (xb, yb) in zip(a, b):
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
  assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))
  assert a[0][0].shape == (4, 8, 32, 32, 2)  # one stream: a bare tensor, not a dict


def test_files_are_sharded_across_workers(tmp_path):
  examples = testing.moving_square_examples(8, num_frames=6, size=32)
  files = testing.write_shards(examples, str(tmp_path), num_shards=4)
  seen = []
  for worker in range(2):
    ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                     num_replicas_in_sync=2)
    ds = pipeline.read_examples(files, input_context=ctx, parse_fn=testing.parse_toy_example,
                                deterministic=True)
    seen.append(sorted(ex["video_id"].numpy().decode() for ex in ds))
  assert len(seen[0]) == len(seen[1]) == 4
  assert not set(seen[0]) & set(seen[1])
  assert len(set(seen[0]) | set(seen[1])) == 8


def test_frames_smaller_than_the_crop_get_a_clear_error():
  example = _indexed_example(10, size=24)
  with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the 32px crop"):
    pipeline.train_transform(example, tf.constant([0, 0], tf.int64), _spec(8, 32),
                             testing.DECODERS)


def _index_coded_example(num_frames, size=40):
  """RGB frame t is constant (t*3) mod 255; flow x of frame t is (t mod 30) - 15 px everywhere."""
  rgb = np.zeros((num_frames, size, size, 3), np.uint8)
  flow = np.zeros((num_frames, size, size, 2), np.float32)
  for t in range(num_frames):
    rgb[t] = (t * 3) % 255
    flow[t, ..., 0] = (t % 30) - 15
  return testing.encode_example(rgb, flow, 0, f"coded{num_frames}")


@pytest.mark.parametrize("model", ["fused_3d", "two_stream"])
def test_streams_of_different_lengths_share_one_start(model):
  """3D-Fused (5 RGB frames 10 apart + 50 flow) and Two-Stream (1 RGB + 10 flow) stay aligned."""
  example = _index_coded_example(80)
  input_spec = pipeline.registry.get(model).input_spec
  spec = pipeline.ClipSpec.from_input_spec(input_spec, crop_size=32, random_flip=False)
  rgb_spec, flow_spec = spec.streams  # the registry lists RGB first
  starts = set()
  for seed in range(8):
    streams, _ = pipeline.train_transform(example, tf.constant([seed, 3], tf.int64), spec,
                                          testing.DECODERS)
    rgb_idx = _frame_index(streams["rgb"])
    flow_idx = np.round(np.asarray(streams["flow"])[..., 0].mean(axis=(1, 2)) * 20 + 15)
    start = rgb_idx[0]
    starts.add(start)
    np.testing.assert_array_equal(rgb_idx, start + np.arange(rgb_spec.train_frames) *
                                  rgb_spec.frame_stride)
    # The flow clip starts at the RGB clip's first frame, and RGB frame i opens flow stack i.
    np.testing.assert_array_equal(flow_idx, (start + np.arange(flow_spec.train_frames)) % 30)
    # The longest footprint fits in the video: no looping for an 80-frame video.
    assert start + (flow_spec.train_frames - 1) * flow_spec.frame_stride < 80
  assert len(starts) > 1


@pytest.mark.parametrize("model,override", [("fused_3d", {"train_frames": 16}),
                                            ("two_stream", {"test_frames": 8})])
def test_frame_overrides_are_refused_for_streams_of_different_lengths(model, override):
  with pytest.raises(ValueError, match=f"--{next(iter(override))}.*{model}"):
    pipeline.ClipSpec.for_model(model, **override)
  # Where every stream has one length, the override applies to all of them.
  spec = pipeline.ClipSpec.for_model("i3d_two_stream", train_frames=16, test_frames=8)
  assert [(s.train_frames, s.test_frames) for s in spec.streams] == [(16, 8), (16, 8)]


def _old_float_decoders():
  """The pipeline before it emitted uint8: the JPEG window decoded, scaled to [-1, 1] in tf.data,
  then flipped and batched in float32."""
  from i3d_tf.data import records  # pylint: disable=import-outside-toplevel
  return {"rgb": lambda enc: pipeline.rgb_to_unit_range(records.decode_rgb(enc)),
          "rgb_window": lambda enc, y, x, size: pipeline.rgb_to_unit_range(
              pipeline.decode_rgb_window(enc, y, x, size)),
          "flow": records.decode_flow}


def test_values_reaching_the_model_equal_the_old_float_path(tmp_path):
  """uint8 RGB out of tf.data + to_model_range in the step == the old float32 pipeline, bit for bit,
  for training clips (random crop, flips of both kinds) and whole-video evaluation batches."""
  examples = testing.moving_square_examples(6, num_frames=(10, 20), size=48)
  files = testing.write_shards(examples, str(tmp_path), num_shards=2)
  spec = _spec(train_frames=8, crop=32)
  flips = set()
  for seed in range(6):
    new, label = pipeline.train_transform(examples[seed], tf.constant([seed, 9], tf.int64), spec,
                                          testing.DECODERS)
    old, old_label = pipeline.train_transform(examples[seed], tf.constant([seed, 9], tf.int64),
                                              spec, _old_float_decoders())
    assert new["rgb"].dtype == tf.uint8 and old["rgb"].dtype == tf.float32
    for name in ("rgb", "flow"):
      np.testing.assert_array_equal(pipeline.to_model_range(new)[name].numpy(), old[name].numpy())
    assert int(label) == int(old_label)
    # Which way the clip went: the same seed without flips gives the same window unmirrored.
    unflipped, _ = pipeline.train_transform(examples[seed], tf.constant([seed, 9], tf.int64),
                                            dataclasses.replace(spec, random_flip=False),
                                            _old_float_decoders())
    flips.add(not np.array_equal(unflipped["rgb"].numpy(), old["rgb"].numpy()))
  assert flips == {True, False}  # flipped and unflipped clips were both compared

  def batches(decoders, train):
    if train:
      ds = pipeline.train_dataset(files, spec, 2, seed=5, deterministic=True, decoders=decoders,
                                  parse_fn=testing.parse_toy_example)
      return [(pipeline.to_model_range(x), y) for x, y in ds.take(4)]
    ds = pipeline.test_dataset(files, spec, 2, decoders=decoders,
                               parse_fn=testing.parse_toy_example)
    return [(pipeline.to_model_range(x), y) for x, y in ds]

  for train in (True, False):
    new, old = batches(None, train), batches(_old_float_decoders(), train)
    assert len(new) == len(old) > 0
    for (xn, yn), (xo, yo) in zip(new, old):
      np.testing.assert_array_equal(yn.numpy(), yo.numpy())
      for name in ("rgb", "flow"):
        assert xn[name].dtype == tf.float32
        np.testing.assert_array_equal(xn[name].numpy(), xo[name].numpy())


def test_fast_flip_equals_reversing_the_width_axis():
  clip = tf.random.stateless_uniform([3, 5, 7, 2], [1, 2], -1.0, 1.0)
  flipped = pipeline.flip_left_right(clip, "flow").numpy()
  expected = clip.numpy()[:, :, ::-1] * np.array([-1.0, 1.0], np.float32)
  np.testing.assert_array_equal(flipped, expected)
  rgb = tf.constant(np.arange(3 * 4 * 6 * 3, dtype=np.uint8).reshape(3, 4, 6, 3))
  np.testing.assert_array_equal(pipeline.flip_left_right(rgb, "rgb").numpy(), rgb.numpy()[:, :, ::-1])


def test_frame_stride_override_applies_to_single_stride_models_only():
  spec = pipeline.ClipSpec.for_model("lstm", train_frames=16, test_frames=16, frame_stride=1)
  assert [(s.train_frames, s.test_frames, s.frame_stride) for s in spec.streams] == [(16, 16, 1)]
  assert pipeline.ClipSpec.for_model("lstm").streams[0].frame_stride == 5  # Table 1's, untouched
  with pytest.raises(ValueError, match="--frame_stride.*two_stream"):
    pipeline.ClipSpec.for_model("two_stream", frame_stride=1)
  with pytest.raises(ValueError, match="--frame_stride=0"):
    pipeline.ClipSpec.for_model("lstm", frame_stride=0)
