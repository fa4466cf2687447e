"""Fine-tunes a Kinetics-trained model on UCF-101, HMDB-51 (the paper's section 5.2, Table 4) or
any built dataset (your own videos: i3d_video_folder/<name>).

  python -m experiments.finetune --model=i3d_rgb --dataset=ucf101 --split=1 --mode=full \
      --init=runs/i3d_rgb_kinetics400 --data_dir=data/tfds
  python -m experiments.finetune --model=i3d_rgb --dataset=i3d_video_folder/mysports \
      --init=checkpoints/rgb_imagenet/model.ckpt --data_dir=data/tfds   # as many outputs as classes

--mode=fixed: the paper's 'Fixed': the Kinetics features stay frozen (batch norm included), only
the last layer (the logits, re-initialised for the new classes) is trained. --mode=full: 'Full-FT',
every layer is trained. --init: a training run's model_dir or a DeepMind-layout checkpoint (e.g.
the release's rgb_imagenet/model.ckpt); the logits are always re-initialised when the number of
classes differs. Then evaluate the three splits with experiments/evaluate.py.
"""
import logging as pylogging
import sys

from absl import app
from absl import flags

from experiments import training_flags
from i3d_tf import config as config_lib
from i3d_tf import entry
from i3d_tf.training import experiment
from i3d_tf.training import loop

FLAGS = flags.FLAGS
# The fine-tuning experiment's defaults (experiments/configs/registry.py: UCF-101, a smaller lr,
# fewer steps than Kinetics training from scratch); --split and --mode are its data.split and
# init.finetune_mode.
training_flags.define_flags("finetune")
flags.adopt_module_key_flags(training_flags)  # --help lists the shared training flags too

FINETUNE_DATASETS = ("ucf101", "hmdb51")  # short names; any <builder>/<config> is taken too


def check(config):
  """The fine-tuning binary's own rules: a fine-tuning dataset, --init and --data_dir given."""
  dataset = config.data.dataset
  full_name = training_flags.is_tfds_name(dataset)
  if dataset not in FINETUNE_DATASETS and not full_name:
    raise app.UsageError(f"--dataset={dataset}: fine-tuning takes one of "
                         f"{', '.join(FINETUNE_DATASETS)} or a built <builder>/<config> (e.g. "
                         f"i3d_video_folder/mysports)")
  if full_name and FLAGS["split"].present:
    raise app.UsageError(f"--split applies to --dataset=ucf101/hmdb51; --dataset={dataset} "
                         f"names its build (e.g. --dataset=i3d_ucf101/split2)")
  if not config.init.source or config.init.source == "scratch":
    raise app.UsageError("--init must name the Kinetics checkpoint to fine-tune from (a run's "
                         "model_dir or a DeepMind-layout checkpoint prefix)")
  if not config.data.data_dir:
    raise app.UsageError(f"--data_dir: the TFDS data_dir where "
                         f"{training_flags.tfds_name(dataset)} is built")


def main(argv):
  del argv
  training_flags.exit_if_experiment_help(FLAGS)
  pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  config = training_flags.config_from_flags(FLAGS, "finetune")
  check(config)
  data, split, mode = config.data, config.data.split, config.init.finetune_mode
  full_name = training_flags.is_tfds_name(data.dataset)
  model_dir = config.runtime.model_dir or training_flags.default_model_dir(
      config.model.name, data.dataset, f"_{mode}" if full_name else f"_split{split}_{mode}")
  config = config_lib.replace(config, {"model_dir": model_dir})
  source = training_flags.resolve_data(data.dataset, data.data_dir, data.record_format,
                                       split_number=split, dataset_config=data.dataset_config)
  try:
    status, final, _ = experiment.run(config, source)
  except experiment.USER_ERRORS as e:
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(2)
  except loop.NonFiniteLossError as e:
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(3)
  training_flags.exit_if_preempted(status, model_dir)  # exits 143
  if final and status == "done":
    what = data.dataset if full_name else f"{data.dataset} split {split}"
    print(f"{what} ({mode}): top-1 {final['top1']:.4f}, top-5 {final['top5']:.4f} "
          f"({source.num_classes} classes); run in {model_dir}", flush=True)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
