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
from i3d_tf import entry

FLAGS = flags.FLAGS
training_flags.define_flags(default_model="i3d_rgb")
flags.adopt_module_key_flags(training_flags)  # --help lists the shared training flags too
flags.DEFINE_enum("split", "1", ["1", "2", "3"], "Official train/test split (--dataset=ucf101 / "
                  "hmdb51; a <builder>/<config> names its build).")
flags.DEFINE_enum("mode", "full", ["fixed", "full"],
                  "fixed: train the last layer only (the paper's Fixed); full: Full-FT.")
# Fine-tuning defaults (smaller lr, fewer steps than Kinetics training from scratch).
FLAGS.set_default("dataset", "ucf101")
FLAGS.set_default("train_steps", 5000)
FLAGS.set_default("learning_rate", 0.01)
FLAGS.set_default("lr_schedule", "cosine")
FLAGS.set_default("eval_every", 1000)
FLAGS.set_default("init", None)

FINETUNE_DATASETS = ("ucf101", "hmdb51")  # short names; any <builder>/<config> is taken too


def main(argv):
  del argv
  pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  full_name = training_flags.is_tfds_name(FLAGS.dataset)
  if FLAGS.dataset not in FINETUNE_DATASETS and not full_name:
    raise app.UsageError(f"--dataset={FLAGS.dataset}: fine-tuning takes one of "
                         f"{', '.join(FINETUNE_DATASETS)} or a built <builder>/<config> (e.g. "
                         f"i3d_video_folder/mysports)")
  if full_name and FLAGS["split"].present:
    raise app.UsageError(f"--split applies to --dataset=ucf101/hmdb51; --dataset={FLAGS.dataset} "
                         f"names its build (e.g. --dataset=i3d_ucf101/split2)")
  if not FLAGS.init or FLAGS.init == "scratch":
    raise app.UsageError("--init must name the Kinetics checkpoint to fine-tune from (a run's "
                         "model_dir or a DeepMind-layout checkpoint prefix)")
  if not FLAGS.data_dir:
    raise app.UsageError(f"--data_dir: the TFDS data_dir where "
                         f"{training_flags.tfds_name(FLAGS.dataset)} is built")
  split = int(FLAGS.split)
  model_dir = FLAGS.model_dir or training_flags.default_model_dir(
      FLAGS.model, FLAGS.dataset, f"_{FLAGS.mode}" if full_name else f"_split{split}_{FLAGS.mode}")
  data = training_flags.resolve_data(FLAGS.dataset, FLAGS.data_dir, FLAGS.record_format,
                                     split_number=split, dataset_config=FLAGS.dataset_config)
  config = training_flags.config_from_flags(FLAGS, model_dir, finetune_mode=FLAGS.mode)
  from i3d_tf.training import experiment  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import loop  # pylint: disable=import-outside-toplevel
  try:
    status, final, _ = experiment.run(config, data)
  except experiment.USER_ERRORS as e:
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(2)
  except loop.NonFiniteLossError as e:
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(3)
  training_flags.exit_if_preempted(status, model_dir)  # exits 143
  if final and status == "done":
    what = FLAGS.dataset if full_name else f"{FLAGS.dataset} split {split}"
    print(f"{what} ({FLAGS.mode}): top-1 {final['top1']:.4f}, top-5 {final['top5']:.4f} "
          f"({data.num_classes} classes); run in {model_dir}", flush=True)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
