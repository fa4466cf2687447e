r"""Builds one of i3d_tf's TFDS datasets, locally (process pool) or with Apache Beam.

  python -m datasets.build --dataset=synthetic_motion/small
  python -m datasets.build --dataset=i3d_ucf101/split1 --manual_dir=data/manual/ucf101 \
      --data_dir=data/tfds [--num_workers=16] [--allow_missing]
  python -m datasets.build --dataset=i3d_video_folder/mysports --manual_dir=my_videos \
      [--test_fraction=0.2] [--split_seed=0] [--list_file=videos.csv]   # your own videos
      [--input_fps=25]   # the rate of frame folders (img_00001.jpg ...) given as videos
      # flow: tvl1_tf (TensorFlow TV-L1) for a new set, the recorded method for a built one
  python -m datasets.build --dataset=i3d_ucf101/split1 --flow_method=tvl1  # OpenCV's: reference
  python -m datasets.build --dataset=i3d_ucf101/split1 \
      [--flow_processes=8]   # tvl1_tf's flow processes; default one per GPU with 2+ GPUs
  python -m datasets.build --dataset=i3d_kinetics/400 --manual_dir=... --data_dir=gs://... --beam \
      --beam_options="--runner=DataflowRunner --project=P --region=R --temp_location=gs://... \
      --setup_file=./setup.py"

Local and Beam builds write the same shards (same keys and content). Installed, the module is
`python -m i3d_tf_datasets.build`. `tfds build datasets/<name>` works as well.
"""
import os
import sys

from i3d_tf import cuda_probe  # noqa: F401  first: quiets TF's CUDA probe where there is no GPU
from i3d_tf import cpu_kernels  # noqa: F401  before TensorFlow: oneDNN on every x86-64 CPU
from absl import app
from absl import flags
from absl import logging

from i3d_tf import entry
from i3d_tf.video import flow as flow_lib
from .common.building import build, format_summary, make_builder  # noqa: F401

_DATASET = flags.DEFINE_string("dataset", None, "name[/config], e.g. i3d_ucf101/split1, "
                               "i3d_hmdb51/split2, i3d_kinetics/400, synthetic_motion/small, "
                               "i3d_video_folder/<any name for your set>.")
_DATA_DIR = flags.DEFINE_string("data_dir", "data/tfds", "Where the shards go (TFDS data_dir).")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "The raw videos and annotation files "
                                  "(default data/manual/<name>); see WORKSPACE.md for layouts.")
_BEAM = flags.DEFINE_bool("beam", False, "Build with Apache Beam instead of the local pool.")
_BEAM_OPTIONS = flags.DEFINE_string(
    "beam_options", "--runner=DirectRunner", "Beam pipeline options, as on a command line "
    "(e.g. '--runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing', "
    "or Dataflow / Flink / Spark runner options). Implies --beam when set explicitly.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", None, "Local build processes (default: all "
                                    "cores; 0 decodes in this process).")
_FLOW_PROCESSES = flags.DEFINE_integer(
    "flow_processes", None, "With a TensorFlow flow method (tvl1_tf*), local build: processes "
    "computing the flow, one per device, each batching frame pairs across videos (default: one "
    "per GPU with two or more GPUs, else 0: the build's own process, on the CPU's cores or its "
    "one GPU/TPU). On a CPU-only machine N > 0 splits the cores among N processes.", lower_bound=0)
_ALLOW_MISSING = flags.DEFINE_bool("allow_missing", False, "Build the videos that exist when some "
                                   "listed in the split files are missing; count the others.")
_FLOW_METHOD = flags.DEFINE_enum(
    "flow_method", None, list(flow_lib.METHODS),
    "Default: the config's own (synthetic_motion's recipes), else the method a finished build "
    "of this set recorded (metadata.json: it keeps its method and bytes), else "
    f"{flow_lib.DEFAULT_METHOD} (flow.DEFAULT_METHOD; tvl1, OpenCV's, is the reference). Given, "
    "a set you named keeps its "
    "name (a finished build of another method under it is refused without --overwrite); a "
    "registered config takes a method other than its own (tvl1 for i3d_ucf101/hmdb51/kinetics) "
    "in its name (split1_tvl1_tf, small_tvl1_tf).")
_SHORTER_SIDE = flags.DEFINE_integer("shorter_side", None, "Override the config's shorter side.")
_MAX_SECONDS = flags.DEFINE_float("max_seconds", None, "Keep only each clip's first seconds.")
_LIST_FILE = flags.DEFINE_string("list_file", None, "i3d_video_folder: the CSV/TSV list to read "
                                 "(relative to --manual_dir or absolute; default: the one .csv/.tsv"
                                 " "
                                 "at its top, else class folders).")
_TEST_FRACTION = flags.DEFINE_float("test_fraction", None, "i3d_video_folder without given splits: "
                                    "the fraction of each class drawn into 'test' (default 0.2).")
_SPLIT_SEED = flags.DEFINE_integer("split_seed", None, "i3d_video_folder: seed of that stratified "
                                   "split (default 0).")
_INPUT_FPS = flags.DEFINE_float("input_fps", None, "i3d_video_folder: the frame rate of frame "
                                "folders (img_00001.jpg ...: mmaction2's rawframes) given as videos "
                                "(default 25); video files carry their own.", lower_bound=0.001)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Delete an existing build of this version.")


def main(argv):
  del argv
  if not _DATASET.value:
    raise app.UsageError("--dataset is required, e.g. --dataset=synthetic_motion/small")
  name = _DATASET.value.partition("/")[0]
  manual_dir = _MANUAL_DIR.value or os.path.join("data", "manual", name)
  builder = make_builder(_DATASET.value, _DATA_DIR.value, _NUM_WORKERS.value,
                         _ALLOW_MISSING.value, _FLOW_METHOD.value, _SHORTER_SIDE.value,
                         _MAX_SECONDS.value, flow_processes=_FLOW_PROCESSES.value,
                         list_file=_LIST_FILE.value,
                         test_fraction=_TEST_FRACTION.value, split_seed=_SPLIT_SEED.value,
                         input_fps=_INPUT_FPS.value)
  from .common import video_builder  # pylint: disable=g-import-not-at-top  (TFDS: not for --help)
  use_beam = _BEAM.value or flags.FLAGS["beam_options"].present
  logging.info("Building %s/%s (%s)", builder.name, builder.builder_config.name,
               "Apache Beam" if use_beam else "local pool")
  try:
    result = build(builder, manual_dir, use_beam, _BEAM_OPTIONS.value, _OVERWRITE.value)
  except video_builder.FlowMethodMismatchError as e:  # the message says what to pass
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(2)
  print(format_summary(builder, result))


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
