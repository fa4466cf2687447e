"""The tf.data input pipeline: shards -> sampled, decoded, cropped, flipped clips for any registered model.

Reads the TFRecord shards of the dataset builders (tf.train.Example, one per video) or MediaSequence
shards (tf.train.SequenceExample) through `i3d_tf.data.records`, which parses the serialized examples
into {'rgb': encoded JPEG frames [T], 'flow': encoded flow frames [T], 'label', 'video_id',
'num_frames'}. The pipeline picks the frames a clip needs, gathers their encoded strings and decodes
only those, inside the pipeline (parallel map), so no frame is decoded that is not used.

Training (the release / paper, section 3): `train_frames` frames at 25 fps from a random start among
the valid ones, videos shorter than that looped to length; one random crop_size x crop_size crop and
one random left-right flip applied alike to every frame of every stream, flow x negated when flipped
(mirroring the image reverses horizontal motion).
Evaluation: the centre crop of the whole video (up to `max_test_frames`, 250 = 10 s), looped up to the
model's minimum length when shorter; the model averages its logits over time. Videos are batched only
with videos of the same length, so no padding changes an average.

Element of a dataset: (inputs, label) where inputs is a tensor [B, T, H, W, C] for a one-stream spec
and a dict {stream name: tensor} otherwise (the registry's calling convention), label int32 [B].
RGB leaves the pipeline as uint8 [0, 255] and flow as float32 in [-1, 1]: `to_model_range(inputs)`
maps RGB to float32 [-1, 1] (x / 127.5 - 1, the release's range) and is called in one place per
consumer, inside its compiled step (training/loop.py's replica step, evaluation/predict.py,
experiments/extract_features.py), so tf.data moves and batches 4x fewer bytes and the scaling runs on
the device. The models and SavedModels still take float32 [-1, 1].
"""
import dataclasses
import functools
from typing import Callable, Optional, Sequence

import tensorflow as tf

from i3d_tf.data import records
from i3d_tf.models import registry
from i3d_tf.video import window_decode

AUTOTUNE = tf.data.AUTOTUNE
# Flow is stored as (x, y); x is channel 0 (horizontal, + right) per the video contract.
FLOW_X_CHANNEL = 0
RECORD_FORMATS = ("tfds", "mediasequence")


def _check_frame_overrides(input_spec, train_frames, test_frames, model_name, frame_stride=None):
  """One frame count (or stride) for every stream only makes sense where the streams have one."""
  def differ(values):
    return len(set(values)) > 1
  streams = input_spec.streams
  if train_frames and differ((s.train_frames, s.frame_stride) for s in streams):
    field = "--train_frames"
  elif test_frames is not None and differ(s.test_frames for s in streams):
    field = "--test_frames"
  elif frame_stride and differ((s.train_frames, s.frame_stride) for s in streams):
    field = "--frame_stride"
  else:
    return
  layout = ", ".join(f"{s.name} {s.train_frames} frames {s.frame_stride} apart "
                     f"(test {s.test_frames})" for s in streams)
  raise ValueError(f"{field} sets every stream's frame count, but the streams of "
                   f"{model_name or 'this model'} differ ({layout}, Table 1 of the paper); "
                   f"leave {field} unset for it")


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """What the pipeline cuts for a model: its streams, clip lengths and crop (from the registry).

  `train_frames`/`test_frames`/`frame_stride` override every stream's (the reduced configurations
  use this: the synthetic set's 16-frame clips are shorter than some of Table 1's footprints);
  `min_frames` is the shortest clip the model accepts (9 for I3D's VALID final pool): shorter videos
  are looped up to it at evaluation.
  """
  streams: tuple                      # of registry.StreamSpec
  crop_size: int = 224
  max_test_frames: int = 250
  min_frames: int = 1
  # Mirroring is label-preserving for Kinetics; not where the class is a direction (the synthetic
  # set's left/right translation and clockwise/counter-clockwise rotation swap under a mirror).
  random_flip: bool = True

  @classmethod
  def from_input_spec(cls, input_spec, train_frames=None, test_frames=None, crop_size=None,
                      max_test_frames=None, min_frames=1, random_flip=True, model_name=None,
                      frame_stride=None):
    _check_frame_overrides(input_spec, train_frames, test_frames, model_name, frame_stride)
    if frame_stride is not None and frame_stride < 1:
      raise ValueError(f"--frame_stride={frame_stride}: expected a positive number of frames")
    streams = tuple(
        dataclasses.replace(
            s, train_frames=train_frames or s.train_frames,
            test_frames=test_frames if test_frames is not None else s.test_frames,
            frame_stride=frame_stride or s.frame_stride)
        for s in input_spec.streams)
    return cls(streams=streams, crop_size=crop_size or input_spec.crop_size,
               max_test_frames=max_test_frames or input_spec.max_test_frames,
               min_frames=min_frames, random_flip=random_flip)

  @classmethod
  def for_model(cls, model_name, **overrides):
    return cls.from_input_spec(registry.get(model_name).input_spec, model_name=model_name,
                               **overrides)

  @property
  def stream_names(self):
    return tuple(s.name for s in self.streams)


# --------------------------------------------------------------------------------------------------
# Frame sampling: which frame indices a clip takes.


def clip_start(num_frames, footprint, seed):
  """int32 scalar: a random start at which `footprint` frames fit in the video (any, if none fits).

  `seed` is a stateless seed [2] (reproducible per example in deterministic mode).
  """
  num_frames = tf.cast(num_frames, tf.int32)
  tf.debugging.assert_positive(num_frames, message="a video with 0 frames reached the pipeline")
  fits = num_frames >= footprint
  max_start = tf.where(fits, tf.maximum(num_frames - footprint, 0), num_frames - 1)
  return tf.random.stateless_uniform([], seed, minval=0, maxval=max_start + 1, dtype=tf.int32)


def clip_indices(num_frames, start, clip_frames, stride):
  """int32 [clip_frames]: `stride` apart from `start`, looped (modulo the video's length)."""
  num_frames = tf.cast(num_frames, tf.int32)
  return tf.math.floormod(start + tf.range(clip_frames) * stride, num_frames)


def footprint_frames(clip_frames, stride):
  """Frames of the video that a clip of `clip_frames` taken `stride` apart spans."""
  return (clip_frames - 1) * stride + 1


def train_frame_indices(num_frames, clip_frames, stride, seed):
  """int32 [clip_frames]: a random valid start, `stride` apart, looped when the video is too short.

  A start is valid when the whole clip fits in the video; a video shorter than the clip's footprint
  starts anywhere and is looped (index modulo the video's length), as the release loops short videos.
  `seed` is a stateless seed [2] (reproducible per example in deterministic mode).
  """
  start = clip_start(num_frames, footprint_frames(clip_frames, stride), seed)
  return clip_indices(num_frames, start, clip_frames, stride)


def test_frame_indices(num_frames, max_frames, min_frames, stride=1, test_frames=None):
  """int32 [T]: the whole video (every `stride`-th frame, up to max_frames), looped to min_frames.

  With `test_frames` set, exactly that many frames from the start (looped when shorter): a fixed-length
  evaluation clip instead of the whole video.
  """
  num_frames = tf.cast(num_frames, tf.int32)
  if test_frames is not None:
    length = tf.constant(test_frames, tf.int32)
  else:
    available = (num_frames + stride - 1) // stride
    length = tf.maximum(tf.minimum(available, max_frames), min_frames)
  return tf.math.floormod(tf.range(length) * stride, num_frames)


# --------------------------------------------------------------------------------------------------
# Spatial transforms, applied alike to every stream of a clip.


def random_crop_offsets(height, width, crop_size, seed):
  """(y, x) int32 offsets of one random crop_size window; an error names the frame size if too small."""
  tf.debugging.assert_greater_equal(
      tf.minimum(height, width), crop_size,
      message=f"frames are smaller than the {crop_size}px crop; build the dataset at a larger "
              f"size or pass a smaller crop_size")
  seeds = tf.random.experimental.stateless_split(seed, 2)
  y = tf.random.stateless_uniform([], seeds[0], 0, height - crop_size + 1, dtype=tf.int32)
  x = tf.random.stateless_uniform([], seeds[1], 0, width - crop_size + 1, dtype=tf.int32)
  return y, x


def centre_crop_offsets(height, width, crop_size):
  tf.debugging.assert_greater_equal(
      tf.minimum(height, width), crop_size,
      message=f"frames are smaller than the {crop_size}px centre crop")
  return (height - crop_size) // 2, (width - crop_size) // 2


def crop(frames, y, x, crop_size):
  """[T, H, W, C] -> [T, crop, crop, C]."""
  return frames[:, y:y + crop_size, x:x + crop_size, :]


def flip_left_right(frames, stream_name, flip=True):
  """Mirror every frame [T, H, W, C] where `flip` (a bool, or a bool scalar tensor); for flow also
  negate x, since mirroring reverses horizontal motion.

  No tf.cond around the clip (an If over a whole clip cost as much as the flip; BENCHMARKS.md,
  'Input pipeline and training'): the reversed axes are [1] or [] at run time, and flow is
  multiplied by -1 or 1 on x.
  """
  shape = tf.shape(frames)  # [T, H, W, C]
  # Reversed as [T * H, W, C] rows: TF's reverse has a fast path for the middle axis of a 3-D
  # tensor (BENCHMARKS.md, 'Input pipeline and training'); same values.
  rows = tf.reshape(frames, tf.stack([-1, shape[2], shape[3]]))
  axes = tf.boolean_mask(tf.constant([1]), tf.reshape(tf.convert_to_tensor(flip, tf.bool), [1]))
  frames = tf.reshape(tf.reverse(rows, axis=axes), shape)
  if stream_name == "flow":
    x_sign = tf.where(flip, -1.0, 1.0)
    sign = tf.stack([x_sign, 1.0] if FLOW_X_CHANNEL == 0 else [1.0, x_sign])
    frames = frames * tf.cast(sign, frames.dtype)
  return frames


def rgb_to_unit_range(frames_uint8):
  """uint8 [0, 255] -> float32 [-1, 1], as the release feeds RGB."""
  return tf.cast(frames_uint8, tf.float32) / 127.5 - 1.0


def to_model_range(inputs):
  """The pipeline's inputs (a tensor or {stream: tensor}) -> the model's: uint8 RGB to float32
  [-1, 1]; float streams (flow, already in [-1, 1]) unchanged. Call it inside the compiled step."""
  def one(x):
    x = tf.convert_to_tensor(x)
    return rgb_to_unit_range(x) if x.dtype == tf.uint8 else x
  return tf.nest.map_structure(one, inputs)


# --------------------------------------------------------------------------------------------------
# Per-example transforms on parsed examples.


# The window decoder lives with the video code (stored.py reads frames through it too).
decode_rgb_window = window_decode.decode_rgb_window


def _default_decoders():
  """{stream: encoded [N] -> frames [N, H, W, C]}, '<stream>_window' for (encoded, y, x, size) ->
  the window only. RGB uint8 [0, 255]; float decoders give [-1, 1] (to_model_range keeps them)."""
  return {"rgb": records.decode_rgb,
          "rgb_window": decode_rgb_window,
          "flow": records.decode_flow}


def frame_size(encoded_frame):
  """(height, width) int32 of one encoded frame: from the JPEG header, else by decoding it."""
  return tf.cond(
      tf.io.is_jpeg(encoded_frame),
      lambda: tf.cast(tf.image.extract_jpeg_shape(encoded_frame)[:2], tf.int32),
      lambda: tf.shape(tf.io.decode_image(encoded_frame, channels=3,
                                          expand_animations=False))[:2])


def _decode_window(example, stream_name, indices, decoders, y, x, size):
  """The sampled frames' (y, x, size) window [T, size, size, C], in the decoder's dtype (uint8 RGB,
  float32 flow): only the sampled frames are decoded, and of JPEG frames only the window."""
  encoded = tf.gather(example[stream_name], indices)
  window_decoder = decoders.get(f"{stream_name}_window")
  if window_decoder is not None:
    return window_decoder(encoded, y, x, size)
  return crop(decoders[stream_name](encoded), y, x, size)


def _num_frames(example, spec):
  if "num_frames" in example:
    return tf.cast(example["num_frames"], tf.int32)
  return tf.shape(example[spec.streams[0].name])[0]


def train_transform(example, seed, spec, decoders):
  """One parsed example -> ({stream: [train_frames, crop, crop, C]}, label int32); RGB uint8."""
  seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
  num_frames = _num_frames(example, spec)
  # One start for every stream, drawn so that the longest stream fits: RGB and flow of a clip
  # stay aligned in time (3D-Fused's flow stack i begins at its RGB frame i; Two-Stream's RGB
  # frame is the first of its flow stack).
  footprint = max(footprint_frames(s.train_frames, s.frame_stride) for s in spec.streams)
  start = clip_start(num_frames, footprint, seeds[0])
  flip = tf.logical_and(tf.constant(spec.random_flip),
                        tf.random.stateless_uniform([], seeds[2]) < 0.5)
  # One crop position for every stream, from the first stream's frame size.
  height, width = tf.unstack(frame_size(example[spec.streams[0].name][0]))
  y, x = random_crop_offsets(height, width, spec.crop_size, seeds[1])
  out = {}
  for stream in spec.streams:
    idx = clip_indices(num_frames, start, stream.train_frames, stream.frame_stride)
    frames = _decode_window(example, stream.name, idx, decoders, y, x, spec.crop_size)
    frames = flip_left_right(frames, stream.name, flip)
    frames = tf.ensure_shape(frames, [stream.train_frames, spec.crop_size, spec.crop_size,
                                      stream.channels])
    out[stream.name] = frames
  return out, tf.cast(example["label"], tf.int32)


def test_transform(example, spec, decoders):
  """One parsed example -> ({stream: [T, crop, crop, C]} centre crop, label int32); RGB uint8."""
  num_frames = _num_frames(example, spec)
  height, width = tf.unstack(frame_size(example[spec.streams[0].name][0]))
  y, x = centre_crop_offsets(height, width, spec.crop_size)
  out = {}
  for stream in spec.streams:
    idx = test_frame_indices(num_frames, spec.max_test_frames, spec.min_frames,
                             stream.frame_stride, stream.test_frames)
    frames = _decode_window(example, stream.name, idx, decoders, y, x, spec.crop_size)
    out[stream.name] = tf.ensure_shape(frames, [None, spec.crop_size, spec.crop_size,
                                                stream.channels])
  return out, tf.cast(example["label"], tf.int32)


def _to_model_inputs(streams, label, stream_names):
  """The registry's convention: a bare tensor for one stream, the dict otherwise."""
  if len(stream_names) == 1:
    return streams[stream_names[0]], label
  return streams, label


# --------------------------------------------------------------------------------------------------
# Datasets.


def _parser(record_format):
  if record_format == "tfds":
    return records.parse_tfds_example
  if record_format == "mediasequence":
    return records.parse_mediasequence_example
  raise ValueError(f"record_format={record_format!r}: expected one of {RECORD_FORMATS}")


def _shard_files(files, input_context):
  """Each input pipeline (worker) reads its own files; examples are sharded when files are too few."""
  files = list(files)
  if not input_context or input_context.num_input_pipelines == 1:
    return tf.data.Dataset.from_tensor_slices(files), None
  n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
  if len(files) >= n:
    return tf.data.Dataset.from_tensor_slices(files).shard(n, i), None
  return tf.data.Dataset.from_tensor_slices(files), (n, i)


def read_examples(files, record_format="tfds", input_context=None, shuffle_files=False,
                  seed=None, deterministic=False, cycle_length=None, parse_fn=None):
  """Parallel interleaved reads of the shards -> parsed examples (encoded frames, not decoded)."""
  if not files:
    raise ValueError("no shard files to read (check --data_dir, --dataset and the split)")
  file_ds, example_shard = _shard_files(files, input_context)
  if shuffle_files:
    file_ds = file_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=not deterministic)
  ds = file_ds.interleave(
      lambda f: tf.data.TFRecordDataset(f, buffer_size=8 << 20),
      cycle_length=cycle_length or min(len(files), 8), block_length=1,
      num_parallel_calls=AUTOTUNE, deterministic=deterministic)
  if example_shard:
    ds = ds.shard(*example_shard)
  parse_fn = parse_fn or _parser(record_format)
  return ds.map(parse_fn, num_parallel_calls=AUTOTUNE, deterministic=deterministic)


def _options(deterministic):
  options = tf.data.Options()
  options.deterministic = deterministic
  options.experimental_optimization.map_parallelization = True
  return options


def train_dataset_from_examples(examples, spec, batch_size, decoders=None, seed=None,
                                deterministic=False, shuffle_buffer=256, repeat=True,
                                drop_remainder=True):
  """Parsed examples -> shuffled, repeated batches of training clips (per-replica `batch_size`).

  Every example gets its own stateless seed from `tf.data.Dataset.random(seed)`: with a seed and
  deterministic=True two runs produce the same clips in the same order.
  """
  decoders = decoders or _default_decoders()
  ds = examples
  if shuffle_buffer:
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=False).batch(2)
  ds = tf.data.Dataset.zip((ds, seeds))
  ds = ds.map(lambda ex, s: train_transform(ex, s, spec, decoders),
              num_parallel_calls=AUTOTUNE, deterministic=deterministic)
  ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  ds = ds.map(functools.partial(_to_model_inputs, stream_names=spec.stream_names))
  return ds.with_options(_options(deterministic)).prefetch(AUTOTUNE)


def test_dataset_from_examples(examples, spec, batch_size=1, decoders=None, deterministic=True):
  """Parsed examples -> centre-cropped whole videos, batched only with videos of the same length."""
  decoders = decoders or _default_decoders()
  ds = examples.map(lambda ex: test_transform(ex, spec, decoders),
                    num_parallel_calls=AUTOTUNE, deterministic=deterministic)
  if batch_size > 1:
    first = spec.stream_names[0]
    ds = ds.group_by_window(
        key_func=lambda streams, label: tf.cast(tf.shape(streams[first])[0], tf.int64),
        reduce_func=lambda key, window: window.batch(batch_size),
        window_size=batch_size)
  else:
    ds = ds.batch(1)
  ds = ds.map(functools.partial(_to_model_inputs, stream_names=spec.stream_names))
  return ds.with_options(_options(deterministic)).prefetch(AUTOTUNE)


def train_dataset(files, spec, batch_size, record_format="tfds", input_context=None, seed=None,
                  deterministic=False, shuffle_buffer=256, decoders=None, parse_fn=None):
  """Shards -> training batches. `batch_size` is per input pipeline (per worker / replica)."""
  examples = read_examples(files, record_format, input_context, shuffle_files=True, seed=seed,
                           deterministic=deterministic, parse_fn=parse_fn)
  if input_context is not None and seed is not None:
    seed = seed + 7919 * input_context.input_pipeline_id  # workers draw different clips
  return train_dataset_from_examples(examples, spec, batch_size, decoders, seed, deterministic,
                                     shuffle_buffer)


def test_dataset(files, spec, batch_size=1, record_format="tfds", input_context=None,
                 decoders=None, parse_fn=None):
  """Shards -> evaluation batches (whole videos, centre crop), in file order."""
  examples = read_examples(files, record_format, input_context, shuffle_files=False,
                           deterministic=True, cycle_length=1, parse_fn=parse_fn)
  return test_dataset_from_examples(examples, spec, batch_size, decoders)
