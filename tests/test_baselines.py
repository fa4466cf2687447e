"""The paper's baselines: Table 1 parameter counts, the calling convention, a few training steps."""
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.models import c3d, registry
from i3d_tf.models.two_stream import stack_flow

NUM_CLASSES = 3
PX = 32  # 2D trunks: 32 px -> 1x1 Mixed_5c
# Training needs enough samples per batch-norm channel: with 1x1 maps and a batch of 2 the
# normalisation makes gradients explode (norms ~1e6) and a few steps prove nothing.
TRAIN_PX = 64


def _trainable(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


@pytest.mark.parametrize("name", ["lstm", "c3d", "two_stream", "fused_3d"])
def test_parameter_count_within_15_percent_of_table_1(name):
  spec = registry.get(name)
  model = spec.build(400)
  model.build(None)  # from the shapes alone: the 79M C3D is never run at full size
  count = _trainable(model)
  assert abs(count / 1e6 - spec.paper_params_millions) <= 0.15 * spec.paper_params_millions, count


def test_c3d_geometry_and_fc6_size():
  assert c3d.pooled_geometry(16, 112) == (1, 4, 4)  # first pool strides time: 16 -> 8 -> ... 1
  model = c3d.C3D(400)
  model.build(None)
  assert tuple(model.fcs[0].kernel.shape) == (1 * 4 * 4 * 512, 4096)
  assert len(model.convs) == 8


def _inputs(name, batch, train, rng, size=PX):
  """Random reduced-size inputs with the spec's stream layout and frame counts (or fewer)."""
  reduced = {"lstm": (4, 6), "c3d": (4, 12), "two_stream": (1, 3), "fused_3d": (2, 3)}[name]
  spec = registry.get(name).input_spec
  size = 16 if name == "c3d" else size
  out = {}
  for stream in spec.streams:
    frames = reduced[0] if train else reduced[1]
    if stream.name == "flow":
      frames *= 10  # stacks of 10 flow frames per RGB frame
    out[stream.name] = tf.constant(
        rng.uniform(-1, 1, (batch, frames, size, size, stream.channels)).astype(np.float32))
  return out[spec.streams[0].name] if len(spec.streams) == 1 else out


def _small_model(name, **extra):
  options = {"lstm": {"max_steps": 4}, "c3d": {"clip_frames": 4, "crop_size": 16, "fc_units": 32},
             "two_stream": {}, "fused_3d": {"fusion_channels": 16}}[name]
  return registry.build_model(name, NUM_CLASSES, **options, **extra)


def _loss(logits, labels):
  if logits.shape.rank == 3:  # per-step logits [B, T, C]: the loss averages over the steps
    labels = tf.repeat(labels[:, tf.newaxis], tf.shape(logits)[1], axis=1)
  return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
      labels, logits, from_logits=True))


@pytest.mark.parametrize("name", ["lstm", "c3d", "two_stream", "fused_3d"])
def test_trains_a_few_steps_and_evaluates(name):
  rng = np.random.default_rng(0)
  tf.keras.utils.set_random_seed(0)
  model = _small_model(name, dropout_rate=0.0)  # no dropout: the loss is a function of weights
  batch = 8 if name == "c3d" else 4  # C3D's FC batch norm sees only the batch
  inputs = _inputs(name, batch, train=True, rng=rng, size=TRAIN_PX)
  labels = tf.constant([0, 1, 2, 0, 1, 2, 0, 1][:batch])
  optimizer = tf.keras.optimizers.SGD(1e-3)
  losses = []
  for _ in range(4):
    with tf.GradientTape() as tape:
      logits = model(inputs, training=True)
      loss = _loss(logits, labels)
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not missing, f"no gradient for {missing[:5]}"
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    losses.append(float(loss))
  assert np.all(np.isfinite(losses))
  assert losses[-1] < losses[0], losses
  if name == "lstm":
    assert logits.shape == (batch, 4, NUM_CLASSES)  # per-step logits in training
  # Evaluation: logits [B, classes] on the longer test-like input.
  test_logits = model(_inputs(name, 2, train=False, rng=rng), training=False)
  assert test_logits.shape == (2, NUM_CLASSES)
  assert np.all(np.isfinite(test_logits.numpy()))


def test_c3d_averages_clips_at_test():
  rng = np.random.default_rng(1)
  model = _small_model("c3d")
  video = tf.constant(rng.uniform(-1, 1, (1, 12, 16, 16, 3)).astype(np.float32))
  whole = model(video).numpy()
  clips = [model(video[:, i:i + 4]).numpy() for i in (0, 4, 8)]
  np.testing.assert_allclose(whole, np.mean(clips, axis=0), rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="16x16 crops"):
    model(tf.zeros((1, 4, 32, 32, 3)))


def test_two_stream_averages_snapshots_and_streams():
  rng = np.random.default_rng(2)
  model = _small_model("two_stream")
  rgb = tf.constant(rng.uniform(-1, 1, (1, 2, PX, PX, 3)).astype(np.float32))
  flow = tf.constant(rng.uniform(-1, 1, (1, 20, PX, PX, 2)).astype(np.float32))
  whole = model({"rgb": rgb, "flow": flow}).numpy()
  rgb_part = np.mean([model.rgb_net(rgb[:, i]).numpy() for i in range(2)], axis=0)
  flow_part = np.mean([model.flow_net(stack_flow(flow[:, 10 * i:10 * i + 10], 10)[0]).numpy()
                       for i in range(2)], axis=0)
  np.testing.assert_allclose(whole, 0.5 * (rgb_part + flow_part), rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match=r"expects a dict with streams \['rgb', 'flow'\]"):
    model(rgb)


def test_stack_flow_channel_order():
  flow = tf.reshape(tf.range(2 * 10 * 1 * 1 * 2, dtype=tf.float32), (2, 10, 1, 1, 2))
  stacked, snapshots = stack_flow(flow, 5)
  assert stacked.shape == (4, 1, 1, 10) and int(snapshots) == 2
  # snapshot 1 of video 0 = flow frames 5..9, channels x5, y5, x6, y6, ...
  np.testing.assert_array_equal(stacked[1, 0, 0].numpy(), np.arange(10, 20))
  with pytest.raises(ValueError, match="not a multiple of the stack of 10"):
    stack_flow(tf.zeros((1, 15, 4, 4, 2)), 10, exact=True)
  # At test a tail shorter than a stack is dropped.
  stacked, snapshots = stack_flow(tf.zeros((1, 15, 4, 4, 2)), 10)
  assert stacked.shape[0] == 1 and int(snapshots) == 1


def test_fused_3d_needs_one_flow_stack_per_rgb_frame():
  model = _small_model("fused_3d")
  with pytest.raises(ValueError, match="needs a stack of 10 flow frames"):
    model({"rgb": tf.zeros((1, 2, PX, PX, 3)), "flow": tf.zeros((1, 10, PX, PX, 2))},
          training=True)
  # At test (a video of 25 frames: RGB frames 0, 10, 20, flow 0..24) the aligned pairs are kept.
  rng = np.random.default_rng(6)
  rgb = tf.constant(rng.uniform(-1, 1, (1, 3, PX, PX, 3)).astype(np.float32))
  flow = tf.constant(rng.uniform(-1, 1, (1, 25, PX, PX, 2)).astype(np.float32))
  np.testing.assert_allclose(model({"rgb": rgb, "flow": flow}).numpy(),
                             model({"rgb": rgb[:, :2], "flow": flow[:, :20]}).numpy(), rtol=1e-5)


def test_lstm_last_step_at_test_and_steps_past_max():
  rng = np.random.default_rng(3)
  model = _small_model("lstm")  # population statistics for 4 steps; step 5+ reuses the 4th
  video = tf.constant(rng.uniform(-1, 1, (2, 6, PX, PX, 3)).astype(np.float32))
  logits = model(video, training=False)
  assert logits.shape == (2, NUM_CLASSES)
  # The last step sees the whole clip: changing the first frame changes it.
  other = tf.concat([tf.zeros_like(video[:, :1]), video[:, 1:]], axis=1)
  assert np.abs(model(other, training=False).numpy() - logits.numpy()).max() > 0


def test_registry_input_specs_follow_table_1():
  expected = {  # name: [(stream, train frames, test frames, train s, test s)]
      "lstm": [("rgb", 25, 50, 5.0, 10.0)],
      "c3d": [("rgb", 16, 240, 0.64, 9.6)],
      "two_stream": [("rgb", 1, 25, 0.4, 10.0), ("flow", 10, 250, 0.4, 10.0)],
      "fused_3d": [("rgb", 5, 25, 2.0, 10.0), ("flow", 50, 250, 2.0, 10.0)],
  }
  for name, streams in expected.items():
    spec = registry.get(name).input_spec
    got = [(s.name, s.train_frames, s.test_frames, round(s.train_footprint_s, 2),
            round(s.test_frames * s.frame_stride / registry.FPS, 2)) for s in spec.streams]
    assert got == streams, name
  assert registry.get("c3d").input_spec.crop_size == 112


def test_baselines_initialise_from_a_slim_checkpoint(tmp_path):
  from i3d_tf.checkpoints import inflation, slim  # pylint: disable=import-outside-toplevel
  from tests.test_inception_v1 import random_slim_arrays  # pylint: disable=import-outside-toplevel
  arrays = random_slim_arrays(seed=4)
  prefix = slim.write_checkpoint(str(tmp_path / "inception_v1.ckpt"), arrays)
  model = _small_model("two_stream")
  model.build(None)
  inflation.init_from_imagenet(model, prefix)
  first = arrays["InceptionV1/Conv2d_1a_7x7/weights"]  # [7, 7, 3, 64]
  np.testing.assert_array_equal(model.rgb_net.slim_variables()["Conv2d_1a_7x7/weights"], first)
  flow_first = model.flow_net.slim_variables()["Conv2d_1a_7x7/weights"].numpy()
  assert flow_first.shape == (7, 7, 20, 64)
  np.testing.assert_allclose(flow_first, np.repeat(first.mean(axis=2, keepdims=True), 20, 2),
                             rtol=1e-6)
  name = "Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"
  np.testing.assert_array_equal(model.flow_net.slim_variables()[name],
                                arrays[f"InceptionV1/{name}"])
  with pytest.raises(ValueError, match="no ImageNet initialisation"):
    inflation.init_from_imagenet(_small_model("c3d"), prefix)


@pytest.mark.parametrize("name", ["lstm", "c3d", "two_stream", "fused_3d"])
def test_training_binary_options_are_accepted(name):
  # What the training binaries pass to every registered model.
  model = registry.build_model(name, NUM_CLASSES, dropout_rate=0.3, sync_batch_norm=True,
                               final_pool_padding="VALID")
  assert model.name == {"lstm": "convnet_lstm"}.get(name, name)
  with pytest.raises(ValueError, match="applies to the I3D models only"):
    registry.build_model(name, NUM_CLASSES, final_pool_padding="SAME")


def test_lstm_gamma_init_reaches_the_recurrent_batch_norms_and_only_the_lstm():
  from i3d_tf import config as config_lib  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import task  # pylint: disable=import-outside-toplevel
  gammas = lambda m: {v.path.rsplit("/", 1)[-1]: np.unique(v.numpy()) for v in m.lstm.weights
                      if "gamma" in v.path}
  default = _small_model("lstm")
  default.build(None)
  assert {k: list(v) for k, v in gammas(default).items()} == {
      "gamma_x": [np.float32(0.1)], "gamma_h": [np.float32(0.1)], "gamma_c": [np.float32(0.1)]}
  config = config_lib.replace(config_lib.ExperimentConfig(), dict(model="lstm",
                                                                  lstm_gamma_init=1.0))
  options = task.model_options(config)
  assert options["lstm_gamma_init"] == 1.0  # the flag reaches the builder
  model = registry.build_model("lstm", NUM_CLASSES, max_steps=4, width_multiplier=0.25, **options)
  model.build(None)
  assert all(list(v) == [1.0] for v in gammas(model).values()) and len(gammas(model)) == 3
  with pytest.raises(ValueError, match="--lstm_gamma_init applies to --model=lstm only"):
    config_lib.validate(config_lib.replace(config_lib.ExperimentConfig(), dict(
        model="c3d", lstm_gamma_init=1.0)))
