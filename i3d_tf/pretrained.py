"""`load(name_or_path)`: an I3D model with the weights of a release checkpoint, like torchvision's
`weights=` or KerasHub's `from_preset`.

`name_or_path` is one of:
  - a release name (`RELEASES`: rgb_imagenet, flow_imagenet, rgb_scratch, flow_scratch,
    rgb_scratch_kin600): its files are downloaded once from DeepMind's kinetics-i3d repository,
    pinned at commit RELEASE_COMMIT, into the cache (`cache_dir()`), each checked against its
    checksum, then loaded as a DeepMind-layout checkpoint (no network: DownloadError names the
    URL, the reason and where to put a local copy; a failed download leaves the cache as it was);
  - a DeepMind-layout checkpoint: its prefix ('.../model.ckpt'), '.index' file or folder;
  - a folder written by `i3d-import` / `import_checkpoint` (import_info.json, model.weights.h5), or
    a training run's folder (run_config.json and ckpt-*).
The release's files are plain git blobs: every file's git blob SHA-1 (the repository's own content
hash) is checked; the small '.index' files also have a sha256 (the same as
../shared/reference/kinetics_i3d/checkpoint_layouts).
"""
import dataclasses
import hashlib
import http.client
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Optional

from i3d_tf.checkpoints import deepmind
from i3d_tf.checkpoints import runs
from i3d_tf.models import registry

RELEASE_COMMIT = "0667e889a5904b4dc122e0ded4c332f49f8df42c"
RELEASE_URL = ("https://raw.githubusercontent.com/deepmind/kinetics-i3d/" + RELEASE_COMMIT +
               "/data/checkpoints/{name}/")
INDEX = "model.ckpt.index"
DATA = "model.ckpt.data-00000-of-00001"
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class ReleaseFile:
  """One file of a release checkpoint and its checksums (hex)."""
  name: str
  git_blob_sha1: str
  sha256: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Release:
  """A released checkpoint: where its files are, what they hold."""
  name: str
  description: str
  files: tuple                     # of ReleaseFile: the index and the data file
  base_url: Optional[str] = None   # default RELEASE_URL with the name

  @property
  def url(self):
    return self.base_url or RELEASE_URL.format(name=self.name)


def _release(name, description, index_blob, index_sha256, data_blob):
  return Release(name, description, (ReleaseFile(INDEX, index_blob, index_sha256),
                                     ReleaseFile(DATA, data_blob)))


# The five checkpoints of deepmind/kinetics-i3d @ RELEASE_COMMIT (data/checkpoints/<name>/).
RELEASES = {r.name: r for r in (
    _release("rgb_imagenet", "RGB I3D, ImageNet-inflated, trained on Kinetics-400 (400 classes)",
             "5ab1058b8f4f89a896c01f67c0a4c96a31548af7",
             "f4bfd6f4af485f276c68333d3eca3697b691bb647f0167a03fe021147ca7f8eb",
             "2958652e0c9c48a65010c0ebda5c9cfd4edc7c18"),
    _release("flow_imagenet", "Flow I3D, ImageNet-inflated, trained on Kinetics-400 (400 classes)",
             "8217f9450d851d24782aaf1af01c5c3b35b81a35",
             "71594ac5f63cb0eb58512a13b56097dc0368d09e5959dffcc6e7a45b19832366",
             "bf56831f663abc3de0d35f193030b73a3df7fb61"),
    _release("rgb_scratch", "RGB I3D trained from scratch on Kinetics-400 (400 classes)",
             "84dd4518e982d9ca6ce1ff02e95fca2e8cbb1f73",
             "4fcd08b3e140f0267730e462295054c6a38f6cfd9991c310ee3d37bbdfd7030c",
             "fa7df95674dbf3579e7fccd954e51e706b4734c1"),
    _release("flow_scratch", "Flow I3D trained from scratch on Kinetics-400 (400 classes)",
             "193bc425100f3978c793da66bd9eb54baea8dc6a",
             "81fccedbe8352f8509b05ca9f2959f5aac13552dc680c808acd4f39be82620e6",
             "1d6a0b68f32544af11111342857e47e30d13afa9"),
    _release("rgb_scratch_kin600", "RGB I3D trained from scratch on Kinetics-600 (600 classes)",
             "d378d8f01215fe92a29cd170f040c284070e9cd5",
             "366815af85b76e46222db13761f087584b3dc9c56abf67b822949846302e432a",
             "6392a74c3180e706cabada39d8f40a50a48642e5"),
)}
ALIASES = {"rgb600_scratch": "rgb_scratch_kin600", "rgb_kinetics600": "rgb_scratch_kin600"}


class ChecksumError(ValueError):
  """A downloaded or cached file does not have the release's checksum."""


def cache_dir():
  """$I3D_TF_PRETRAINED, else $I3D_TF_CACHE/pretrained, else ~/.cache/i3d_tf/pretrained."""
  if os.environ.get("I3D_TF_PRETRAINED"):
    return os.environ["I3D_TF_PRETRAINED"]
  base = os.environ.get("I3D_TF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                        "i3d_tf")
  return os.path.join(base, "pretrained")


def release(name):
  """The Release called `name` (or an alias); a ValueError listing the names otherwise."""
  name = ALIASES.get(name, name)
  if name not in RELEASES:
    raise ValueError(f"unknown release checkpoint {name!r}; releases: "
                     f"{', '.join(sorted(RELEASES))} (aliases: {', '.join(sorted(ALIASES))}), "
                     f"or pass a checkpoint prefix or a model folder")
  return RELEASES[name]


def _digests(path):
  """(git blob SHA-1, sha256) of a file, hex."""
  blob = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
  sha256 = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(_CHUNK), b""):
      blob.update(chunk)
      sha256.update(chunk)
  return blob.hexdigest(), sha256.hexdigest()


def check_file(path, expected, label=None):
  """Raises ChecksumError unless the file at `path` has `expected`'s checksums (the message names
  `label`, e.g. the URL it came from, or else `path`)."""
  label = label or path
  blob, sha256 = _digests(path)
  if blob != expected.git_blob_sha1:
    raise ChecksumError(f"{label}: git blob SHA-1 {blob}, expected {expected.git_blob_sha1} "
                        f"(a corrupt or different file)")
  if expected.sha256 is not None and sha256 != expected.sha256:
    raise ChecksumError(f"{label}: sha256 {sha256}, expected {expected.sha256}")


class DownloadError(OSError):
  """A release file that could not be fetched: names the URL, the reason, and the offline routes."""

  def __init__(self, url, reason, hint):
    self.url, self.reason = url, reason
    super().__init__(f"could not download {url}: {reason}. {hint}")


def _reason(error):
  """Why urlopen or a read failed, in words: 'HTTP 404 Not Found', '[Errno -3] Temporary failure
  in name resolution', ..."""
  if isinstance(error, urllib.error.HTTPError):
    return f"HTTP {error.code} {error.reason}"
  if isinstance(error, urllib.error.URLError):
    return str(error.reason)
  return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _offline_hint(spec, directory):
  """How to load release `spec` without the network: its files in the cache, or a local prefix."""
  files = " and ".join(entry.name for entry in spec.files)
  hint = (f"Nothing was written to the cache. To load {spec.name!r} without the network, copy its "
          f"files {files} (from {spec.url}) into {directory}{os.sep} (the cache: cache=, "
          f"$I3D_TF_PRETRAINED or $I3D_TF_CACHE/pretrained), where load({spec.name!r}) checks "
          f"and uses them; or pass a local copy's checkpoint prefix to load()")
  if spec.base_url is None:  # DeepMind's repository holds the files in git
    hint += (f": git clone https://github.com/deepmind/kinetics-i3d, then "
             f"load('kinetics-i3d/data/checkpoints/{spec.name}/model.ckpt')")
  return hint + "."


def _download(url, destination, expected, hint):
  """url -> destination (a new file in a staging folder), checked against `expected`.

  A failed connection or read raises DownloadError naming the URL, the reason and `hint`.
  """
  try:
    response = urllib.request.urlopen(url)  # nosec: a pinned URL
  except (OSError, http.client.HTTPException) as e:
    raise DownloadError(url, _reason(e), hint) from e
  with response, open(destination, "wb") as out:
    while True:
      try:
        chunk = response.read(_CHUNK)
      except (OSError, http.client.HTTPException) as e:
        raise DownloadError(url, _reason(e), hint) from e
      if not chunk:
        break
      out.write(chunk)
  check_file(destination, expected, label=f"downloaded {url}")


def _missing_folders(path):
  """The folders that os.makedirs(path) would create, deepest first."""
  missing = []
  path = os.path.abspath(path)
  while not os.path.exists(path):
    missing.append(path)
    parent = os.path.dirname(path)
    if parent == path:
      break
    path = parent
  return missing


def download(name, cache=None, echo=None):
  """The local checkpoint prefix of release `name`, downloading what the cache lacks.

  A cached file is checked again (a truncated one is downloaded anew). Returns
  '<cache>/<name>/model.ckpt'. Files are downloaded into a staging folder beside the release's
  folder and moved in only once all of them have their checksums, so a failed download (no
  network: DownloadError naming the URL, the reason and how to load a local copy; a wrong
  checksum: ChecksumError) leaves the cache as it was: no empty or half-written folder.
  """
  spec = release(name)
  root = cache or cache_dir()
  directory = os.path.join(root, spec.name)
  needed = []
  for entry in spec.files:
    path = os.path.join(directory, entry.name)
    if os.path.exists(path):
      try:
        check_file(path, entry)
        continue
      except ChecksumError:
        pass  # replaced below, once a new copy has the right checksum
    needed.append(entry)
  prefix = os.path.join(directory, "model.ckpt")
  if not needed:
    return prefix
  created = _missing_folders(root)
  staging = os.path.join(root, f".{spec.name}.download-{os.getpid()}-{uuid.uuid4().hex[:8]}")
  os.makedirs(staging)
  done = False
  try:
    for entry in needed:
      url = urllib.parse.urljoin(spec.url, entry.name)
      if echo:
        echo(f"downloading {url} -> {os.path.join(directory, entry.name)}")
      _download(url, os.path.join(staging, entry.name), entry, _offline_hint(spec, directory))
    if not os.path.isdir(directory):
      try:
        os.rename(staging, directory)  # the whole release folder appears at once
      except OSError:
        pass  # another process made it meanwhile: move the files in one by one
    if os.path.isdir(staging):
      os.makedirs(directory, exist_ok=True)
      for entry in needed:
        os.replace(os.path.join(staging, entry.name), os.path.join(directory, entry.name))
    done = True
  finally:
    shutil.rmtree(staging, ignore_errors=True)
    if not done:
      for folder in created:  # the cache folders this call made, deepest first, if still empty
        try:
          os.rmdir(folder)
        except OSError:
          break
  return prefix


def _load_folder(path, **model_options):
  """A model from an `import_checkpoint` folder or a training run's folder."""
  if os.path.exists(os.path.join(path, "run_config.json")):
    model, _ = runs.load_run(path, **model_options)
    return model
  with open(os.path.join(path, "import_info.json"), encoding="utf-8") as f:
    info = json.load(f)
  model = registry.build_model(info["model"], info["num_classes"], **model_options)
  if info["model"] == "i3d_two_stream":
    model.build()
  else:
    model.build((None, None, 224, 224, registry.get(info["model"]).input_spec.streams[0].channels))
  model.load_weights(os.path.join(path, "model.weights.h5"))
  return model


def load(name_or_path, cache=None, echo=None, **model_options):
  """A keras model with the weights of a release checkpoint (see the module docstring).

  `model_options` go to the model (e.g. final_pool_padding='SAME', final_endpoint='Mixed_5c').
  """
  path = os.fspath(name_or_path)
  if not os.path.exists(path) and not os.path.exists(path + ".index"):
    if os.sep in path or path.endswith((".index", ".ckpt")):
      raise FileNotFoundError(f"{path}: no such checkpoint or model folder")
    path = download(path, cache=cache, echo=echo)
  elif os.path.isdir(path) and (os.path.exists(os.path.join(path, "import_info.json")) or
                                os.path.exists(os.path.join(path, "run_config.json"))):
    return _load_folder(path, **model_options)
  return deepmind.load_deepmind_checkpoint(path, **model_options)
