"""Features of any endpoint: sliding windows over whole video files, or a dataset split's videos.

  # Video files of any length: a [windows, dims] .npy per video, 64-frame windows every 64 frames
  python -m experiments.extract_features --model_dir=checkpoints/rgb_imagenet \
      --videos=videos/ --window=64 --stride=64 --endpoint=Mixed_5c --output_dir=features/mine
  # Two streams (one two-stream folder, or --flow_model_dir), 16-frame steps, one file per stream
  python -m experiments.extract_features --model_dir=checkpoints/rgb_imagenet \
      --flow_model_dir=checkpoints/flow_imagenet --videos='videos/**/*.mp4' --window=16 \
      --stride=16 --combine=separate --output_dir=features/tal
  # Ten-crop features (five crops and their mirrors): [windows, 10, 1024] per video
  python -m experiments.extract_features --model_dir=checkpoints/rgb_imagenet --videos=videos/ \
      --window=16 --stride=16 --crops=10 --output_dir=features/ten_crop
  # The same per-video function on an Apache Beam runner
  python -m experiments.extract_features --model_dir=... --videos=... --output_dir=... --beam \
      --beam_options="--runner=DirectRunner --direct_num_workers=2"
  # A built dataset split: one whole-video feature per video (as before)
  python -m experiments.extract_features --run_dir=runs/i3d_rgb_kinetics400 --endpoint=Mixed_5c \
      --dataset=ucf101 --data_dir=data/tfds --split_name=test --output_dir=features/ucf101_test

--model_dir / --run_dir is a model folder (import_deepmind_checkpoint's output or a training run).
Video files or frame folders (img_00001.jpg ..., --input_fps apart; a folder given is searched for
both): decoded as a stream (i3d_tf/video/model_input.py: 25 fps, shorter side 256, centre
crop, flow only for the streams asked: a frame folder's own denseflow flow frames,
flow_x_00001.jpg ..., where it holds them, per --flow_source), at most --window + 1 frames held,
so hour-long videos take the memory of one window. A video of N frames gives ceil((N - window) / stride) + 1 windows (one if
N <= window); the last ones are completed by --pad (loop: the window's frames repeated; last: its
last frame). Output: <key>.npy [windows, dims] (--combine=concat: the streams' features side by
side; separate: <key>.rgb.npy and <key>.flow.npy) beside <key>_times.json (the fps and each
window's start_frame, end_frame (exclusive), start_s, end_s), or with --output_format=npz one
<key>.npz holding both, where key is the video's path relative to the deepest folder holding all
videos (so a/x.mp4 and b/x.mp4 never collide); windows.tsv gives every video's windows' frames and
seconds; index.tsv the videos done, skipped.tsv those that cannot be decoded,
each written atomically. A rerun (also after kill -9) skips the videos in progress.jsonl.
--align=centre: window k is centred on frame k*stride instead (its frame window // 2), ceil(N /
stride) windows, one per frame at --stride=1; the first/last frame is repeated where a window
reaches past an end, and the times add each window's centre_frame and centre_s.
--pool: mean (over time and space: [windows, C]), time (over space: [windows, T', C]), none.
--crops=3|5|10 (along the longer side; four corners + centre; those and their mirrors, flow x
negated) adds a crops axis after windows: [windows, crops, C], each crop pooled alike.
A dataset split: one <video_id>.npy per video (--combine=separate: <video_id>.rgb.npy and
<video_id>.flow.npy), the endpoint on the centre crop of the whole video as evaluate reads it
(up to --max_test_frames), pooled by --pool (default none). --as_stored makes a video file's
feature equal its shard's: RGB through the build's JPEG and the pipeline's decoder, flow through
its 8-bit levels (i3d_tf/video/stored.py); give --window=<the clip's frames> and the build's
--flow_method for the whole-clip feature a split gives.
"""
import dataclasses
import logging as pylogging
import os
import shlex

from absl import app
from absl import flags
import numpy as np
import tqdm

from experiments import training_flags
from experiments import video_flags
from i3d_tf import entry
from i3d_tf.checkpoints import runs
from i3d_tf.data import pipeline
from i3d_tf.data import records
from i3d_tf.evaluation import features
from i3d_tf.video import listing
from i3d_tf.video import model_input

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model folder: import_deepmind_checkpoint's --output_dir "
                    "or a training run's --model_dir.")
flags.DEFINE_string("run_dir", None, "Same as --model_dir (the older name).")
flags.DEFINE_string("flow_model_dir", None, "A Flow model folder beside an RGB --model_dir.")
flags.DEFINE_string("endpoint", "Mixed_5c", "Endpoint to extract (I3D: Conv3d_1a_7x7 ... "
                    "Mixed_5c, Logits, Predictions).")
flags.DEFINE_enum("pool", None, ["mean", "time", "none"], "mean: average the endpoint over T, H, "
                  "W; time: over H, W; none: keep it (default: mean for --videos, none for a "
                  "dataset split).")
training_flags.define_dataset_flags()  # the dataset of --split_name
flags.DEFINE_string("data_dir", None, "TFDS data_dir of the built shards.")
flags.DEFINE_string("split_name", "test", "Split to extract (train, test, validation).")
flags.DEFINE_enum("split", "1", ["1", "2", "3"], "UCF-101/HMDB-51 split number.")
flags.DEFINE_list("videos", None, "Video files, folders of videos, or globs (instead of a "
                  "dataset split).")
flags.DEFINE_integer("window", 64, "Frames per window (25 fps).", lower_bound=1)
flags.DEFINE_integer("stride", None, "Frames between window starts (default --window).",
                     lower_bound=1)
flags.DEFINE_enum("pad", "loop", ["loop", "last"], "How the windows at a video's end are "
                  "completed (--align=start).")
flags.DEFINE_enum("align", "start", list(model_input.ALIGNS), "start: window k starts at frame "
                  "k*stride (ceil((N - window) / stride) + 1 windows); centre: it is centred on "
                  "that frame (its frame window // 2), ceil(N / stride) windows, one per frame at "
                  "--stride=1, the first/last frame repeated where it reaches past an end.")
flags.DEFINE_list("streams", None, "Streams to extract (rgb, flow; default every stream of the "
                  "model folders).")
flags.DEFINE_enum("combine", "concat", ["concat", "separate"], "Two streams: one file, features "
                  "side by side, or one file per stream.")
video_flags.define_flags()
flags.adopt_module_key_flags(video_flags)
flags.DEFINE_enum("crops", "1", [str(n) for n in model_input.CROP_COUNTS], "Crop views per "
                  "window: 1 the centre; 3 along the longer side; 5 the four corners and the "
                  "centre; 10 those five and their mirrors (flow x negated). Above 1 the output "
                  "is [windows, crops, dims...].")
flags.DEFINE_enum("output_format", "npy", list(features.OUTPUT_FORMATS), "npy: <key>.npy (as "
                  "before) and <key>_times.json (fps, start_frame, end_frame, start_s, end_s per "
                  "window); npz: one <key>.npz of the features (or rgb, flow with "
                  "--combine=separate), those times and fps.")
flags.DEFINE_bool("beam", False, "Run the per-video function on an Apache Beam runner.")
flags.DEFINE_string("beam_options", "--runner=DirectRunner", "Beam pipeline options.")
flags.DEFINE_integer("max_test_frames", None, "Dataset split: longest video in frames (default "
                     "the run's).")
flags.DEFINE_integer("max_videos", None, "Stop after this many videos.")
flags.DEFINE_string("output_dir", None, "Where the .npy files go.")
flags.mark_flags_as_required(["output_dir"])


def _write_index_atomically(output_dir, rows):
  path = os.path.join(output_dir, "index.tsv")
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write("video_id\tlabel\tsource\tshape\n" + "".join(r + "\n" for r in rows))
  os.replace(tmp, path)


def split_clip_spec(extractor):
  """The evaluation ClipSpec of the extractor's model folder(s), limited to its streams: what
  evaluate reads of a shard (the whole video's centre crop, up to --max_test_frames)."""
  clip_specs = [runs.clip_spec_of_run(run, FLAGS.max_test_frames) for run in extractor.runs]
  streams = tuple(s for spec in clip_specs for s in spec.streams if s.name in extractor.streams)
  return dataclasses.replace(clip_specs[0], streams=streams,
                             min_frames=max(spec.min_frames for spec in clip_specs))


def extract_split(model_dir, output_dir):
  """A built split: one whole-video (centre crop) feature per video, as evaluation sees it; two
  streams side by side (--combine=concat) or one file per stream (separate), as for --videos."""
  config = feature_config(model_dir)
  extractor = features.Extractor(config)
  spec = split_clip_spec(extractor)
  name = training_flags.tfds_name(FLAGS.dataset, int(FLAGS.split), "small"
                                  if FLAGS.dataset == "synthetic_motion" else None,
                                  dataset_config=FLAGS.dataset_config)
  files = records.list_shards(FLAGS.data_dir, name, FLAGS.split_name)
  total = records.num_examples(FLAGS.data_dir, name, FLAGS.split_name)
  if FLAGS.max_videos:
    total = min(total, FLAGS.max_videos)
  examples = pipeline.read_examples(files, deterministic=True, cycle_length=1)
  decoders = pipeline._default_decoders()  # pylint: disable=protected-access
  index = []
  for i, example in enumerate(tqdm.tqdm(examples, total=total, unit="video")):
    if FLAGS.max_videos and i >= FLAGS.max_videos:
      break
    streams, label = pipeline.test_transform(example, spec, decoders)
    inputs = {k: v.numpy() for k, v in pipeline.to_model_range(streams).items()}  # [T, S, S, C]
    video_id = example["video_id"].numpy().decode()
    arrays = extractor.window_features(inputs)  # {stream: pooled endpoint}
    if config.combine == "concat":
      arrays = {"all": np.concatenate([arrays[s] for s in extractor.streams], axis=-1)}
    safe_id = video_id.replace("/", "_")
    for part, values in arrays.items():
      path = os.path.join(output_dir, f"{safe_id}.npy" if part == "all" else
                          f"{safe_id}.{part}.npy")
      np.save(path + ".tmp.npy", values)
      os.replace(path + ".tmp.npy", path)
    index.append(f"{safe_id}\t{int(label)}\t{FLAGS.split_name}\t"
                 f"{'x'.join(map(str, next(iter(arrays.values())).shape))}")
  _write_index_atomically(output_dir, index)
  print(f"{len(index)} feature files ({FLAGS.endpoint}) in {output_dir}", flush=True)


def feature_config(model_dir):
  return features.FeatureConfig(
      model_dir=model_dir, flow_model_dir=FLAGS.flow_model_dir, endpoint=FLAGS.endpoint,
      streams=tuple(FLAGS.streams) if FLAGS.streams else None, combine=FLAGS.combine,
      pool=FLAGS.pool or ("mean" if FLAGS.videos else "none"), window=FLAGS.window,
      stride=FLAGS.stride or FLAGS.window,
      pad=FLAGS.pad, flow_method=FLAGS.flow_method, crops=int(FLAGS.crops),
      output_format=FLAGS.output_format, input_fps=FLAGS.input_fps,
      flow_source=FLAGS.flow_source, as_stored=FLAGS.as_stored,
      shorter_side=FLAGS.shorter_side, align=FLAGS.align)


def _run_beam(config, todo, output_dir, beam_options):
  """The per-video function on a Beam runner; each worker loads the model folder(s) once."""
  import apache_beam as beam  # pylint: disable=import-outside-toplevel
  from apache_beam.options import pipeline_options  # pylint: disable=import-outside-toplevel

  class ExtractDoFn(beam.DoFn):
    def setup(self):
      self.extractor = features.Extractor(config)
      self.progress = features.Progress(output_dir)

    def process(self, item):
      path, key = item
      record = features.run_one(self.extractor, path, key, output_dir)
      self.progress.add(record)  # one appended line per video, as the local loop
      yield record["status"]

  options = pipeline_options.PipelineOptions(shlex.split(beam_options or ""))
  with beam.Pipeline(options=options) as p:
    _ = (p | beam.Create(todo) | beam.Reshuffle() | beam.ParDo(ExtractDoFn())
         | beam.combiners.Count.PerElement())


def extract_videos(model_dir, output_dir):
  """Sliding-window features of video files, resumable (see the module docstring)."""
  try:
    videos = listing.list_videos(FLAGS.videos)
  except FileNotFoundError as e:
    raise app.UsageError(str(e)) from None
  if FLAGS.max_videos:
    videos = videos[:FLAGS.max_videos]
  config = feature_config(model_dir)
  os.makedirs(output_dir, exist_ok=True)
  progress = features.Progress(output_dir)
  todo = [(p, k) for p, k in videos if not progress.done(k)]
  if len(todo) < len(videos):
    print(f"{len(videos) - len(todo)} of {len(videos)} videos already done in {output_dir} "
          f"(progress.jsonl): skipped", flush=True)
  if todo and FLAGS.beam:
    _run_beam(config, todo, output_dir, FLAGS.beam_options)
  elif todo:
    extractor = features.Extractor(config)
    for path, key in tqdm.tqdm(todo, unit="video", desc="extract_features"):
      record = features.run_one(extractor, path, key, output_dir)
      if record["status"] == "skipped":
        tqdm.tqdm.write(f"{path}: skipped ({record['reason']})")
      progress.add(record)
  progress = features.Progress(output_dir)
  done, skipped = features.write_index(output_dir, [k for _, k in videos], progress.records)
  print(f"{done} videos' features ({config.endpoint}, windows of {config.window} every "
        f"{config.stride} frames) in {output_dir}; {skipped} skipped (skipped.tsv)", flush=True)
  return done, skipped


def main(argv):
  del argv
  pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  model_dir = FLAGS.model_dir or FLAGS.run_dir
  if not model_dir:
    raise app.UsageError("--model_dir: a model folder (import_deepmind_checkpoint's output or a "
                         "training run)")
  try:
    runs.check_model_folder_flag("--model_dir" if FLAGS.model_dir else "--run_dir", model_dir)
    if FLAGS.flow_model_dir:
      runs.check_model_folder_flag("--flow_model_dir", FLAGS.flow_model_dir)
  except runs.ModelFolderFlagError as e:
    raise app.UsageError(str(e)) from None
  if FLAGS.videos:
    try:
      extract_videos(model_dir, FLAGS.output_dir)
    except model_input.CropError as e:  # every video is resized alike: stop, naming the flag
      raise app.UsageError(str(e)) from None
    return
  if not (FLAGS.dataset and FLAGS.data_dir):
    raise app.UsageError("give --videos, or --dataset and --data_dir (and --split_name)")
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  extract_split(model_dir, FLAGS.output_dir)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
