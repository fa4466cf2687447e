"""2D Inception-v1: slim's exact variable layout, slim checkpoints load, wrong ones are named."""
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import slim
from i3d_tf.models import inception_v1

# Written out from tf_slim/nets/inception_v1.py, independently of the model code:
# (block, b0, b1 1x1, b1 3x3, b2 1x1, b2 3x3, b3 pool proj, in channels).
_SLIM_MIXED = (
    ("Mixed_3b", 64, 96, 128, 16, 32, 32, 192),
    ("Mixed_3c", 128, 128, 192, 32, 96, 64, 256),
    ("Mixed_4b", 192, 96, 208, 16, 48, 64, 480),
    ("Mixed_4c", 160, 112, 224, 24, 64, 64, 512),
    ("Mixed_4d", 128, 128, 256, 24, 64, 64, 512),
    ("Mixed_4e", 112, 144, 288, 32, 64, 64, 512),
    ("Mixed_4f", 256, 160, 320, 32, 128, 128, 528),
    ("Mixed_5b", 256, 160, 320, 32, 128, 128, 832),
    ("Mixed_5c", 384, 192, 384, 48, 128, 128, 832),
)


def slim_reference_shapes(num_classes=1001, in_channels=3):
  """{slim name: shape} of slim's inception_v1 (batch norm without gamma) with its logits."""
  shapes = {}

  def conv_bn(scope, k, c_in, c_out):
    shapes[f"InceptionV1/{scope}/weights"] = (k, k, c_in, c_out)
    for stat in ("beta", "moving_mean", "moving_variance"):
      shapes[f"InceptionV1/{scope}/BatchNorm/{stat}"] = (c_out,)

  conv_bn("Conv2d_1a_7x7", 7, in_channels, 64)
  conv_bn("Conv2d_2b_1x1", 1, 64, 64)
  conv_bn("Conv2d_2c_3x3", 3, 64, 192)
  for block, b0, b1a, b1b, b2a, b2b, b3, c_in in _SLIM_MIXED:
    conv_bn(f"{block}/Branch_0/Conv2d_0a_1x1", 1, c_in, b0)
    conv_bn(f"{block}/Branch_1/Conv2d_0a_1x1", 1, c_in, b1a)
    conv_bn(f"{block}/Branch_1/Conv2d_0b_3x3", 3, b1a, b1b)
    conv_bn(f"{block}/Branch_2/Conv2d_0a_1x1", 1, c_in, b2a)
    b2_name = "Conv2d_0a_3x3" if block == "Mixed_5b" else "Conv2d_0b_3x3"
    conv_bn(f"{block}/Branch_2/{b2_name}", 3, b2a, b2b)
    conv_bn(f"{block}/Branch_3/Conv2d_0b_1x1", 1, c_in, b3)
  if num_classes:
    shapes["InceptionV1/Logits/Conv2d_0c_1x1/weights"] = (1, 1, 1024, num_classes)
    shapes["InceptionV1/Logits/Conv2d_0c_1x1/biases"] = (num_classes,)
  return shapes


def random_slim_arrays(seed=0, num_classes=1001, extras=True):
  """Random values for every slim name; BN statistics in plausible ranges."""
  rng = np.random.default_rng(seed)
  arrays = {}
  for name, shape in slim_reference_shapes(num_classes).items():
    if name.endswith("moving_variance"):
      arrays[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    elif name.endswith(("beta", "moving_mean", "biases")):
      arrays[name] = rng.normal(0.0, 0.1, shape).astype(np.float32)
    else:
      fan_in = np.prod(shape[:-1])
      arrays[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
  if extras:  # what real slim checkpoints also hold
    arrays["global_step"] = np.array(1000, np.int64)
    arrays["InceptionV1/Conv2d_1a_7x7/weights/ExponentialMovingAverage"] = (
        arrays["InceptionV1/Conv2d_1a_7x7/weights"])
  return arrays


def _built_model(**kwargs):
  model = inception_v1.InceptionV1(in_channels=3, global_pool=True, **kwargs)
  model.build((None, None, None, 3))
  return model


def test_variables_are_slims_names_and_shapes():
  model = _built_model()
  ours = {k: tuple(v.shape) for k, v in slim.expected_variables(model).items()}
  assert ours == slim_reference_shapes()
  trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
  # 1001-way slim Inception-v1 with batch norm (no gamma): about 6.6M parameters.
  assert trainable == sum(int(np.prod(s)) for n, s in slim_reference_shapes().items()
                          if "moving_" not in n)
  assert 6.5e6 < trainable < 6.7e6


def test_endpoint_shapes_on_224():
  model = inception_v1.InceptionV1(num_classes=1001, in_channels=3)
  _, ends = model.call_with_endpoints(tf.zeros((1, 224, 224, 3)))
  assert ends["Conv2d_1a_7x7"].shape == (1, 112, 112, 64)
  assert ends["MaxPool_3a_3x3"].shape == (1, 28, 28, 192)
  assert ends["Mixed_4f"].shape == (1, 14, 14, 832)
  assert ends["Mixed_5c"].shape == (1, 7, 7, 1024)
  assert ends["AvgPool_0a_7x7"].shape == (1, 1, 1, 1024)
  assert ends["Logits"].shape == (1, 1001)


def test_random_slim_checkpoint_loads(tmp_path):
  arrays = random_slim_arrays()
  prefix = slim.write_checkpoint(str(tmp_path / "inception_v1.ckpt"), arrays)
  model = _built_model()
  loaded = slim.load_slim_checkpoint(model, prefix)
  assert len(loaded) == len(slim_reference_shapes())
  for name, var in slim.expected_variables(model).items():
    np.testing.assert_array_equal(var.numpy(), arrays[name], err_msg=name)
  # A model without logits takes the same checkpoint; the 1001-way logits stay unused.
  trunk = _built_model(final_endpoint="Mixed_5c")
  assert not any("Logits" in n for n in slim.load_slim_checkpoint(trunk, prefix))


def test_wrong_name_is_named(tmp_path):
  arrays = random_slim_arrays()
  good = "InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"
  bad = "InceptionV1/Mixed_5b/Branch_2/Conv2d_0b_3x3/weights"
  arrays[bad] = arrays.pop(good)
  prefix = slim.write_checkpoint(str(tmp_path / "renamed.ckpt"), arrays)
  with pytest.raises(slim.SlimCheckpointError) as info:
    slim.load_slim_checkpoint(_built_model(), prefix)
  message = str(info.value)
  assert "missing" in message and good in message
  assert "unexpected" in message and bad in message
  assert "renamed.ckpt" in message


def test_wrong_shape_is_named(tmp_path):
  arrays = random_slim_arrays()
  name = "InceptionV1/Mixed_4c/Branch_1/Conv2d_0b_3x3/BatchNorm/moving_mean"
  arrays[name] = np.zeros((225,), np.float32)
  prefix = slim.write_checkpoint(str(tmp_path / "misshaped.ckpt"), arrays)
  model = _built_model()
  before = model.slim_variables()["Conv2d_1a_7x7/weights"].numpy().copy()
  with pytest.raises(slim.SlimCheckpointError, match=r"Conv2d_0b_3x3/BatchNorm/moving_mean: "
                     r"checkpoint \[225\], model \[224\]"):
    slim.load_slim_checkpoint(model, prefix)
  # Nothing was assigned: a failed load leaves the model as it was.
  np.testing.assert_array_equal(model.slim_variables()["Conv2d_1a_7x7/weights"].numpy(), before)


def test_save_load_round_trip_gives_same_logits(tmp_path):
  source = _built_model(num_classes=7)
  slim.load_slim_checkpoint(source, slim.write_checkpoint(
      str(tmp_path / "a.ckpt"), random_slim_arrays(num_classes=7, extras=False)))
  prefix = slim.save_slim_checkpoint(source, str(tmp_path / "b.ckpt"))
  target = _built_model(num_classes=7)
  slim.load_slim_checkpoint(target, prefix)
  images = tf.random.uniform((2, 64, 64, 3), -1, 1, seed=1)
  np.testing.assert_allclose(target(images).numpy(), source(images).numpy(), rtol=1e-6)


def test_width_multiplier_keeps_slims_names_and_scales_every_conv_but_the_logits():
  reference = slim_reference_shapes()
  explicit = _built_model(width_multiplier=1.0)
  assert {k: tuple(v.shape) for k, v in slim.expected_variables(explicit).items()} == reference
  quarter = {k: tuple(v.shape)
             for k, v in slim.expected_variables(_built_model(width_multiplier=0.25)).items()}
  assert set(quarter) == set(reference)  # slim's names, narrower tensors
  for name, shape in reference.items():
    if name.startswith("InceptionV1/Logits/"):
      continue
    assert quarter[name][-1] == round(shape[-1] / 4), name  # every conv's output channels
  assert quarter["InceptionV1/Conv2d_1a_7x7/weights"] == (7, 7, 3, 16)  # the input is not scaled
  assert quarter["InceptionV1/Mixed_4b/Branch_0/Conv2d_0a_1x1/weights"] == (1, 1, 120, 48)
  assert quarter["InceptionV1/Logits/Conv2d_0c_1x1/weights"] == (1, 1, 256, 1001)
  model = inception_v1.InceptionV1(num_classes=5, in_channels=3, width_multiplier=0.25)
  _, ends = model.call_with_endpoints(tf.zeros((1, 224, 224, 3)))
  assert ends["AvgPool_0a_7x7"].shape == (1, 1, 1, model.feature_channels) == (1, 1, 1, 256)
  assert ends["Logits"].shape == (1, 5)


def test_full_width_checkpoint_into_a_narrower_model_names_the_width(tmp_path):
  full = slim.write_checkpoint(str(tmp_path / "full.ckpt"), random_slim_arrays())
  narrow = _built_model(width_multiplier=0.5)
  with pytest.raises(slim.SlimCheckpointError, match=r"width_multiplier=0\.5 \(--width_multiplier\)"):
    slim.load_slim_checkpoint(narrow, full)
  # A checkpoint of the same width loads (slim's names at every width).
  prefix = slim.save_slim_checkpoint(narrow, str(tmp_path / "narrow.ckpt"))
  assert len(slim.load_slim_checkpoint(_built_model(width_multiplier=0.5), prefix)) == len(
      slim_reference_shapes())
