"""Reading stored videos for tf.data: TFDS-built shards and MediaSequence SequenceExamples.

Works on the raw serialized protos without TFDS's decoders, so the input pipeline can gather the
encoded frames it samples and decode only those. Formats: i3d_tf/data/FORMAT.md.
"""
import json
import os
import re

import tensorflow as tf

from i3d_tf.data import mediasequence
from i3d_tf.video import flow as flow_lib

_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")

# What parse_tfds_example reads: FORMAT.md section 2 (written by the builders in datasets/).
_TFDS_FEATURES = {
    "video_id": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "rgb": tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
    "flow": tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
    "start_s": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    "end_s": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    "fps": tf.io.FixedLenFeature([], tf.float32, default_value=25.0),
    "flow_offset": tf.io.FixedLenFeature([], tf.float32, default_value=flow_lib.FLOW_OFFSET),
    "flow_scale": tf.io.FixedLenFeature([], tf.float32, default_value=flow_lib.FLOW_SCALE),
}


# ------------------------------------------------------------------------------ TFDS layout


def _version_key(version):
  return tuple(int(p) for p in version.split("."))


def _versions(directory):
  """Versions under `directory` that hold a finished build (dataset_info.json), oldest first."""
  if not tf.io.gfile.isdir(directory):
    return []
  found = [v.rstrip("/") for v in tf.io.gfile.listdir(directory)]
  found = [v for v in found if _VERSION_RE.match(v) and
           tf.io.gfile.exists(os.path.join(directory, v, "dataset_info.json"))]
  return sorted(found, key=_version_key)


def dataset_dir(data_dir, dataset_name):
  """The build folder of `dataset_name` ('name', 'name/config', optionally ':1.2.3').

  Without a version the newest finished build; without a config the only config there is.
  """
  name, _, version = str(dataset_name).partition(":")
  base = os.path.join(str(data_dir), name)
  if not tf.io.gfile.isdir(base):
    raise FileNotFoundError(f"no dataset {name!r} under data_dir {data_dir} (expected the folder "
                            f"{base}; build it first, e.g. python -m datasets.build)")
  versions = _versions(base)
  if not versions and "/" not in name:
    configs = sorted(c.rstrip("/") for c in tf.io.gfile.listdir(base)
                     if _versions(os.path.join(base, c.rstrip("/"))))
    if len(configs) == 1:
      base = os.path.join(base, configs[0])
      versions = _versions(base)
    elif configs:
      raise ValueError(f"dataset {name!r} in {data_dir} has several configs {configs}: name one, "
                       f"e.g. '{name}/{configs[0]}'")
  if not versions:
    raise FileNotFoundError(f"{base} holds no finished build (no <version>/dataset_info.json)")
  if version:
    if version not in versions:
      raise FileNotFoundError(f"{base} has no finished build of version {version}; it has "
                              f"{versions}")
    return os.path.join(base, version)
  return os.path.join(base, versions[-1])


def _read_info(directory):
  with tf.io.gfile.GFile(os.path.join(directory, "dataset_info.json")) as f:
    return json.load(f)


def _empty_splits(directory):
  """{split: videos listed} of splits a build left out because nothing in them decoded."""
  path = os.path.join(directory, "metadata.json")
  if not tf.io.gfile.exists(path):
    return {}
  with tf.io.gfile.GFile(path) as f:
    return json.load(f).get("empty_splits") or {}


def _split_info(directory, split):
  info = _read_info(directory)
  splits = {s["name"]: s for s in info.get("splits", [])}
  if split not in splits:
    empty = _empty_splits(directory)
    if split in empty:
      raise ValueError(
          f"split {split!r} of {directory} was built empty: none of its {empty[split]} videos could "
          f"be decoded (see skipped.tsv there); fix or replace them and rebuild with --overwrite")
    raise ValueError(f"{directory} has no split {split!r}; its splits are {sorted(splits)}")
  return info, splits[split]


def list_shards(data_dir, dataset_name, split):
  """The TFRecord files of `split`, in order, as TFDS wrote them (all must exist)."""
  directory = dataset_dir(data_dir, dataset_name)
  info, split_info = _split_info(directory, split)
  num_shards = len(split_info.get("shardLengths", []))
  template = split_info.get("filepathTemplate", "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}")
  shards = []
  for index in range(num_shards):
    filename = (template.replace("{DATASET}", info["name"]).replace("{SPLIT}", split)
                .replace("{FILEFORMAT}", info.get("fileFormat", "tfrecord"))
                .replace("{SHARD_X_OF_Y}", f"{index:05d}-of-{num_shards:05d}")
                .replace("{SHARD_INDEX}", f"{index:05d}"))
    path = os.path.join(directory, filename)
    if not tf.io.gfile.exists(path):
      raise FileNotFoundError(f"shard {path} of split {split!r} is missing (dataset_info.json "
                              f"lists {num_shards} shards)")
    shards.append(path)
  if not shards:
    raise ValueError(f"split {split!r} of {directory} has no shards (it holds no examples)")
  return shards


def num_examples(data_dir, dataset_name, split):
  """How many examples `split` holds, from dataset_info.json."""
  _, split_info = _split_info(dataset_dir(data_dir, dataset_name), split)
  return sum(int(n) for n in split_info.get("shardLengths", []))


def split_names(data_dir, dataset_name):
  """The split names of a finished build, from its dataset_info.json."""
  return [s["name"] for s in _read_info(dataset_dir(data_dir, dataset_name)).get("splits", [])]


def built_datasets(data_dir):
  """'builder/config' (or 'builder' for builders without configs) of every finished build in
  data_dir, sorted: what a --dataset=<builder>/<config> flag can name."""
  data_dir = str(data_dir)
  if not tf.io.gfile.isdir(data_dir):
    return []
  found = []
  for builder in sorted(b.rstrip("/") for b in tf.io.gfile.listdir(data_dir)):
    base = os.path.join(data_dir, builder)
    if builder.startswith(".") or not tf.io.gfile.isdir(base):
      continue
    if _versions(base):
      found.append(builder)
    for config in sorted(c.rstrip("/") for c in tf.io.gfile.listdir(base)):
      if not config.startswith(".") and _versions(os.path.join(base, config)):
        found.append(f"{builder}/{config}")
  return found


def dataset_info(data_dir, dataset_name):
  """(num_classes, class_names) of the `label` ClassLabel; names are 'class_<i>' if unnamed."""
  directory = dataset_dir(data_dir, dataset_name)
  labels_file = os.path.join(directory, "label.labels.txt")
  if tf.io.gfile.exists(labels_file):
    with tf.io.gfile.GFile(labels_file) as f:
      names = [line.rstrip("\r\n") for line in f]
    while names and not names[-1]:
      names.pop()
    return len(names), names
  features_file = os.path.join(directory, "features.json")
  if tf.io.gfile.exists(features_file):
    with tf.io.gfile.GFile(features_file) as f:
      features = json.load(f)
    label = features.get("featuresDict", {}).get("features", {}).get("label", {})
    count = label.get("classLabel", {}).get("numClasses")
    if count is not None:
      return int(count), [f"class_{i}" for i in range(int(count))]
  raise ValueError(f"{directory} has no 'label' ClassLabel (neither label.labels.txt nor a "
                   f"classLabel in features.json)")


# ------------------------------------------------------------------------------ parsing


def _complete(rgb, flow, label, video_id, **extra):
  """The shared output dict: flow made as long as rgb (repeat its last frame, or trim)."""
  num_frames = tf.shape(rgb)[0]
  num_flow = tf.shape(flow)[0]
  has_flow = num_flow > 0
  # MediaPipe stores T-1 flow frames for T images: flow[T-1] repeats flow[T-2] (as ours does).
  padded = tf.cond(
      has_flow,
      lambda: tf.gather(flow, tf.minimum(tf.range(num_frames), num_flow - 1)),
      lambda: tf.fill([num_frames], ""))
  out = {
      "rgb": rgb,
      "flow": padded,
      "label": tf.cast(label, tf.int64),
      "video_id": video_id,
      "num_frames": tf.cast(num_frames, tf.int32),
      "has_flow": has_flow,
  }
  out.update(extra)
  return out


def parse_tfds_example(serialized):
  """A serialized tf.train.Example of our TFDS shards -> the dict of FORMAT.md section 4.

  {'rgb': string [T], 'flow': string [T], 'label': int64, 'video_id': string, 'num_frames':
  int32, 'has_flow': bool, 'start_s', 'end_s', 'fps', 'flow_offset', 'flow_scale': float32}.
  """
  parsed = tf.io.parse_single_example(serialized, _TFDS_FEATURES)
  return _complete(parsed["rgb"], parsed["flow"], parsed["label"], parsed["video_id"],
                   start_s=parsed["start_s"], end_s=parsed["end_s"], fps=parsed["fps"],
                   flow_offset=parsed["flow_offset"], flow_scale=parsed["flow_scale"])


def parse_mediasequence_example(serialized):
  """A serialized MediaSequence tf.train.SequenceExample -> the same dict as parse_tfds_example.

  label = the first `clip/label/index` (-1 when absent); video_id = `example/id`, else
  `clip/data_path`; flow from `FORWARD_FLOW/image/encoded`, padded to T (has_flow False if none).
  """
  parsed = mediasequence.parse(serialized)
  return _complete(parsed["rgb"], parsed["flow"], parsed["label"], parsed["video_id"],
                   start_s=parsed["start_s"], end_s=parsed["end_s"], fps=parsed["fps"],
                   flow_offset=tf.constant(flow_lib.FLOW_OFFSET, tf.float32),
                   flow_scale=tf.constant(flow_lib.FLOW_SCALE, tf.float32))


# ------------------------------------------------------------------------------ decoding


def _decode_images(encoded, channels):
  """string [N] JPEG/PNG -> uint8 [N, H, W, channels] (frames of one video share H and W)."""
  encoded = tf.convert_to_tensor(encoded, tf.string)
  return tf.map_fn(
      lambda s: tf.io.decode_image(s, channels=channels, expand_animations=False),
      encoded, fn_output_signature=tf.TensorSpec([None, None, channels], tf.uint8))


def decode_rgb(encoded):
  """string [N] encoded RGB frames (JPEG or PNG) -> uint8 [N, H, W, 3]."""
  return _decode_images(encoded, 3)


def decode_flow(encoded, flow_offset=flow_lib.FLOW_OFFSET, flow_scale=flow_lib.FLOW_SCALE):
  """string [N] flow images (R = x, G = y) -> float32 [N, H, W, 2] in [-1, 1] (pixels / 20).

  pixels = (level - flow_offset) * flow_scale, clipped to [-20, 20] (flow.dequantize).
  """
  levels = tf.cast(_decode_images(encoded, 3)[..., :2], tf.float32)  # [N, H, W, 2]
  pixels = (levels - tf.cast(flow_offset, tf.float32)) * tf.cast(flow_scale, tf.float32)
  return tf.clip_by_value(pixels, -flow_lib.FLOW_BOUND, flow_lib.FLOW_BOUND) / flow_lib.FLOW_BOUND
