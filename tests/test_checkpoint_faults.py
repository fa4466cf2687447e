"""Bad checkpoints on disk (issue #12 item 12): every error names the file and what is wrong.

Five faults: a truncated .data, an .index without its .data, a random file, a Flow checkpoint asked
as RGB, a path that does not exist. Each fails before the import writes anything.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from i3d_tf.checkpoints import deepmind, import_release
from tests import deepmind_fixtures as fx
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
  root = tmp_path_factory.mktemp("checkpoints")
  rgb = fx.write_checkpoint(root / "rgb" / "model.ckpt",
                            fx.random_values(fx.model_layout(3, 10, "RGB/inception_i3d")))
  flow = fx.write_checkpoint(root / "flow" / "model.ckpt",
                             fx.random_values(fx.model_layout(2, 10, "Flow/inception_i3d")))
  data = rgb + ".data-00000-of-00001"
  (root / "truncated").mkdir()
  shutil.copyfile(rgb + ".index", root / "truncated" / "model.ckpt.index")
  with open(data, "rb") as src, open(root / "truncated" / "model.ckpt.data-00000-of-00001",
                                     "wb") as dst:
    dst.write(src.read(os.path.getsize(data) // 2))  # a copy cut short
  (root / "no_data").mkdir()
  shutil.copyfile(rgb + ".index", root / "no_data" / "model.ckpt.index")
  (root / "random").mkdir()
  (root / "random" / "model.ckpt.index").write_bytes(os.urandom(4096))
  (root / "random" / "weights.bin").write_bytes(os.urandom(4096))
  return {"root": root, "rgb": rgb, "flow": flow, "data_bytes": os.path.getsize(data)}


def _import_error(checkpoint, output_dir, **kwargs):
  with pytest.raises(Exception) as error:
    import_release.import_checkpoint(str(checkpoint), str(output_dir), **kwargs)
  assert not os.path.exists(output_dir), "a failed import wrote its output_dir"
  return error.value


def test_truncated_data_file(checkpoints, tmp_path):
  root, full = checkpoints["root"], checkpoints["data_bytes"]
  error = _import_error(root / "truncated" / "model.ckpt", tmp_path / "out")
  assert isinstance(error, deepmind.UnreadableCheckpointError)
  assert str(error).startswith(f"{root}/truncated/model.ckpt.data-00000-of-00001: ")
  assert f"({full // 2} bytes on disk, the index lists {full} bytes of tensors)" in str(error)
  assert "truncated or corrupt" in str(error)


def test_index_without_data(checkpoints, tmp_path):
  root = checkpoints["root"]
  error = _import_error(root / "no_data" / "model.ckpt", tmp_path / "out")
  assert isinstance(error, deepmind.UnreadableCheckpointError)
  assert str(error).startswith(f"{root}/no_data/model.ckpt.data-00000-of-00001: missing: the "
                               f"index {root}/no_data/model.ckpt.index lists tensors")


def test_random_files(checkpoints, tmp_path):
  root = checkpoints["root"]
  error = _import_error(root / "random" / "model.ckpt", tmp_path / "out")
  assert isinstance(error, deepmind.UnreadableCheckpointError)
  assert str(error).startswith(f"{root}/random/model.ckpt.index: not a readable TensorFlow "
                               "checkpoint index (4096 bytes; ")
  error = _import_error(root / "random" / "weights.bin", tmp_path / "out")
  assert str(error).startswith(f"{root}/random/weights.bin: a file, not a checkpoint prefix")
  assert "no weights.bin.index beside it" in str(error)


def test_flow_checkpoint_asked_as_rgb(checkpoints, tmp_path):
  error = _import_error(checkpoints["flow"], tmp_path / "out", stream="rgb")
  assert isinstance(error, ValueError)
  assert str(error) == (
      f"checkpoint {checkpoints['flow']} holds a flow stream (Flow/inception_i3d/Conv3d_1a_7x7/"
      "conv_3d/w has shape [7, 7, 7, 2, 64]: 2 input channels); it was asked as 'rgb', which "
      "takes 3 channels")


def test_path_that_does_not_exist(checkpoints, tmp_path):
  error = _import_error(checkpoints["root"] / "nowhere" / "model.ckpt", tmp_path / "out")
  assert isinstance(error, FileNotFoundError)
  assert f"checkpoint index {checkpoints['root']}/nowhere/model.ckpt.index does not exist" in (
      str(error))


def test_the_binary_names_the_truncated_file(checkpoints, tmp_path):
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.import_deepmind_checkpoint",
       f"--checkpoint={checkpoints['root'] / 'truncated' / 'model.ckpt'}", f"--output_dir={out}"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  last_line = result.stderr.strip().splitlines()[-1]  # what the user reads first
  assert last_line.endswith(
      f"UnreadableCheckpointError: {checkpoints['root']}/truncated/model.ckpt.data-00000-of-"
      f"00001: cannot read the checkpoint's tensors ({checkpoints['data_bytes'] // 2} bytes on "
      f"disk, the index lists {checkpoints['data_bytes']} bytes of tensors): Read less bytes than "
      "requested; the file is truncated or corrupt (a full disk or a copy cut short?): copy it "
      "again"), last_line
  assert not out.exists()


# ------------------------------------------- finetune --init=<a release-layout checkpoint prefix>


def test_init_from_a_truncated_or_data_less_release_checkpoint_names_the_file(checkpoints):
  """`finetune --init=.../model.ckpt` reads the release's layout through the importer's checks:
  the cut-short .data file (or the missing one) is named with its sizes, not TF's bare
  'IndexError: Read less bytes than requested', and no weight is assigned."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from i3d_tf.models import registry  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import init as init_lib  # pylint: disable=import-outside-toplevel
  root, full = checkpoints["root"], checkpoints["data_bytes"]
  model = registry.build_model("i3d_rgb", 10, final_pool_padding="SAME")
  model(tf.zeros((1, 4, 32, 32, 3)))
  before = [v.numpy().copy() for v in model.variables]
  with pytest.raises(deepmind.UnreadableCheckpointError) as error:
    init_lib.initialize(model, str(root / "truncated" / "model.ckpt"), model_name="i3d_rgb")
  assert str(error.value).startswith(
      f"{root}/truncated/model.ckpt.data-00000-of-00001: cannot read the checkpoint's tensors "
      f"({full // 2} bytes on disk, the index lists {full} bytes of tensors): ")
  assert "truncated or corrupt" in str(error.value)
  with pytest.raises(deepmind.UnreadableCheckpointError, match="no_data/model.ckpt.data-00000-of-"
                     "00001: missing: the index .*no_data/model.ckpt.index lists tensors"):
    init_lib.initialize(model, str(root / "no_data" / "model.ckpt"), model_name="i3d_rgb")
  for value, variable in zip(before, model.variables):
    np.testing.assert_array_equal(value, variable.numpy(), err_msg=variable.path)  # none assigned
  # The intact checkpoint still loads by the same path.
  copied, _ = init_lib.initialize(model, checkpoints["rgb"], model_name="i3d_rgb")
  assert copied == len(model.deepmind_variables())


# ------------------------------------------- slim's ImageNet Inception-v1 (--init=imagenet)


def test_imagenet_checkpoint_cut_short_or_random_is_named(tmp_path):
  """`--init=imagenet --imagenet_checkpoint=...` reads slim's checkpoint through the same checks
  as the release's: a truncated .data or a random file is named, before any weight changes."""
  from i3d_tf.checkpoints import slim  # pylint: disable=import-outside-toplevel
  from i3d_tf.models import i3d  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import init as init_lib  # pylint: disable=import-outside-toplevel
  from tests.test_inception_v1 import random_slim_arrays  # pylint: disable=import-outside-toplevel
  prefix = slim.write_checkpoint(str(tmp_path / "inception_v1.ckpt"), random_slim_arrays())
  data = prefix + ".data-00000-of-00001"
  full = os.path.getsize(data)
  with open(data, "r+b") as f:
    f.truncate(full // 2)
  model = i3d.InceptionI3D(num_classes=5, in_channels=3)
  model.build((None, None, None, None, 3))
  before = [v.numpy().copy() for v in model.variables[:3]]
  with pytest.raises(deepmind.UnreadableCheckpointError) as error:
    init_lib.initialize(model, "imagenet", prefix, model_name="i3d_rgb")
  assert str(error.value).startswith(
      f"{data}: cannot read the checkpoint's tensors ({full // 2} bytes on disk, the index lists "
      f"{full} bytes of tensors): Read less bytes than requested; the file is truncated")
  for value, variable in zip(before, model.variables[:3]):
    np.testing.assert_array_equal(value, variable.numpy())  # nothing assigned
  random_file = tmp_path / "inception_v1_random.ckpt"  # a V1-style single file, but random
  random_file.write_bytes(os.urandom(4096))
  with pytest.raises(deepmind.UnreadableCheckpointError) as error:
    init_lib.initialize(model, "imagenet", str(random_file), model_name="i3d_rgb")
  assert str(error.value).startswith(
      f"{random_file}: not a readable TensorFlow checkpoint (4096 bytes; ")
  assert "neither a V1 checkpoint file nor the prefix of a V2 one" in str(error.value)
