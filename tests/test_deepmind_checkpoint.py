"""Import of DeepMind's checkpoints in all five released layouts, errors, and export back."""
import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.checkpoints import deepmind
from i3d_tf.models import i3d
from tests import deepmind_fixtures as fx

SCOPES = {"rgb": "RGB/inception_i3d", "flow": "Flow/inception_i3d"}


def _model_layout(channels, num_classes=400, scope="RGB/inception_i3d"):
  """{release name: shape} of our model, under `scope`."""
  return fx.model_layout(channels, num_classes, scope)


def _assert_holds(model, values, scope, bn_rank5=False):
  """Every model variable equals the checkpoint tensor of the same release name."""
  named = model.deepmind_variables()
  assert len(named) == 230
  for key, var in named.items():
    expected = values[f"{scope}/{key}" if scope else key]
    if bn_rank5 and "/batch_norm/" in key:
      assert expected.shape[:4] == (1, 1, 1, 1)
    np.testing.assert_array_equal(var.numpy(), expected.reshape(var.shape), err_msg=key)


@pytest.mark.parametrize("layout_name", fx.RELEASE_LAYOUTS)
def test_imports_each_released_layout(tmp_path, layout_name):
  shapes = fx.release_layout(layout_name)
  values = fx.random_values(shapes, seed=len(layout_name))
  path = fx.write_checkpoint(tmp_path / layout_name / "model.ckpt", values)

  layout = deepmind.inspect_checkpoint(path)
  stream = layout_name.split("_")[0]
  assert (layout.scope, layout.stream) == (SCOPES[stream], stream)
  assert (layout.num_classes, layout.in_channels) == (400, {"rgb": 3, "flow": 2}[stream])
  assert layout.ignored == [] and len(layout.variables) == 230

  model = deepmind.load_deepmind_checkpoint(path)
  assert model.in_channels == layout.in_channels and model.num_classes == 400
  _assert_holds(model, values, SCOPES[stream])
  # The release's names are exactly ours under its scope (Mixed_5b's 'Conv3d_0a_3x3' included).
  assert {f"{SCOPES[stream]}/{k}" for k in model.deepmind_variables()} == set(shapes)


def test_imports_kinetics600_layout(tmp_path):
  unscoped = _model_layout(3, scope="")
  shapes = fx.kinetics600_layout(unscoped, num_classes=600)
  shapes["global_step"] = ()
  values = fx.random_values(shapes, seed=6)
  values["global_step"] = np.array(123456, np.int64)
  path = fx.write_checkpoint(tmp_path / "rgb_scratch_kin600" / "model.ckpt", values)

  layout = deepmind.inspect_checkpoint(path)
  assert (layout.scope, layout.stream, layout.num_classes, layout.in_channels) == (
      "", "rgb", 600, 3)
  assert layout.sonnet_v1_batch_norm
  momentum = [n for n in shapes if n.endswith("/Momentum")]
  assert len(momentum) == 230 - 2 * 57  # every trainable variable (moving stats are not)
  assert sorted(layout.ignored) == sorted(momentum + ["global_step"])

  model = deepmind.load_deepmind_checkpoint(path)
  assert model.num_classes == 600
  _assert_holds(model, values, "", bn_rank5=True)


def test_missing_misshaped_and_unexpected_variables_are_named(tmp_path):
  shapes = _model_layout(3)
  values = fx.random_values(shapes, seed=1)
  gone = "RGB/inception_i3d/Mixed_4c/Branch_1/Conv3d_0b_3x3/batch_norm/moving_variance"
  wrong = "RGB/inception_i3d/Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"
  del values[gone]
  values[wrong] = np.zeros((3, 3, 3, 32, 127), np.float32)
  values["RGB/inception_i3d/Mixed_6a/Branch_0/Conv3d_0a_1x1/conv_3d/w"] = np.zeros(
      (1, 1, 1, 2, 2), np.float32)
  path = fx.write_checkpoint(tmp_path / "bad" / "model.ckpt", values)

  model = i3d.InceptionI3D(400, in_channels=3)
  model.build((None, None, 224, 224, 3))
  before = model.deepmind_variables()["Conv3d_1a_7x7/conv_3d/w"].numpy()
  with pytest.raises(deepmind.CheckpointMismatchError) as error:
    deepmind.load_deepmind_checkpoint(path, model=model)
  message = str(error.value)
  assert gone in message and "missing (1" in message
  assert f"{wrong}: checkpoint [3, 3, 3, 32, 127], model expects [3, 3, 3, 32, 128]" in message
  assert "Mixed_6a/Branch_0/Conv3d_0a_1x1/conv_3d/w" in message and "unexpected (1" in message
  assert error.value.missing == [gone]
  # Nothing was assigned: a mismatch never leaves a half-loaded model.
  np.testing.assert_array_equal(
      model.deepmind_variables()["Conv3d_1a_7x7/conv_3d/w"].numpy(), before)


def test_checkpoint_with_both_streams_needs_a_stream(tmp_path):
  shapes = {**_model_layout(3, 10, SCOPES["rgb"]), **_model_layout(2, 10, SCOPES["flow"])}
  values = fx.random_values(shapes, seed=2)
  path = fx.write_checkpoint(tmp_path / "joint" / "model.ckpt", values)
  with pytest.raises(ValueError, match="several I3D streams"):
    deepmind.inspect_checkpoint(path)
  flow = deepmind.load_deepmind_checkpoint(path, stream="flow")
  _assert_holds(flow, values, SCOPES["flow"])
  assert len(deepmind.inspect_checkpoint(path, stream="flow").ignored) == 230
  two_stream = deepmind.load_two_stream_checkpoints(path)
  _assert_holds(two_stream.rgb, values, SCOPES["rgb"])
  _assert_holds(two_stream.flow, values, SCOPES["flow"])


def test_missing_checkpoint_file_is_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="nowhere/model.ckpt.index"):
    deepmind.inspect_checkpoint(str(tmp_path / "nowhere" / "model.ckpt"))


@pytest.mark.parametrize("scope,rank5", [("RGB/inception_i3d", False), ("", True)])
def test_export_to_release_layout_round_trips(tmp_path, scope, rank5):
  shapes = _model_layout(3, 7)
  values = fx.random_values(shapes, seed=3)
  ours = deepmind.load_deepmind_checkpoint(
      fx.write_checkpoint(tmp_path / "src" / "model.ckpt", values))
  video = tf.random.uniform((1, 10, 224, 224, 3), -1, 1, seed=4)
  expected = ours(video).numpy()

  path = str(tmp_path / "exported" / "model.ckpt")
  names = deepmind.save_deepmind_checkpoint(ours, path, scope=scope, sonnet_v1_batch_norm=rank5)
  assert len(names) == 230
  assert tf.train.latest_checkpoint(str(tmp_path / "exported")).endswith("model.ckpt")
  # Another checkpoint's state file in the directory is left alone.
  deepmind.save_deepmind_checkpoint(ours, str(tmp_path / "exported" / "copy.ckpt"), scope=scope)
  assert tf.train.latest_checkpoint(str(tmp_path / "exported")).endswith("model.ckpt")
  layout = deepmind.inspect_checkpoint(path)
  assert (layout.scope, layout.sonnet_v1_batch_norm, layout.num_classes) == (scope, rank5, 7)
  again = deepmind.load_deepmind_checkpoint(path)
  np.testing.assert_array_equal(again(video).numpy(), expected)


def test_exported_checkpoint_has_release_names_and_shapes(tmp_path):
  shapes = fx.release_layout("flow_imagenet")
  model = i3d.InceptionI3D(400, in_channels=2)
  model.build((None, None, 224, 224, 2))
  path = str(tmp_path / "flow" / "model.ckpt")
  deepmind.save_deepmind_checkpoint(model, path, scope="Flow/inception_i3d")
  assert {n: tuple(s) for n, s in tf.train.list_variables(path)} == shapes


def test_release_style_tf1_saver_restores_our_export(tmp_path):
  """The release's evaluate_sample.py restores with a TF1 Saver over {name: variable}."""
  model = i3d.InceptionI3D(5, in_channels=3)
  model.build((None, None, 224, 224, 3))
  path = str(tmp_path / "rgb" / "model.ckpt")
  deepmind.save_deepmind_checkpoint(model, path)
  ours = {f"RGB/inception_i3d/{k}": v.numpy() for k, v in model.deepmind_variables().items()}
  with tf.Graph().as_default():
    variables = {name: tf.compat.v1.get_variable(name, shape=value.shape, dtype=tf.float32)
                 for name, value in ours.items()}
    saver = tf.compat.v1.train.Saver(var_list=variables, reshape=True)
    with tf.compat.v1.Session() as session:
      saver.restore(session, path)
      restored = session.run(variables)
  for name, value in ours.items():
    np.testing.assert_array_equal(restored[name], value, err_msg=name)


def test_feature_extractor_loads_up_to_its_final_endpoint(tmp_path):
  shapes = _model_layout(2, 400, SCOPES["flow"])
  values = fx.random_values(shapes, seed=8)
  path = fx.write_checkpoint(tmp_path / "flow" / "model.ckpt", values)
  model = deepmind.load_deepmind_checkpoint(path, final_endpoint="Mixed_4f")
  named = model.deepmind_variables()
  assert named and not any(k.startswith(("Mixed_5", "Logits")) for k in named)
  for key, var in named.items():
    np.testing.assert_array_equal(var.numpy(), values[f"{SCOPES['flow']}/{key}"], err_msg=key)
  assert model(tf.zeros((1, 8, 64, 64, 2))).shape == (1, 2, 4, 4, 832)




def test_init_reads_the_release_layout_through_the_importers_names(tmp_path):
  """`--init=<release-layout checkpoint>` maps names as the importer does (one reader): from a
  checkpoint holding both streams' I3Ds and a Momentum slot beside every weight, an RGB I3D gets
  the RGB scope's weights (never a slot's, never the Flow scope's) and the two-stream I3D each
  stream's. (Quarter width, one model built: the names are the release's all the same.)"""
  from i3d_tf.models import two_stream_i3d  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import init as init_lib  # pylint: disable=import-outside-toplevel
  model = two_stream_i3d.TwoStreamI3D(5, final_pool_padding="SAME", width_multiplier=0.25)
  model.build()
  rng = np.random.default_rng(0)
  values = {name: rng.normal(size=var.shape).astype(np.float32)
            for name, var in model.deepmind_variables().items()}
  slots = {f"{name}/Momentum": np.full_like(value, 7.0) for name, value in values.items()}
  prefix = fx.write_checkpoint(tmp_path / "both" / "model.ckpt", {**values, **slots})
  copied, skipped = init_lib.initialize(model.rgb, prefix, model_name="i3d_rgb")
  assert copied == 230 and not skipped
  for key, var in model.rgb.deepmind_variables().items():
    np.testing.assert_array_equal(var.numpy(), values[f"RGB/inception_i3d/{key}"], err_msg=key)
  assert np.all(model.flow.deepmind_variables()["Mixed_5c/Branch_0/Conv3d_0a_1x1/conv_3d/w"]
                .numpy() != values["Flow/inception_i3d/Mixed_5c/Branch_0/Conv3d_0a_1x1/conv_3d/w"])
  copied, skipped = init_lib.initialize(model, prefix, model_name="i3d_two_stream")
  assert copied == 460 and not skipped
  for name, var in model.deepmind_variables().items():
    np.testing.assert_array_equal(var.numpy(), values[name], err_msg=name)
