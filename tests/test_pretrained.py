"""i3d_tf.pretrained.load: release names resolved to checksummed downloads cached once (here from a
file:// URL: no network), DeepMind-layout checkpoint prefixes, and imported model folders."""
import hashlib
import json
import os
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest

from i3d_tf import pretrained
from tests import deepmind_fixtures

NUM_CLASSES = 7


def _digests(path):
  with open(path, "rb") as f:
    data = f.read()
  return (hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
          hashlib.sha256(data).hexdigest())


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
  """A flow checkpoint in the release's layout (random values), as a release folder to serve."""
  directory = tmp_path_factory.mktemp("served") / "flow_test"
  shapes = deepmind_fixtures.model_layout(2, num_classes=NUM_CLASSES, scope="Flow/inception_i3d")
  tensors = deepmind_fixtures.random_values(shapes)
  deepmind_fixtures.write_checkpoint(str(directory / "model.ckpt"), tensors)
  return directory, tensors


def _register(monkeypatch, directory, corrupt=False):
  files = []
  for name in (pretrained.INDEX, pretrained.DATA):
    blob, sha256 = _digests(directory / name)
    if corrupt and name == pretrained.DATA:
      blob = "0" * 40
    files.append(pretrained.ReleaseFile(name, blob, sha256))
  spec = pretrained.Release("flow_test", "test", tuple(files), base_url=directory.as_uri() + "/")
  monkeypatch.setitem(pretrained.RELEASES, spec.name, spec)


def _assert_weights(model, tensors):
  ours = {f"Flow/inception_i3d/{k}": v.numpy() for k, v in model.deepmind_variables().items()}
  assert set(ours) == set(tensors)
  for name, value in tensors.items():
    np.testing.assert_array_equal(ours[name], value, err_msg=name)


def test_a_release_name_downloads_once_checks_checksums_and_loads(release_dir, tmp_path,
                                                                 monkeypatch):
  directory, tensors = release_dir
  _register(monkeypatch, directory)
  opened = []
  real_urlopen = urllib.request.urlopen
  monkeypatch.setattr(urllib.request, "urlopen",
                      lambda url: opened.append(url) or real_urlopen(url))
  cache = str(tmp_path / "cache")
  model = pretrained.load("flow_test", cache=cache, final_pool_padding="SAME")
  assert sorted(os.path.basename(u) for u in opened) == sorted([pretrained.INDEX, pretrained.DATA])
  assert model.num_classes == NUM_CLASSES and model.in_channels == 2
  _assert_weights(model, tensors)
  assert sorted(os.listdir(os.path.join(cache, "flow_test"))) == sorted(
      [pretrained.INDEX, pretrained.DATA])  # no temporary file left

  opened.clear()
  pretrained.load("flow_test", cache=cache, final_pool_padding="SAME")
  assert not opened  # cached

  # A truncated cached file fails its checksum and is downloaded again.
  data = os.path.join(cache, "flow_test", pretrained.DATA)
  with open(data, "r+b") as f:
    f.truncate(100)
  _assert_weights(pretrained.load("flow_test", cache=cache, final_pool_padding="SAME"), tensors)
  assert [os.path.basename(u) for u in opened] == [pretrained.DATA]


def test_a_download_with_the_wrong_checksum_leaves_nothing_in_the_cache(release_dir, tmp_path,
                                                                       monkeypatch):
  directory, _ = release_dir
  _register(monkeypatch, directory, corrupt=True)
  cache = str(tmp_path / "cache")
  with pytest.raises(pretrained.ChecksumError, match="model.ckpt.data-00000-of-00001.*git blob"):
    pretrained.load("flow_test", cache=cache)
  assert not os.path.exists(cache)  # not the good index alone, nor an empty folder


def _no_network(monkeypatch, fail=lambda url: True):
  """urlopen raising URLError (as with no network) for the URLs `fail` picks; the rest served."""
  real_urlopen = urllib.request.urlopen

  def urlopen(url):
    if fail(url):
      raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
    return real_urlopen(url)
  monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def test_no_network_names_the_url_the_reason_and_the_local_routes_and_leaves_no_folder(
    tmp_path, monkeypatch):
  _no_network(monkeypatch)
  cache = tmp_path / "cache"  # $I3D_TF_PRETRAINED: an existing, empty cache folder
  cache.mkdir()
  monkeypatch.setenv("I3D_TF_PRETRAINED", str(cache))
  with pytest.raises(pretrained.DownloadError) as error:
    pretrained.load("rgb_imagenet")
  message = str(error.value)
  url = pretrained.RELEASE_URL.format(name="rgb_imagenet") + pretrained.INDEX
  assert message.startswith(f"could not download {url}: [Errno -3] Temporary failure in name "
                            "resolution. Nothing was written to the cache.")
  assert error.value.url == url
  assert (f"copy its files {pretrained.INDEX} and {pretrained.DATA} "
          f"(from {pretrained.RELEASE_URL.format(name='rgb_imagenet')}) into "
          f"{cache / 'rgb_imagenet'}{os.sep}") in message
  assert ("git clone https://github.com/deepmind/kinetics-i3d, then "
          "load('kinetics-i3d/data/checkpoints/rgb_imagenet/model.ckpt')") in message
  assert isinstance(error.value, OSError)  # as URLError was
  assert os.listdir(cache) == []
  # A cache folder this call had to create is removed again, parents included.
  nested = tmp_path / "new" / "pretrained"
  with pytest.raises(pretrained.DownloadError):
    pretrained.load("rgb_imagenet", cache=str(nested))
  assert os.listdir(tmp_path) == ["cache"]


def test_a_download_failing_on_its_second_file_leaves_no_half_release_and_the_hint_works(
    release_dir, tmp_path, monkeypatch):
  directory, tensors = release_dir
  _register(monkeypatch, directory)
  _no_network(monkeypatch, fail=lambda url: url.endswith(pretrained.DATA))
  cache = tmp_path / "cache"
  cache.mkdir()
  with pytest.raises(pretrained.DownloadError, match=f"could not download .*/{pretrained.DATA}: "
                     r"\[Errno -3\] Temporary failure in name resolution"):
    pretrained.load("flow_test", cache=str(cache))
  assert os.listdir(cache) == []  # the index downloaded first is not left alone
  # What the message says: the files copied into <cache>/<name>/ load with no network at all.
  _no_network(monkeypatch)
  (cache / "flow_test").mkdir()
  for name in (pretrained.INDEX, pretrained.DATA):
    (cache / "flow_test" / name).write_bytes((directory / name).read_bytes())
  _assert_weights(pretrained.load("flow_test", cache=str(cache), final_pool_padding="SAME"),
                  tensors)


def test_unknown_names_list_the_releases():
  with pytest.raises(ValueError, match="rgb_imagenet.*rgb_scratch_kin600"):
    pretrained.load("rgb_imagenett")
  assert pretrained.release("rgb600_scratch").name == "rgb_scratch_kin600"
  assert {"rgb_imagenet", "flow_imagenet", "rgb_scratch", "flow_scratch"} <= set(
      pretrained.RELEASES)


def test_release_index_checksums_match_the_real_indexes():
  for name in deepmind_fixtures.RELEASE_LAYOUTS:
    index = deepmind_fixtures.shared_path("reference", "kinetics_i3d", "checkpoint_layouts", name,
                                          "model.ckpt.index")
    blob, sha256 = _digests(index)
    entry = pretrained.RELEASES[name].files[0]
    assert (entry.name, entry.git_blob_sha1, entry.sha256) == (pretrained.INDEX, blob, sha256)


def test_a_local_prefix_and_an_imported_folder_load(release_dir, tmp_path):
  directory, tensors = release_dir
  model = pretrained.load(str(directory / "model.ckpt"), final_pool_padding="SAME")
  _assert_weights(model, tensors)
  folder = tmp_path / "imported"
  folder.mkdir()
  model.save_weights(str(folder / "model.weights.h5"))
  (folder / "import_info.json").write_text(json.dumps({"model": "i3d_flow",
                                                       "num_classes": NUM_CLASSES}))
  _assert_weights(pretrained.load(str(folder), final_pool_padding="SAME"), tensors)
  with pytest.raises(FileNotFoundError, match="no such checkpoint"):
    pretrained.load(str(tmp_path / "missing" / "model.ckpt"))
