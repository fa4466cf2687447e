"""Small in-memory videos in the records format, for tests and the input-pipeline benchmark.

`moving_square_examples` makes parsed examples as `i3d_tf.data.records` yields them ({'rgb': JPEG
strings [T], 'flow': PNG strings [T] in FORMAT.md's flow-image layout, 'label', 'video_id',
'num_frames'}): a bright square moving in one of `num_classes` directions, the class being the
direction. `write_shards` stores them as TFRecords; `write_tfds_layout` as a finished TFDS build
(dataset_info.json, label.labels.txt, shards) that `records.list_shards` / `dataset_info` and the
binaries read like a real one.
"""
import argparse
import json
import sys

import numpy as np
import tensorflow as tf

from i3d_tf import config as config_lib
from i3d_tf.data import pipeline
from i3d_tf.training import experiment
from i3d_tf.training import loop
from i3d_tf.video import flow as flow_lib



# The pipeline's default decoders: the records contract's (JPEG RGB, decoded window only; PNG flow,
# R = x, G = y, quantized as FORMAT.md says).
DECODERS = pipeline._default_decoders()  # pylint: disable=protected-access


def moving_square_video(num_frames, size, direction, speed=2.0, rng=None):
  """(rgb uint8 [T, S, S, 3], flow float32 [T, S, S, 2] in pixels): a square moving at `direction`."""
  rng = rng or np.random.default_rng(0)
  dx, dy = speed * np.cos(direction), speed * np.sin(direction)
  side = max(size // 4, 2)
  x0, y0 = rng.uniform(0, size - side, 2)
  rgb = np.full((num_frames, size, size, 3), 40, np.uint8)
  rgb += rng.integers(0, 20, (1, size, size, 3), dtype=np.uint8)  # static texture
  flow = np.zeros((num_frames, size, size, 2), np.float32)
  for t in range(num_frames):
    x = int((x0 + dx * t) % (size - side))
    y = int((y0 + dy * t) % (size - side))
    rgb[t, y:y + side, x:x + side] = (220, 180, 60)
    flow[t, y:y + side, x:x + side] = (dx, dy)
  return rgb, flow


def encode_example(rgb, flow, label, video_id):
  """Numpy frames -> a parsed example as records.parse_*_example yields it."""
  return {
      "rgb": [tf.io.encode_jpeg(f, quality=90).numpy() for f in rgb],
      "flow": [tf.io.encode_png(f).numpy() for f in flow_lib.to_image(flow)],
      "label": np.int64(label),
      "video_id": video_id,
      "num_frames": np.int32(len(rgb)),
  }


def moving_square_examples(num_videos, num_frames=12, size=32, num_classes=4, seed=0):
  """A list of encoded examples, classes balanced (video i has class i % num_classes)."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(num_videos):
    label = i % num_classes
    frames = num_frames if np.isscalar(num_frames) else int(rng.integers(*num_frames))
    rgb, flow = moving_square_video(frames, size, 2 * np.pi * label / num_classes, rng=rng)
    out.append(encode_example(rgb, flow, label, f"video_{i:05d}"))
  return out


def examples_dataset(examples):
  """A tf.data.Dataset of parsed examples (ragged frame counts allowed) from encode_example dicts."""
  def gen():
    yield from examples
  signature = {"rgb": tf.TensorSpec([None], tf.string), "flow": tf.TensorSpec([None], tf.string),
               "label": tf.TensorSpec([], tf.int64), "video_id": tf.TensorSpec([], tf.string),
               "num_frames": tf.TensorSpec([], tf.int32)}
  return tf.data.Dataset.from_generator(gen, output_signature=signature)


def write_shards(examples, directory, num_shards=2, prefix="toy"):
  """Writes encode_example dicts as tf.train.Example TFRecord shards; returns their paths."""
  tf.io.gfile.makedirs(directory)
  paths = [f"{directory}/{prefix}.tfrecord-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]
  writers = [tf.io.TFRecordWriter(p) for p in paths]
  for i, ex in enumerate(examples):
    feature = {
        "rgb": tf.train.Feature(bytes_list=tf.train.BytesList(value=ex["rgb"])),
        "flow": tf.train.Feature(bytes_list=tf.train.BytesList(value=ex["flow"])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(ex["label"])])),
        "video_id": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[ex["video_id"].encode()])),
    }
    writers[i % num_shards].write(
        tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
  for w in writers:
    w.close()
  return paths


def write_tfds_layout(data_dir, dataset_name="synthetic_motion/small", version="1.0.0",
                      splits=None, class_names=None):
  """Writes {split: examples} as a finished TFDS build of `dataset_name` under data_dir."""
  name = dataset_name.split("/")[0]
  directory = f"{data_dir}/{dataset_name}/{version}"
  tf.io.gfile.makedirs(directory)
  info = {"name": name, "version": version, "fileFormat": "tfrecord", "splits": []}
  for split, examples in splits.items():
    paths = write_shards(examples, directory, num_shards=2, prefix=f"{name}-{split}")
    # write_shards names them <prefix>.tfrecord-0000i-of-00002, TFDS's default template.
    lengths = [len(examples[i::2]) for i in range(2)]
    info["splits"].append({"name": split, "shardLengths": [str(n) for n in lengths],
                           "numBytes": "0"})
    del paths
  with tf.io.gfile.GFile(f"{directory}/dataset_info.json", "w") as f:
    json.dump(info, f)
  with tf.io.gfile.GFile(f"{directory}/label.labels.txt", "w") as f:
    f.write("\n".join(class_names) + "\n")
  return directory


def parse_toy_example(serialized):
  """Parses write_shards' records into the records contract's dict."""
  parsed = tf.io.parse_single_example(serialized, {
      "rgb": tf.io.VarLenFeature(tf.string), "flow": tf.io.VarLenFeature(tf.string),
      "label": tf.io.FixedLenFeature([], tf.int64),
      "video_id": tf.io.FixedLenFeature([], tf.string)})
  rgb = tf.sparse.to_dense(parsed["rgb"])
  return {"rgb": rgb, "flow": tf.sparse.to_dense(parsed["flow"]), "label": parsed["label"],
          "video_id": parsed["video_id"], "num_frames": tf.shape(rgb)[0]}


def toy_data_source(shard_dir, num_videos=16, num_frames=(6, 14), size=36, num_classes=4,
                    seed=0, with_eval=True):
  """Writes (once) toy shards into shard_dir and returns an experiment.DataSource over them;
  `with_eval=False` leaves out the evaluation set (the final evaluation costs seconds per video)."""
  files = sorted(tf.io.gfile.glob(f"{shard_dir}/toy.tfrecord-*"))
  if not files:
    examples = moving_square_examples(num_videos, num_frames, size, num_classes, seed)
    files = write_shards(examples, shard_dir, num_shards=2)
  # Read with the records contract's parser and decoders, as real shards are.
  return experiment.DataSource(files, files if with_eval else [], num_classes,
                               [f"class_{i}" for i in range(num_classes)])


def toy_config(model_dir, **overrides):
  """A tiny I3D-flow run on toy shards: 8 frames, 32 px, SAME final pool, a few steps.

  `overrides`: {flag name or section.field: value} (config.replace)."""
  values = dict(model="i3d_flow", model_dir=model_dir, batch_size=4, train_steps=4,
                train_frames=8, crop_size=32, final_pool_padding="SAME", checkpoint_every=2,
                eval_every=0, lr_schedule="cosine", learning_rate=0.05, batch_norm_decay=0.9,
                seed=0, progress_bar=False, eval_batch_size=1, eval_max_videos=4,
                export_saved_model=False)
  values.update(overrides)
  return config_lib.replace(config_lib.ExperimentConfig(), values)


def main(argv=None):
  """`python -m i3d_tf.training.testing --model_dir=D --shard_dir=S [--strategy=..] [k=v ...]`:
  a toy run in its own process (what the multi-worker and kill -9 tests start)."""
  parser = argparse.ArgumentParser()
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--shard_dir", required=True)
  parser.add_argument("--logical_cpus", type=int, default=0)
  parser.add_argument("--config", default="{}", help="JSON of {flag or section.field: value} "
                      "overrides")
  parser.add_argument("--dump_weights", default=None, help=".npz of the trainable weights")
  args = parser.parse_args(argv)
  if args.logical_cpus:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
  data = toy_data_source(args.shard_dir)
  config = toy_config(args.model_dir, **json.loads(args.config))
  status, final, trainer = experiment.run(config, data)
  print(f"STATUS {status} STEP {int(trainer.step.numpy())} REPLICAS "
        f"{trainer.strategy.num_replicas_in_sync}", flush=True)
  if args.dump_weights:
    np.savez(args.dump_weights, **{f"w{i}": v.numpy()
                                   for i, v in enumerate(trainer.model.trainable_variables)})
  return loop.PREEMPTED_EXIT_CODE if status == "preempted" else 0  # as the binaries exit


if __name__ == "__main__":
  sys.exit(main())
