"""Extracts any endpoint's features of a trained run, for a dataset split or a list of video files.

  python -m experiments.extract_features --run_dir=runs/i3d_rgb_kinetics400 --endpoint=Mixed_5c \
      --dataset=ucf101 --data_dir=data/tfds --split_name=test --output_dir=features/ucf101_test
  python -m experiments.extract_features --run_dir=runs/i3d_flow_kinetics400 --endpoint=Logits \
      --videos=a.mp4,b.avi --output_dir=features/mine

One <video_id>.npy per video: the endpoint's tensor for the whole video, centre crop ([T', h, w, C]
for a feature map, [classes] for Logits/Predictions), or its mean over time and space with
--pool=mean. Video files are decoded as the datasets store them (25 fps, shorter side 256, TV-L1
flow for flow streams). An index.tsv lists video_id, label, file and shape. Shows progress.
"""
import logging as pylogging
import os

from absl import app
from absl import flags
import numpy as np
import tqdm

from experiments import training_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Training run (model_dir) whose latest checkpoint to use.")
flags.DEFINE_string("endpoint", "Mixed_5c", "Endpoint to extract (I3D: Conv3d_1a_7x7 ... "
                    "Mixed_5c, Logits, Predictions).")
flags.DEFINE_enum("pool", "none", ["none", "mean"], "mean: average the endpoint over T, H, W.")
training_flags.define_dataset_flags()  # the dataset of --split_name
flags.DEFINE_string("data_dir", None, "TFDS data_dir of the built shards.")
flags.DEFINE_string("split_name", "test", "Split to extract (train, test, validation).")
flags.DEFINE_enum("split", "1", ["1", "2", "3"], "UCF-101/HMDB-51 split number.")
flags.DEFINE_list("videos", None, "Video files to extract instead of a dataset split.")
flags.DEFINE_string("flow_method", "tvl1", "Flow for --videos: tvl1 | tvl1_fast.")
flags.DEFINE_integer("max_test_frames", None, "Longest video in frames (default the run's).")
flags.DEFINE_integer("max_videos", None, "Stop after this many videos.")
flags.DEFINE_string("output_dir", None, "Where the .npy files go.")
flags.mark_flags_as_required(["run_dir", "output_dir"])


def endpoint_fn(model, endpoint):
  """A traced function inputs -> the endpoint's tensor (any length)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if not hasattr(model, "call_with_endpoints"):
    raise ValueError(f"{model.name} does not expose endpoints; only Logits can be extracted")

  from i3d_tf.data import pipeline  # pylint: disable=import-outside-toplevel

  @tf.function(reduce_retracing=True)
  def fn(inputs):
    # The pipeline's uint8 RGB -> [-1, 1]; video_file_inputs' float inputs pass unchanged.
    _, endpoints = model.call_with_endpoints(pipeline.to_model_range(inputs), training=False)
    if endpoint not in endpoints:
      raise ValueError(f"--endpoint={endpoint} is not one of {', '.join(endpoints)}")
    return tf.cast(endpoints[endpoint], tf.float32)
  return fn


def video_file_inputs(path, spec, flow_method):
  """A video file -> (the model's inputs for the whole video, centre crop, batch 1)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from i3d_tf.video import decode  # pylint: disable=import-outside-toplevel
  from i3d_tf.video import flow as flow_lib  # pylint: disable=import-outside-toplevel
  frames = decode.read_video(path)[:spec.max_test_frames]  # uint8 [T, H, W, 3], 25 fps
  size = spec.crop_size
  h, w = frames.shape[1:3]
  y, x = (h - size) // 2, (w - size) // 2
  if min(h, w) < size:
    raise ValueError(f"{path}: frames of {h}x{w} are smaller than the {size}px crop")
  streams = {}
  for stream in spec.streams:
    if stream.name == "rgb":
      value = frames.astype(np.float32) / 127.5 - 1.0
    else:
      value = np.clip(flow_lib.compute_flow(frames, flow_method), -20, 20) / 20.0
    value = value[:, y:y + size, x:x + size]
    reps = -(-spec.min_frames // len(value))
    value = np.concatenate([value] * reps)[:max(len(value), spec.min_frames)]
    streams[stream.name] = tf.constant(value[None], tf.float32)
  return streams[spec.streams[0].name] if len(streams) == 1 else streams


def main(argv):
  del argv
  pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  from i3d_tf.data import pipeline  # pylint: disable=import-outside-toplevel
  from i3d_tf.evaluation import runs  # pylint: disable=import-outside-toplevel
  model, run = runs.load_run(FLAGS.run_dir)
  spec = runs.clip_spec_of_run(run, FLAGS.max_test_frames)
  fn = endpoint_fn(model, FLAGS.endpoint)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  if FLAGS.videos:
    items = ((os.path.splitext(os.path.basename(p))[0], -1, p,
              lambda p=p: video_file_inputs(p, spec, FLAGS.flow_method)) for p in FLAGS.videos)
    total = len(FLAGS.videos)
  else:
    if not (FLAGS.dataset and FLAGS.data_dir):
      raise app.UsageError("give --videos, or --dataset and --data_dir (and --split_name)")
    from i3d_tf.data import records  # pylint: disable=import-outside-toplevel
    name = training_flags.tfds_name(FLAGS.dataset, int(FLAGS.split), "small"
                                    if FLAGS.dataset == "synthetic_motion" else None,
                                    dataset_config=FLAGS.dataset_config)
    files = records.list_shards(FLAGS.data_dir, name, FLAGS.split_name)
    total = records.num_examples(FLAGS.data_dir, name, FLAGS.split_name)
    examples = pipeline.read_examples(files, deterministic=True, cycle_length=1)
    decoders = pipeline._default_decoders()  # pylint: disable=protected-access

    def dataset_items():
      for example in examples:
        streams, label = pipeline.test_transform(example, spec, decoders)
        inputs = {k: v[None] for k, v in streams.items()}
        if len(inputs) == 1:
          inputs = next(iter(inputs.values()))
        video_id = example["video_id"].numpy().decode()
        yield video_id, int(label), f"{FLAGS.split_name}", lambda i=inputs: i
    items = dataset_items()
  if FLAGS.max_videos:
    total = min(total, FLAGS.max_videos)
  index = []
  for i, (video_id, label, source, make_inputs) in enumerate(tqdm.tqdm(items, total=total,
                                                                      unit="video")):
    if FLAGS.max_videos and i >= FLAGS.max_videos:
      break
    features = fn(make_inputs()).numpy()[0]
    if FLAGS.pool == "mean" and features.ndim == 4:
      features = features.mean(axis=(0, 1, 2))
    safe_id = video_id.replace("/", "_")
    np.save(os.path.join(FLAGS.output_dir, f"{safe_id}.npy"), features)
    index.append(f"{safe_id}\t{label}\t{source}\t{'x'.join(map(str, features.shape))}")
  with open(os.path.join(FLAGS.output_dir, "index.tsv"), "w") as f:
    f.write("video_id\tlabel\tsource\tshape\n" + "\n".join(index) + "\n")
  print(f"{len(index)} feature files ({FLAGS.endpoint}) in {FLAGS.output_dir}", flush=True)


if __name__ == "__main__":
  app.run(main)
