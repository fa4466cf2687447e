r"""Turns any video into the release's sample inputs: NAME_rgb.npy and NAME_flow.npy.

  python -m experiments.preprocess_video --video=PATH --output_dir=DIR [--start_s=S --end_s=E]
      [--frames=79] [--flow_method=tvl1_tf]

writes NAME_rgb.npy float32 [1, T, 224, 224, 3] and NAME_flow.npy float32 [1, T, 224, 224, 2],
both in [-1, 1], in the form of deepmind/kinetics-i3d's data/v_CricketShot_g04_c01_{rgb,flow}.npy:
25 fps, shorter side 256 (bilinear), RGB / 127.5 - 1; TV-L1 on the grayscale resized frames,
truncated to [-20, 20] px, / 20; then the centre 224x224 crop of both. RGB and flow have the same
T. Flow frame t goes from frame t to frame t+1, and that holds for the last kept frame too when the
video goes on past the kept span (one more frame is decoded for it); only when the video itself ends
does the last flow frame repeat the one before (flow.compute_flow's convention). This is
i3d_tf/video/model_input.py's path, the one classify and extract_features use. --flow_method=none
writes no flow file. --quantize_flow rounds the flow through a shard's 8-bit levels (model_input's
quantize_flow, the flow half of extract_features --as_stored).
Then `evaluate_sample` (first issue) classifies the clip from these files.
"""
import math
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

from i3d_tf import entry
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import model_input

flags.DEFINE_string("video", None, "Video file to preprocess (mp4, avi, mkv, webm).")
flags.DEFINE_string("output_dir", None, "Folder for NAME_rgb.npy and NAME_flow.npy.")
flags.DEFINE_string("name", None, "Output name prefix; default the video's file name stem.")
flags.DEFINE_float("start_s", None, "Start of the span to keep, seconds (default: 0).")
flags.DEFINE_float("end_s", None, "End of the span to keep, seconds (default: the video's end).")
flags.DEFINE_integer("frames", None, "Keep at most this many frames (the release's sample: 79).")
flags.DEFINE_enum("flow_method", flow_lib.DEFAULT_METHOD, flow_lib.METHODS, "Flow method (i3d_tf.video.flow."
                  "METHODS): tvl1_tf, OpenCV's TV-L1 in TensorFlow (XLA), or tvl1, OpenCV's own "
                  "(the reference); none writes NAME_rgb.npy only.")
flags.DEFINE_float("fps", decode.DEFAULT_FPS, "Frame rate to resample to.")
flags.DEFINE_integer("shorter_side", decode.DEFAULT_SHORTER_SIDE,
                     "Resize the shorter side to this.")
flags.DEFINE_integer("crop_size", 224, "Centre crop size.")
flags.DEFINE_bool("quantize_flow", False,
                  "Round the flow through the 8-bit storage (as training shards hold it; the "
                  "flow half of extract_features --as_stored, the same code).")
FLAGS = flags.FLAGS


def preprocess(path, start_s=None, end_s=None, num_frames=None, flow_method=flow_lib.DEFAULT_METHOD,
               fps=decode.DEFAULT_FPS, shorter_side=decode.DEFAULT_SHORTER_SIDE, crop_size=224,
               quantize_flow=False):
  """-> (rgb float32 [1, T, crop, crop, 3], flow float32 [1, T, crop, crop, 2] or None for
  flow_method 'none'), both in [-1, 1], through model_input (classify's and extract_features' path).
  """
  if num_frames is not None and num_frames < 1:
    raise ValueError(f"--frames must be >= 1, got {num_frames}")
  begin = 0.0 if start_s is None else start_s
  keep = num_frames
  if end_s is not None:
    span = max(1, int(math.ceil((end_s - begin) * fps - 1e-6)))
    keep = span if keep is None else min(keep, span)
  streams = ("rgb",) if flow_method == "none" else ("rgb", "flow")
  # --quantize_flow: model_input's storage of flow (stored.stored_flow), as extract_features
  # --as_stored applies it; RGB stays unencoded (the release's sample .npy files are not JPEG).
  spec = model_input.VideoInputSpec(streams=streams, crop_size=crop_size, flow_method=flow_method,
                                    fps=fps, shorter_side=shorter_side, quantize_flow=quantize_flow)
  # Decoding goes on past end_s only for the frame after the span (the last flow frame's target).
  inputs = model_input.read_inputs(path, spec, max_frames=keep, start_s=start_s)[0]
  flow = inputs.get("flow")
  return inputs["rgb"][None], None if flow is None else flow[None].astype(np.float32)


def main(argv):
  del argv
  if not FLAGS.video or not FLAGS.output_dir:
    raise app.UsageError("--video and --output_dir are required")
  name = FLAGS.name or os.path.splitext(os.path.basename(FLAGS.video))[0]
  started = time.time()
  try:
    rgb, flow = preprocess(FLAGS.video, FLAGS.start_s, FLAGS.end_s, FLAGS.frames,
                           FLAGS.flow_method, FLAGS.fps, FLAGS.shorter_side, FLAGS.crop_size,
                           FLAGS.quantize_flow)
  except decode.VideoDecodeError as e:  # names the file and the problem: no traceback
    print(f"--video={FLAGS.video}: {e}", file=sys.stderr, flush=True)
    sys.exit(1)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  for stream, array in (("rgb", rgb), ("flow", flow)):
    if array is None:
      continue  # --flow_method=none: no flow file (all zeros would read as "nothing moves")
    path = os.path.join(FLAGS.output_dir, f"{name}_{stream}.npy")
    with open(path + ".tmp", "wb") as f:  # whole or absent: written beside, then renamed
      np.save(f, array)
    os.replace(path + ".tmp", path)
    print(f"{path}: {array.dtype} {list(array.shape)} in [{array.min():.3f}, {array.max():.3f}]")
  print(f"{rgb.shape[1]} frames at {FLAGS.fps:g} fps, flow '{FLAGS.flow_method}', "
        f"{time.time() - started:.1f} s")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
