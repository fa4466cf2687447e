"""Trains a registered model on Kinetics (or any built dataset); resumable, on 1 to many devices.

  python -m experiments.train_kinetics --model=i3d_flow
      With no data flags: builds the embedded synthetic_motion set into a cache and trains a
      REDUCED configuration (says so), then writes checkpoint, metrics.json and a SavedModel.
  python -m experiments.train_kinetics --model=i3d_rgb --dataset=kinetics400 \
      --data_dir=data/tfds --batch_size=384 --strategy=multi_worker   # the release's recipe
  python -m experiments.train_kinetics --model=i3d_rgb --dataset=i3d_video_folder/mysports \
      --data_dir=data/tfds --init=rgb_imagenet/model.ckpt   # any built <builder>/<config>

Rerun with the same --model_dir to resume (also after kill -9). See README, 'Training and
evaluation', and WORKSPACE.md, 'Training on many GPUs and machines'.
"""
import logging as pylogging
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

from experiments import training_flags
from experiments.configs import registry as experiments
from i3d_tf import config as config_lib
from i3d_tf import entry
from i3d_tf.training import experiment
from i3d_tf.training import loop

FLAGS = flags.FLAGS
training_flags.define_flags("train_kinetics")
flags.adopt_module_key_flags(training_flags)  # --help lists the shared training flags too
flags.DEFINE_string("cache_dir", None, "Where the embedded synthetic set is built (default "
                    "$I3D_TF_CACHE or ~/.cache/i3d_tf/tfds).")


def cache_dir():
  return FLAGS.cache_dir or os.environ.get("I3D_TF_CACHE") or os.path.join(
      os.path.expanduser("~"), ".cache", "i3d_tf", "tfds")


def build_synthetic(data_dir, config_name):
  """Builds synthetic_motion/<config_name> into data_dir unless a finished build is there."""
  from i3d_tf.data import records  # pylint: disable=import-outside-toplevel
  # The builder registers itself with TFDS on import (datasets.build defines absl flags of its own,
  # so it is not imported here).
  try:
    from datasets import synthetic_motion  # pylint: disable=import-outside-toplevel
  except ImportError:  # installed: the builders are the package i3d_tf_datasets
    from i3d_tf_datasets import synthetic_motion  # pylint: disable=import-outside-toplevel
  name = f"synthetic_motion/{config_name}"
  try:  # A cache of an older version of the set is rebuilt, not reused.
    records.dataset_dir(data_dir, f"{name}:{synthetic_motion.Builder.VERSION}")
    return  # already built
  except FileNotFoundError:
    pass
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  configs = {c.name: c for c in synthetic_motion.Builder.BUILDER_CONFIGS}
  builder = synthetic_motion.Builder(config=configs[config_name], data_dir=data_dir)
  prepare_embedded(builder, name, data_dir,
                   tfds.download.DownloadConfig(try_download_gcs=False))


def prepare_embedded(builder, name, data_dir, download_config):
  """Builds the embedded set, or waits for another process's build of it and reuses that (the
  build lock, datasets/common/build_lock.py), saying which happened."""
  print(f"The embedded {name} set is not in {data_dir}: building it (first run only) ...",
        flush=True)
  started = time.time()
  builder.download_and_prepare(download_config=download_config)
  wait = getattr(builder, "build_wait", None)
  if wait is not None and wait.reused:
    print(f"Reused the embedded {name} set built by {wait.holder} (waited {wait.seconds:.0f} s "
          f"for it; nothing built here).", flush=True)
  elif wait is not None and wait.holder:
    print(f"Built in {time.time() - started:.0f} s, after waiting {wait.seconds:.0f} s for the "
          f"build of {wait.holder}, which did not finish.", flush=True)
  else:
    print(f"Built in {time.time() - started:.0f} s.", flush=True)


def _reduced_note(config):
  """What the reduced configuration changes from train_kinetics' defaults (flags not given)."""
  given = training_flags.given_values(FLAGS, "train_kinetics")
  default = experiments.get("train_kinetics")
  changed = {s.flag: config_lib.get(config, s.path) for s in config_lib.settings()
             if s.flag not in given and s.flag not in ("model", "dataset")
             and config_lib.get(config, s.path) != config_lib.get(default, s.path)}
  return ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))


def resolve(config):
  """(config with its dataset, data_dir and model_dir filled in, its DataSource); the embedded
  synthetic set is built first when no --data_dir is given."""
  data = config.data
  embedded = data.data_dir is None and data.dataset in (None, "synthetic_motion")
  if data.data_dir is None and not embedded:
    raise app.UsageError(f"--dataset={data.dataset} needs --data_dir (the built shards)")
  if embedded:
    data_dir, dataset = cache_dir(), "synthetic_motion"
    build_synthetic(data_dir, data.synthetic_config)
    if training_flags.base_experiment(FLAGS, "train_kinetics").startswith("synthetic_reduced/"):
      print("No --data_dir: training on the embedded synthetic_motion set with a REDUCED "
            "configuration (not the paper's): " + _reduced_note(config), flush=True)
  else:
    data_dir, dataset = data.data_dir, data.dataset or "kinetics400"
  model_dir = config.runtime.model_dir or training_flags.default_model_dir(config.model.name,
                                                                          dataset)
  config = config_lib.replace(config, {"data_dir": data_dir, "dataset": dataset,
                                       "model_dir": model_dir})
  source = training_flags.resolve_data(
      dataset, data_dir, data.record_format, num_classes=data.num_classes,
      synthetic_config=data.synthetic_config if dataset == "synthetic_motion" else None,
      dataset_config=None if embedded else data.dataset_config)
  return config, source


def main(argv):
  del argv
  training_flags.exit_if_experiment_help(FLAGS)
  pylogging.getLogger("i3d_tf").setLevel(pylogging.INFO)
  config, data = resolve(training_flags.config_from_flags(FLAGS, "train_kinetics"))
  model_dir = config.runtime.model_dir
  started = time.time()
  try:
    status, final, _ = experiment.run(config, data)
  except experiment.USER_ERRORS as e:
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(2)
  except loop.NonFiniteLossError as e:
    logging.error("%s", e)
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(3)
  minutes = (time.time() - started) / 60
  training_flags.exit_if_preempted(status, model_dir)  # exits 143
  if final:
    print(f"Done in {minutes:.1f} min: held-out top-1 {final['top1']:.4f}, top-5 "
          f"{final['top5']:.4f} on {final['num_examples']} videos. Run in {model_dir} "
          f"(metrics.json, SavedModel in saved_model/).", flush=True)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
