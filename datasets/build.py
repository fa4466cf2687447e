r"""Builds one of i3d_tf's TFDS datasets, locally (process pool) or with Apache Beam.

  python -m datasets.build --dataset=synthetic_motion/small
  python -m datasets.build --dataset=i3d_ucf101/split1 --manual_dir=data/manual/ucf101 \
      --data_dir=data/tfds [--num_workers=16] [--allow_missing]
  python -m datasets.build --dataset=i3d_kinetics/400 --manual_dir=... --data_dir=gs://... --beam \
      --beam_options="--runner=DataflowRunner --project=P --region=R --temp_location=gs://... \
      --setup_file=./setup.py"

Local and Beam builds write the same shards (same keys and content). Installed, the module is
`python -m i3d_tf_datasets.build`. `tfds build datasets/<name>` works as well.
"""
import dataclasses
import os
import shlex
import time

from absl import app
from absl import flags
from absl import logging

_DATASET = flags.DEFINE_string("dataset", None, "name[/config], e.g. i3d_ucf101/split1, "
                               "i3d_hmdb51/split2, i3d_kinetics/400, synthetic_motion/small.")
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
_ALLOW_MISSING = flags.DEFINE_bool("allow_missing", False, "Build the videos that exist when some "
                                   "listed in the split files are missing; count the others.")
_FLOW_METHOD = flags.DEFINE_enum("flow_method", None, ["tvl1", "tvl1_fast", "none"],
                                 "Override the config's flow method (a new config name).")
_SHORTER_SIDE = flags.DEFINE_integer("shorter_side", None, "Override the config's shorter side.")
_MAX_SECONDS = flags.DEFINE_float("max_seconds", None, "Keep only each clip's first seconds.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Delete an existing build of this version.")


def _builder_modules():
  """Imports (registers) the builders; relative, so it works as datasets or i3d_tf_datasets."""
  # pylint: disable=g-import-not-at-top
  from . import i3d_hmdb51, i3d_kinetics, i3d_ucf101, synthetic_motion
  return {"i3d_ucf101": i3d_ucf101, "i3d_hmdb51": i3d_hmdb51, "i3d_kinetics": i3d_kinetics,
          "synthetic_motion": synthetic_motion}


def override_config(config, flow_method=None, shorter_side=None, max_seconds=None):
  """A copy of `config` with storage overrides, renamed so its shards live apart."""
  changes, suffix = {}, []
  if flow_method and flow_method != config.flow_method:
    changes["flow_method"] = flow_method
    suffix.append(flow_method)
  if shorter_side and shorter_side != config.shorter_side:
    changes["shorter_side"] = shorter_side
    suffix.append(f"s{shorter_side}")
  if max_seconds:
    changes["max_seconds"] = max_seconds
    suffix.append(f"max{max_seconds:g}s")
  if not changes:
    return config
  return dataclasses.replace(config, name="_".join([config.name] + suffix), **changes)


def make_builder(dataset, data_dir, num_workers=None, allow_missing=False, flow_method=None,
                 shorter_side=None, max_seconds=None):
  """The builder instance for 'name[/config]' (configs as registered, plus overrides)."""
  modules = _builder_modules()
  name, _, config_name = dataset.partition("/")
  if name not in modules:
    raise ValueError(f"--dataset={dataset!r}: unknown dataset {name!r}; expected one of "
                     f"{sorted(modules)} (with /config)")
  builder_cls = modules[name].Builder
  configs = {c.name: c for c in builder_cls.BUILDER_CONFIGS}
  config_name = config_name or builder_cls.BUILDER_CONFIGS[0].name
  if config_name not in configs:
    raise ValueError(f"--dataset={dataset!r}: unknown config {config_name!r} of {name}; expected "
                     f"one of {sorted(configs)}")
  config = override_config(configs[config_name], flow_method, shorter_side, max_seconds)
  return builder_cls(config=config, data_dir=data_dir, num_workers=num_workers,
                     allow_missing=allow_missing)


def download_config(manual_dir=None, beam=False, beam_options="--runner=DirectRunner",
                    overwrite=False):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  kwargs = dict(manual_dir=manual_dir, try_download_gcs=False)
  if overwrite:
    kwargs["download_mode"] = tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS
  if beam:
    from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
    kwargs["beam_options"] = pipeline_options.PipelineOptions(shlex.split(beam_options))
  return tfds.download.DownloadConfig(**kwargs)


def build(builder, manual_dir=None, beam=False, beam_options="--runner=DirectRunner",
          overwrite=False):
  """download_and_prepare + a summary dict {split: counts, ..., 'seconds', 'version_dir'}."""
  start = time.perf_counter()
  builder.download_and_prepare(
      download_config=download_config(manual_dir, beam, beam_options, overwrite))
  seconds = time.perf_counter() - start
  summary = {split: dict(counts) for split, counts in builder.build_summary.items()}
  for split, counts in summary.items():
    info = builder.info.splits[split]
    counts["examples"] = info.num_examples
    counts["bytes"] = info.num_bytes
  return {"splits": summary, "seconds": seconds, "version_dir": os.fspath(builder.data_path)}


def format_summary(builder, result):
  lines = [f"{builder.name}/{builder.builder_config.name} in {result['version_dir']} "
           f"({result['seconds']:.1f} s)"]
  if not result["splits"]:
    lines.append("  already built: nothing to do (pass --overwrite to rebuild)")
  for split, c in sorted(result["splits"].items()):
    per_video = c["bytes"] / max(c["examples"], 1)
    lines.append(
        f"  {split}: {c['examples']} examples ({per_video / 1e6:.2f} MB/video), "
        f"{c.get('skipped', 0)} skipped (unreadable), {c.get('missing', 0)} missing, "
        f"of {c.get('listed', 0)} listed")
  if any(c.get("skipped", 0) or c.get("missing", 0) for c in result["splits"].values()):
    lines.append(f"  see {os.path.join(result['version_dir'], 'skipped.tsv')}")
  return "\n".join(lines)


def main(argv):
  del argv
  if not _DATASET.value:
    raise app.UsageError("--dataset is required, e.g. --dataset=synthetic_motion/small")
  name = _DATASET.value.partition("/")[0]
  manual_dir = _MANUAL_DIR.value or os.path.join("data", "manual", name)
  builder = make_builder(_DATASET.value, _DATA_DIR.value, _NUM_WORKERS.value,
                         _ALLOW_MISSING.value, _FLOW_METHOD.value, _SHORTER_SIDE.value,
                         _MAX_SECONDS.value)
  use_beam = _BEAM.value or flags.FLAGS["beam_options"].present
  logging.info("Building %s/%s (%s)", builder.name, builder.builder_config.name,
               "Apache Beam" if use_beam else "local pool")
  result = build(builder, manual_dir, use_beam, _BEAM_OPTIONS.value, _OVERWRITE.value)
  print(format_summary(builder, result))


if __name__ == "__main__":
  app.run(main)
