"""The flags of the binaries that read video files for a model (classify, extract_features): how
frame folders are timed, where the flow stream's flow comes from, which flow method makes it, the
frames' size and whether they go through a build's storage. A binary calls
`define_flags()` at import and `flags.adopt_module_key_flags(video_flags)` so its --help lists them.
"""
from absl import flags

from i3d_tf.video import flow as flow_lib
from i3d_tf.video import model_input


def define_flags(flag_values=flags.FLAGS):
  """--input_fps, --flow_source, --flow_method, --shorter_side and --as_stored, with one default
  and one help for every binary."""
  flags.DEFINE_float("input_fps", 25.0, "Frame rate of frame folders given to --videos "
                     "(img_00001.jpg ...: mmaction2's rawframes); video files carry their own.",
                     lower_bound=0.001, flag_values=flag_values)
  flags.DEFINE_enum("flow_method", flow_lib.DEFAULT_METHOD,
                    [m for m in flow_lib.METHODS if m != "none"],
                    "Flow of a model's flow stream (i3d_tf.video.flow.METHODS): tvl1_tf, OpenCV's "
                    "TV-L1 in TensorFlow (XLA), or tvl1, OpenCV's own (the reference).",
                    flag_values=flag_values)
  flags.DEFINE_enum("flow_source", "auto", list(model_input.FLOW_SOURCES),
                    "Flow of a model's flow stream for a frame folder that holds flow frames "
                    "(denseflow's flow_x_00001.jpg, flow_y_00001.jpg ..., bound 20): auto reads "
                    "them where a folder has them and computes --flow_method's flow elsewhere; "
                    "frames reads them and skips a video without them; compute ignores them.",
                    flag_values=flag_values)
  flags.DEFINE_integer("shorter_side", 256, "Resize video frames' shorter side to this before "
                       "the crop (the builds' default; give a smoke build's --shorter_side to "
                       "compare with its shards).", lower_bound=1, flag_values=flag_values)
  flags.DEFINE_bool("as_stored", False, "Read video files as a build's shards store them: RGB "
                    "through JPEG (quality 95, read back by the input pipeline's decoder), flow "
                    "through its 8-bit levels, so a feature equals the one of the video's shard "
                    "(i3d_tf/video/stored.py). Default off: the decoded frames as they are.",
                    flag_values=flag_values)
