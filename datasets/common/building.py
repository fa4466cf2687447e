"""Building i3d_tf's TFDS datasets from Python: builder instances with overrides, local or Beam.

The library half of `python -m datasets.build` (which only parses flags): importing this module
defines no absl flags, so tests and other programs can build datasets in-process.
"""
import dataclasses
import os
import shlex
import time


def _builder_modules():
  """Imports (registers) the builders; relative, so it works as datasets or i3d_tf_datasets."""
  # pylint: disable=g-import-not-at-top
  from .. import i3d_hmdb51, i3d_kinetics, i3d_ucf101, i3d_video_folder, synthetic_motion
  return {"i3d_ucf101": i3d_ucf101, "i3d_hmdb51": i3d_hmdb51, "i3d_kinetics": i3d_kinetics,
          "i3d_video_folder": i3d_video_folder, "synthetic_motion": synthetic_motion}


def override_config(config, flow_method=None, shorter_side=None, max_seconds=None,
                    registered=()):
  """A copy of `config` with storage overrides.

  The flow method keeps the name of a set the user named (`--dataset=i3d_video_folder/mysports`
  after `--flow_method=tvl1_tf`): metadata.json records the method, and a build never reuses a
  finished one of another method (video_builder.py, FlowMethodMismatchError). A name in
  `registered` (the builder's own configs: synthetic_motion/small, i3d_ucf101/split1) cannot be
  taken by a config of other settings (TFDS refuses), so there a method other than the config's
  joins the name (`small_tvl1_tf`, `split1_tvl1_tf`). A config of no method of its own (None: the
  built one, else flow.DEFAULT_METHOD) names `tvl1` builds without a suffix, as before issue #19,
  so `--flow_method=tvl1` finds them; the method itself goes to the builder (make_builder). A
  shorter side and a cut clip rename it (`split1_s128_max2s`), so such smoke builds live apart.
  """
  from . import video_builder  # pylint: disable=g-import-not-at-top  (TFDS: not for --help)
  unsuffixed = config.flow_method or video_builder.UNSUFFIXED_FLOW_METHOD
  changes, suffix = {}, []
  if shorter_side and shorter_side != config.shorter_side:
    changes["shorter_side"] = shorter_side
    suffix.append(f"s{shorter_side}")
  if max_seconds:
    changes["max_seconds"] = max_seconds
    suffix.append(f"max{max_seconds:g}s")
  name = "_".join([config.name] + suffix)
  if flow_method and flow_method != unsuffixed and name in registered:
    name = f"{name}_{flow_method}"
  if flow_method and (name != config.name or name not in registered):
    changes["flow_method"] = flow_method  # a config of its own: it says its method
  if not changes:
    return config
  return dataclasses.replace(config, name=name, **changes)


def make_builder(dataset, data_dir, num_workers=None, allow_missing=False, flow_method=None,
                 shorter_side=None, max_seconds=None, flow_processes=None, **config_options):
  """The builder instance for 'name[/config]' (configs as registered, plus overrides).

  i3d_video_folder takes any config name (the user's name for their set) and `config_options`
  (list_file, test_fraction, split_seed, input_fps); None values are left at the config's.
  """
  modules = _builder_modules()
  name, _, config_name = dataset.partition("/")
  if name not in modules:
    raise ValueError(f"--dataset={dataset!r}: unknown dataset {name!r}; expected one of "
                     f"{sorted(modules)} (with /config)")
  builder_cls = modules[name].Builder
  configs = {c.name: c for c in builder_cls.BUILDER_CONFIGS}
  config_name = config_name or builder_cls.BUILDER_CONFIGS[0].name
  config_options = {k: v for k, v in config_options.items() if v is not None}
  user_config = getattr(modules[name], "user_config", None)
  if user_config is not None and config_name not in configs:
    config = user_config(config_name)
  elif config_name not in configs:
    raise ValueError(f"--dataset={dataset!r}: unknown config {config_name!r} of {name}; expected "
                     f"one of {sorted(configs)}")
  else:
    config = configs[config_name]
  unknown = sorted(k for k in config_options if not hasattr(config, k))
  if unknown:
    raise ValueError(f"--dataset={dataset!r}: {name} has no option {', '.join(unknown)}")
  config = override_config(dataclasses.replace(config, **config_options) if config_options
                           else config, flow_method, shorter_side, max_seconds,
                           registered=set(configs))
  return builder_cls(config=config, data_dir=data_dir, num_workers=num_workers,
                     allow_missing=allow_missing, flow_processes=flow_processes,
                     flow_method=flow_method)


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
  from . import video_builder  # pylint: disable=g-import-not-at-top
  method = video_builder.built_flow_method(result["version_dir"])  # what the build recorded
  lines = [f"{builder.name}/{builder.builder_config.name} in {result['version_dir']} "
           f"(flow {method}, {result['seconds']:.1f} s)"]
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
