"""Base TFDS builder for video datasets: features, local multiprocess and Apache Beam generation.

Subclasses list their videos as `VideoItem`s per split (`_split_items`); this base turns them into
examples with `video_example.process_video` either in a local process pool (tqdm progress with ETA)
or in a Beam pipeline (when TFDS is given a beam_runner/beam_options), with the same keys and
content, hence the same shards. Videos that fail to decode are skipped and recorded, with the
missing ones (under allow_missing), in `skipped.tsv` beside the shards. A local split with no
decodable video is left out (TFDS writes no split of 0 examples), the other splits kept. With a
TensorFlow flow method the local build's workers decode and encode, and this process runs the flow
for all of them (device_flow.py). Builds of one config take turns (build_lock.py); pool workers die
with the build (worker_death.py).

Flow method: a config may leave it None (i3d_ucf101, i3d_hmdb51, i3d_kinetics, i3d_video_folder):
then a build takes the method a finished build of the config recorded (metadata.json), so an
existing set keeps its method and bytes, else flow.DEFAULT_METHOD (tvl1_tf since issue #19). An
explicit method (the builder's `flow_method`, a config's own) is checked against what is built.
"""
import collections
import dataclasses
import functools
import json
import logging
import multiprocessing
import os
import re
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from tensorflow.core.example import example_pb2
from tqdm import auto as tqdm

from tensorflow_datasets.core import writer as writer_lib

from i3d_tf.video import flow as flow_lib
from i3d_tf.video import stored

from . import build_lock, device_flow, video_example, worker_death

SKIPPED_FILENAME = "skipped.tsv"
_SKIPPED_HEADER = "split\tvideo_id\tpath\treason"
MISSING_REASON = "missing: listed in the split file but not found (built with allow_missing)"
# TFDS's Beam writer on a split of 0 examples (tensorflow_datasets/core/writer.py).
_BEAM_EMPTY_SPLIT = re.compile(r"generated examples is 0 for split (\S+?)\.")
EMPTY_SPLITS_KEY = "empty_splits"  # metadata.json: {split: videos listed} of splits left unwritten
_MAX_NAMES_IN_ERROR = 5

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class VideoBuilderConfig(tfds.core.BuilderConfig):
  """A dataset config plus how its videos are stored (all recorded in the metadata)."""
  fps: float = 25.0
  shorter_side: int = 256
  # None: what a finished build of this config recorded, else flow.DEFAULT_METHOD (resolved per
  # build: VideoDatasetBuilder.flow_method); a method here is the config's own (synthetic_motion).
  flow_method: Optional[str] = None
  jpeg_quality: int = stored.JPEG_QUALITY  # the one extract_features --as_stored applies
  max_seconds: Optional[float] = None  # keep only each clip's first seconds (smoke/test builds)

  def encode_options(self, flow_method=None):
    """How each video is stored; `flow_method` is the build's resolved one (default: config's)."""
    return video_example.EncodeOptions(
        fps=self.fps, shorter_side=self.shorter_side,
        flow_method=flow_method or self.flow_method or flow_lib.DEFAULT_METHOD,
        jpeg_quality=self.jpeg_quality, max_seconds=self.max_seconds)


# What a registered config's name without a method suffix meant when the builds' default was
# OpenCV's tvl1 (before issue #19): `--flow_method=tvl1` still builds and finds it there, any other
# explicit method joins the name (building.override_config), as builds made before expect.
UNSUFFIXED_FLOW_METHOD = "tvl1"


def resolve_flow_method(asked, built):
  """The flow method of a build: the one asked for (flag or config), else the one a finished build
  there recorded (it keeps its method and bytes), else flow.DEFAULT_METHOD."""
  return asked or built or flow_lib.DEFAULT_METHOD


def video_features(class_names):
  """The features of FORMAT.md section 2 (class_names None: named once the videos are listed)."""
  return tfds.features.FeaturesDict({
      "video_id": tfds.features.Text(),
      "label": (tfds.features.ClassLabel(names=list(class_names)) if class_names is not None
                else tfds.features.ClassLabel()),
      # [T, H, W, 3] uint8, 25 fps, shorter side `shorter_side`.
      "rgb": tfds.features.Video(shape=(None, None, None, 3), encoding_format="jpeg"),
      # [T, H, W, 3] uint8: R = quantized x, G = quantized y, B = 0.
      "flow": tfds.features.Video(shape=(None, None, None, 3), encoding_format="png"),
      "start_s": tfds.features.Scalar(np.float32),
      "end_s": tfds.features.Scalar(np.float32),
      "fps": tfds.features.Scalar(np.float32),
      "flow_method": tfds.features.Text(),
      "flow_offset": tfds.features.Scalar(np.float32),
      "flow_scale": tfds.features.Scalar(np.float32),
  })


def format_metadata(config, flow_method):
  """What `records.py` and a reader need beyond the features: stored in metadata.json."""
  return tfds.core.MetadataDict(
      fps=config.fps, shorter_side=config.shorter_side, flow_method=flow_method,
      flow_offset=float(flow_lib.FLOW_OFFSET), flow_scale=float(flow_lib.FLOW_SCALE),
      flow_bound_px=float(flow_lib.FLOW_BOUND),
      flow_settings=flow_lib.method_settings(flow_method),
      rgb_encoding=f"jpeg quality {config.jpeg_quality}",
      flow_encoding="png R=x G=y B=0", max_seconds=config.max_seconds)


def config_description(config, flow_method):
  return (f"{config.description or config.name}. Stored at {config.fps:g} fps, shorter side "
          f"{config.shorter_side}, flow '{flow_method}' quantized to 8 bits "
          f"(q = round(px*255/40 + 127))" +
          (f", each clip cut to its first {config.max_seconds:g} s" if config.max_seconds else ""))


def missing_videos_error(items, missing, manual_dir, layout):
  names = ", ".join(os.path.basename(m.path) for m in missing[:_MAX_NAMES_IN_ERROR])
  extra = len(missing) - _MAX_NAMES_IN_ERROR
  more = f" and {extra} more" if extra > 0 else ""
  return FileNotFoundError(
      f"{len(missing)} of {len(items)} videos listed in the split files are missing from "
      f"{manual_dir}: {names}{more}. Expected layout:\n{layout}\n"
      f"Pass --allow_missing (builder kwarg allow_missing=True) to build what is there.")


def canonical_example_bytes(serialized):
  """A tf.train.Example re-serialized with its feature map in key order.

  Protobuf writes map entries in an order that varies from process to process, so two builds of
  the same examples (two local runs, or a local run and Beam workers) would differ byte for byte.
  """
  return example_pb2.Example.FromString(serialized).SerializeToString(deterministic=True)


class CanonicalExampleWriter(writer_lib.ExampleWriter):
  """TFDS's example writer, with each record canonicalized: same examples, same shard bytes."""

  def write(self, path, examples):
    return super().write(path, ((key, canonical_example_bytes(serialized))
                                for key, serialized in examples))


class FlowMethodMismatchError(ValueError):
  """A finished build of this config was made with another flow method than this build's."""


def built_flow_method(version_dir):
  """The flow method a finished build in `version_dir` was made with (its metadata.json), or None
  when there is no finished build there."""
  version_dir = epath.Path(version_dir)
  path = version_dir / "metadata.json"
  if not (version_dir / "dataset_info.json").exists() or not path.exists():
    return None
  return json.loads(path.read_text()).get("flow_method")


class EmptySplitError(Exception):
  """A split none of whose videos could be decoded (TFDS cannot write a split of 0 examples)."""


class VideoDatasetBuilder(tfds.core.GeneratorBasedBuilder):
  """Base of i3d_ucf101, i3d_hmdb51, i3d_kinetics, i3d_video_folder and synthetic_motion.

  Builder kwargs beyond TFDS's: `num_workers` (local build processes; 0 = in this process; default
  all cores), `allow_missing` (build the videos that exist, count the others), `flow_method` (the
  method this build asks for, --flow_method; None: the config's, else the one already built, else
  flow.DEFAULT_METHOD) and, for a TensorFlow flow method, `flow_processes` (processes computing the
  flow, one per device: default one per GPU with two or more GPUs, else 0, the build's own
  process; flow_devices.py).
  """

  def __init__(self, *, num_workers: Optional[int] = None, allow_missing: bool = False,
               flow_processes: Optional[int] = None, flow_method: Optional[str] = None,
               **kwargs):
    if flow_method is not None and flow_method not in flow_lib.METHODS:
      raise ValueError(f"flow_method={flow_method!r}: expected one of {flow_lib.METHODS}")
    self._asked_flow_method = flow_method
    self._flow_method = None  # resolved on first use (_info, in TFDS's __init__), again when built
    self._num_workers = os.cpu_count() if num_workers is None else int(num_workers)
    if flow_processes is not None and int(flow_processes) < 0:
      raise ValueError(f"flow_processes={flow_processes}: expected >= 0 (0: the build's process)")
    self._flow_processes = None if flow_processes is None else int(flow_processes)
    self._allow_missing = bool(allow_missing)
    self._use_beam = False
    self._skipped: Dict[str, List[tuple]] = collections.defaultdict(list)
    self.build_summary: Dict[str, collections.Counter] = {}
    self.empty_splits: Dict[str, int] = {}
    self._pending_generators = None
    super().__init__(**kwargs)

  # --- what subclasses provide -------------------------------------------------------------

  def _class_names(self) -> Sequence[str]:
    raise NotImplementedError

  def _split_items(self, dl_manager) -> Dict[str, List[video_example.VideoItem]]:
    """{split name: items}; items whose `path` does not exist are handled here (missing)."""
    raise NotImplementedError

  def _process_fn(self):
    """A picklable callable item -> ProcessResult (default: decode a file)."""
    return functools.partial(video_example.process_video,
                             options=self.builder_config.encode_options(self.flow_method))

  def _expected_layout(self) -> str:
    return self.MANUAL_DOWNLOAD_INSTRUCTIONS or ""

  # --- flow method ---------------------------------------------------------------------------

  @property
  def asked_flow_method(self):
    """The method this build was asked for (the flag, else the config's own), or None."""
    return self._asked_flow_method or self.builder_config.flow_method

  @property
  def flow_method(self):
    """The method this build uses and records (resolve_flow_method against the finished build)."""
    if self._flow_method is None:
      self._flow_method = resolve_flow_method(self.asked_flow_method,
                                              built_flow_method(self.data_path))
    return self._flow_method

  # --- TFDS hooks ---------------------------------------------------------------------------

  def _info(self):
    config = self.builder_config
    return self.dataset_info_from_configs(
        description=config_description(config, self.flow_method),
        features=video_features(self._class_names()),
        metadata=format_metadata(config, self.flow_method),
        supervised_keys=None,
    )

  def _example_writer(self):
    return CanonicalExampleWriter(file_format=self.info.file_format)

  def download_and_prepare(self, *args, **kwargs):  # pylint: disable=arguments-differ
    """TFDS's, under the config's build lock (build_lock.py), after removing dead builds' folders.

    A second build of this config waits for the first and reuses its result. A finished build of
    another flow method than the one asked for is refused (FlowMethodMismatchError) unless the
    build overwrites it; a build asked for none uses (or rebuilds, --overwrite) the built one's.
    """
    config_dir = os.fspath(self.data_path.parent)
    what = f"{self.name}/{self.builder_config.name}"
    with build_lock.config_lock(config_dir, what) as wait:
      build_lock.remove_stale_incomplete(config_dir)
      self._refuse_another_flow_method(kwargs.get("download_config"))
      # Resolved again under the lock (a build may have finished since), before TFDS points
      # data_path at the incomplete folder or an --overwrite deletes the build it replaces.
      self._flow_method = resolve_flow_method(self.asked_flow_method,
                                              built_flow_method(self.data_path))
      wait.reused = bool(wait.holder) and (self.data_path / "dataset_info.json").exists()
      if wait.holder:
        print(f"{what}: waited {wait.seconds:.0f} s for the build of {wait.holder}; " + (
            f"reusing its result ({self.data_path})" if wait.reused else
            "it left no finished build (it died or failed): building here"), flush=True)
      result = super().download_and_prepare(*args, **kwargs)
    self.build_wait = wait  # whose build this one waited for, and whether it reused it
    if not self.info.splits and (self.data_path / "dataset_info.json").exists():
      self.info.read_from_directory(self.data_path)  # built by the build we waited for
    return result

  def _refuse_another_flow_method(self, download_config):
    """The config's name does not say its flow method (building.override_config): a finished
    build of the name made with another method is never reused as this one's. A build asked for
    no method takes the built one (resolve_flow_method): nothing to refuse."""
    overwrite = download_config is not None and tfds.download.GenerateMode(
        download_config.download_mode).overwrite_dataset
    built = built_flow_method(self.data_path)
    wanted = self.asked_flow_method
    if overwrite or built is None or wanted is None or built == wanted:
      return
    raise FlowMethodMismatchError(
        f"{self.name}/{self.builder_config.name} in {self.data_path} was built with "
        f"--flow_method={built} (its metadata.json); this build asks for --flow_method={wanted}. "
        f"A set you named keeps its name whatever its flow method, so the two cannot both be "
        f"there: pass "
        f"--overwrite to rebuild it with {wanted} (its {built} shards are replaced), "
        f"--flow_method={built} to use it as it is, or another --data_dir to keep both.")

  def _download_and_prepare(self, dl_manager, download_config):
    self._use_beam = (download_config.beam_runner is not None or
                      download_config.beam_options is not None)
    self._skipped.clear()
    self.build_summary = {}
    self.empty_splits = {}
    # The method resolved under the lock (info may have been read from the build it replaces).
    self.info.metadata.update(flow_method=self.flow_method,
                              flow_settings=flow_lib.method_settings(self.flow_method))
    super()._download_and_prepare(dl_manager, download_config)
    # Beam: the pipeline has run by now; gather the skips its workers wrote.
    for split in list(self.build_summary):
      self._collect_beam_skips(split)
    self._write_skipped_tsv()
    self.info.metadata[EMPTY_SPLITS_KEY] = dict(self.empty_splits)

  def _generate_splits(self, dl_manager, download_config):
    """Local builds: one split at a time, so a split with nothing decodable is left out (recorded
    in skipped.tsv and metadata.json's `empty_splits`) while the other splits are kept."""
    if self._use_beam:
      try:
        return super()._generate_splits(dl_manager, download_config)
      except ValueError as e:
        empty = _BEAM_EMPTY_SPLIT.search(str(e))
        if not empty or empty.group(1) not in self.build_summary:
          raise
        raise self._beam_empty_split_error(empty.group(1)) from e
    split_infos = []
    try:
      for split, generator in self._all_split_generators(dl_manager).items():
        self._pending_generators = {split: generator}
        try:
          split_infos.extend(super()._generate_splits(dl_manager, download_config))
        except EmptySplitError as e:
          self.empty_splits[split] = self.build_summary[split]["listed"]
          log.warning("%s", e)
    finally:
      self._pending_generators = None
    if not split_infos:
      reasons = "; ".join(f"{os.path.basename(p)}: {r}" for rows in self._skipped.values()
                          for _, p, r in rows[:_MAX_NAMES_IN_ERROR])
      raise ValueError(
          f"{self.name}/{self.builder_config.name}: no split has a decodable video "
          f"({', '.join(f'{s}: {n} listed' for s, n in sorted(self.empty_splits.items()))}); "
          f"nothing was written. First reasons: {reasons}")
    return split_infos

  def _beam_empty_split_error(self, split):
    """A Beam build writes every split in one pipeline: one with nothing decodable fails it all."""
    try:
      self._collect_beam_skips(split)  # the skips its workers wrote, if they got that far
    except OSError:
      pass
    rows = self._skipped.get(split, [])
    reasons = "; ".join(f"{os.path.basename(p)}: {r}" for _, p, r in rows[:_MAX_NAMES_IN_ERROR])
    return ValueError(
        f"{self.name}/{self.builder_config.name}: split '{split}' has no decodable video (of "
        f"{self.build_summary[split]['listed']} listed). A Beam build writes all splits in one "
        f"pipeline, so nothing was kept: fix or replace its videos, or build without --beam (a "
        f"local build leaves such a split out and keeps the others)."
        + (f" First reasons: {reasons}" if reasons else ""))

  def _split_generators(self, dl_manager):
    if self._pending_generators is not None:  # set by _generate_splits: the split to write now
      return self._pending_generators
    return self._all_split_generators(dl_manager)

  def _all_split_generators(self, dl_manager):
    items_per_split = self._split_items(dl_manager)
    generators = {}
    for split, items in items_per_split.items():
      present, missing = self._check_paths(items)
      if missing and not self._allow_missing:
        raise missing_videos_error(items, missing, self._manual_dir_for_errors(dl_manager),
                                   self._expected_layout())
      for m in missing:
        self._skipped[split].append((m.key, m.path, MISSING_REASON))
      self.build_summary[split] = collections.Counter(listed=len(items), missing=len(missing))
      if not present:
        raise ValueError(f"{self.name}/{self.builder_config.name}: split '{split}' has no videos "
                         f"to build ({len(missing)} missing). Expected layout:\n"
                         f"{self._expected_layout()}")
      generators[split] = self._generate_examples(split=split, items=present)
    return generators

  def _generate_examples(self, split, items):
    process_fn = self._process_fn()
    if self._use_beam:
      return _beam_generate(split, items, process_fn,
                            os.fspath(self.data_path / f"{split}-skipped-parts"))
    return self._local_generate(split, items, process_fn)

  # --- local generation ---------------------------------------------------------------------

  def _local_generate(self, split, items, process_fn):
    summary = self.build_summary[split]
    workers = min(self._num_workers, len(items))
    bar = tqdm.tqdm(total=len(items), desc=f"{self.name}/{self.builder_config.name} {split}",
                    unit="video", file=sys.stderr, dynamic_ncols=True)
    pool = None
    try:
      if workers <= 1:
        results = (process_fn(item) for item in items)
      else:
        # spawn, not fork: a forked child would inherit TensorFlow's and OpenCV's thread state.
        # Workers unpickle only video_example (OpenCV + numpy), never TensorFlow; a TensorFlow
        # flow method runs in this process or its flow processes (device_flow.py).
        with worker_death.main_module_hidden():
          pool = multiprocessing.get_context("spawn").Pool(
              workers, initializer=worker_death.init_worker,
              initargs=(os.getpid(), video_example.init_worker))
        if device_flow.prepare_fn_of(process_fn) is not None:
          # A TensorFlow flow method: workers decode and encode, flow devices batch the pairs.
          threads = device_flow.flow_threads(workers)
          results = device_flow.results(pool, items, process_fn, max_ahead=workers + threads,
                                        threads=threads, flow_processes=self._flow_processes)
        else:
          results = pool.imap_unordered(process_fn, items, chunksize=1)
      for result in results:
        bar.update(1)
        if result.skipped:
          summary["skipped"] += 1
          self._skipped[split].append((result.key, result.path, result.skip_reason))
          log.warning("Skipped %s: %s", result.path, result.skip_reason)
          continue
        summary["built"] += 1
        summary["frames"] += result.num_frames
        yield result.key, result.example
      if not summary["built"]:
        raise EmptySplitError(
            f"{self.name}/{self.builder_config.name}: split '{split}' has no decodable video (all "
            f"{len(items)} were skipped; see {SKIPPED_FILENAME}): the split is left out of this "
            f"build and the other splits are kept. Fix or replace its videos and rebuild with "
            f"--overwrite to add it.")
    finally:
      bar.close()
      if pool is not None:
        pool.terminate()
        pool.join()

  # --- skipped.tsv --------------------------------------------------------------------------

  def _collect_beam_skips(self, split):
    """Beam workers wrote their skips to text parts beside the shards: fold them in, delete them."""
    if not self._use_beam:
      return
    summary = self.build_summary[split]
    for part in sorted(self.data_path.glob(f"{split}-skipped-parts*")):
      for line in part.read_text().splitlines():
        if line:
          key, path, reason = line.split("\t", 2)
          self._skipped[split].append((key, path, reason))
          summary["skipped"] += 1
      part.unlink()
    summary["built"] = summary["listed"] - summary["missing"] - summary["skipped"]

  def _write_skipped_tsv(self):
    rows = [_SKIPPED_HEADER]
    for split in sorted(self._skipped):
      for key, path, reason in sorted(self._skipped[split]):
        reason = " ".join(str(reason).split())  # one line, no tabs
        rows.append(f"{split}\t{key}\t{path}\t{reason}")
    (self.data_path / SKIPPED_FILENAME).write_text("\n".join(rows) + "\n")
    for split, summary in sorted(self.build_summary.items()):
      log.info("%s/%s %s: %d listed, %d built, %d skipped (unreadable), %d missing; see %s",
                  self.name, self.builder_config.name, split, summary["listed"], summary["built"],
                  summary["skipped"], summary["missing"], SKIPPED_FILENAME)

  # --- helpers ------------------------------------------------------------------------------

  @staticmethod
  def _check_paths(items):
    present, missing = [], []
    for item in items:
      if item.path is None or epath.Path(item.path).exists():
        present.append(item)
      else:
        missing.append(item)
    return present, missing

  @staticmethod
  def _manual_dir_for_errors(dl_manager):
    return getattr(dl_manager, "_manual_dir", None)


def read_skipped(version_dir):
  """skipped.tsv of a built dataset version dir -> list of {split, video_id, path, reason}."""
  path = epath.Path(version_dir) / SKIPPED_FILENAME
  lines = path.read_text().splitlines()
  header = lines[0].split("\t")
  return [dict(zip(header, line.split("\t", len(header) - 1))) for line in lines[1:] if line]


# --- Beam generation ------------------------------------------------------------------------

def _skip_line(result):
  return f"{result.key}\t{result.path}\t{' '.join(str(result.skip_reason).split())}"


def _beam_generate(split, items, process_fn, skipped_prefix):
  """A PTransform [] -> (key, example): one element per video, skips written beside the shards."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from datasets.common import flow_workers  # pylint: disable=g-import-not-at-top

  @beam.ptransform_fn
  def generate(pipeline):
    results = (
        pipeline
        | "ListVideos" >> beam.Create(items)
        | "Spread" >> beam.Reshuffle()  # one video per bundle across workers
        | "DecodeFlowEncode" >> beam.ParDo(flow_workers.ProcessVideoDoFn(process_fn)))
    _ = (results
         | "OnlySkipped" >> beam.Filter(lambda r: r.skipped)
         | "SkipLine" >> beam.Map(_skip_line)
         | "WriteSkipped" >> beam.io.WriteToText(skipped_prefix, shard_name_template="-SSSSS"))
    return (results
            | "OnlyBuilt" >> beam.Filter(lambda r: not r.skipped)
            | "KeyExample" >> beam.Map(lambda r: (r.key, r.example)))

  del split
  return generate()  # pylint: disable=no-value-for-parameter
