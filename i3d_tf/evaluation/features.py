"""Sliding-window features of whole videos: one [windows, dims] array per video, resumable.

`Extractor` holds model folder(s) and runs any endpoint of each stream on a window's inputs;
`extract_video` streams one video file through model_input.WindowReader (at most window + 1 decoded
frames held), writes its features and their window times (npy: <key>.npy and <key>_times.json; npz:
one <key>.npz) atomically and returns its record. `Progress` is the resumable
log of an output folder: a video is done once its record is in progress.jsonl (appended after its
files are renamed into place), so a rerun after kill -9 skips it; a video that cannot be decoded is
recorded as skipped with its reason. `write_index` writes index.tsv, windows.tsv and skipped.tsv
atomically from that log. The same `extract_video` runs locally or in a Beam DoFn.
"""
import dataclasses
import json
import os
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from i3d_tf.checkpoints import runs
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import model_input

POOLS = ("mean", "time", "none")
COMBINES = ("concat", "separate")
OUTPUT_FORMATS = ("npy", "npz")
TIMES_SUFFIX = "_times.json"  # beside <key>.npy: the windows' frames and seconds, and the fps
PROGRESS = "progress.jsonl"


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
  """Everything that decides a video's features (the same in every Beam worker)."""
  model_dir: str
  flow_model_dir: Optional[str] = None
  endpoint: str = "Mixed_5c"
  streams: Optional[Sequence[str]] = None  # None: every stream of the model(s)
  combine: str = "concat"
  pool: str = "mean"
  window: int = 64
  stride: int = 64
  pad: str = "loop"
  flow_method: str = flow_lib.DEFAULT_METHOD
  crops: int = 1  # model_input.CROP_COUNTS; > 1 adds a crops axis: [windows, crops, dims...]
  output_format: str = "npy"  # npy: <key>.npy + <key>_times.json; npz: one <key>.npz of both
  input_fps: float = decode.DEFAULT_FPS  # frame folders' rate (video files carry their own)
  flow_source: str = "auto"  # model_input.FLOW_SOURCES: a frame folder's flow frames or TV-L1
  as_stored: bool = False  # frames through a build's storage (model_input.as_stored)
  shorter_side: int = decode.DEFAULT_SHORTER_SIDE  # frames resized to it before the crop
  align: str = "start"  # model_input.ALIGNS: window k starts at frame k*stride or is centred on it

  def __post_init__(self):
    if self.pool not in POOLS:
      raise ValueError(f"--pool={self.pool}: expected one of {POOLS}")
    if self.combine not in COMBINES:
      raise ValueError(f"--combine={self.combine}: expected one of {COMBINES}")
    if self.window < 1 or self.stride < 1:
      raise ValueError(f"--window={self.window} --stride={self.stride}: both must be >= 1 frame")
    if self.output_format not in OUTPUT_FORMATS:
      raise ValueError(f"--output_format={self.output_format}: expected one of {OUTPUT_FORMATS}")
    if self.align not in model_input.ALIGNS:
      raise ValueError(f"--align={self.align}: expected one of {model_input.ALIGNS}")
    if self.crops not in model_input.CROP_COUNTS:
      raise ValueError(f"--crops={self.crops}: expected one of {model_input.CROP_COUNTS}")


def pool_features(value, pool):
  """An endpoint's [T', h, w, C] (or [C]) -> [C] ('mean' over T', h, w), [T', C] ('time': mean
  over h, w) or itself ('none')."""
  if value.ndim != 4 or pool == "none":
    return value
  if pool == "mean":
    return value.mean(axis=(0, 1, 2))
  return value.mean(axis=(1, 2))


class Extractor:
  """Model folder(s) -> per-stream endpoint features of a window's inputs."""

  def __init__(self, config):
    self.config = config
    loaded = runs.load_model_folders(config.model_dir, config.flow_model_dir)
    stream_models = {}
    for model, run, names, folder in loaded:
      parts = getattr(model, "streams", None)
      if len(names) == 1:
        stream_models[names[0]] = model
      elif isinstance(parts, dict) and set(parts) == set(names):
        stream_models.update(parts)  # the two-stream I3D's own RGB and Flow I3Ds
      else:
        raise ValueError(f"{folder} holds {run['model']}, whose streams are not separate "
                         f"models: extract its Logits per stream is not possible")
    wanted = tuple(config.streams or stream_models)
    missing = [s for s in wanted if s not in stream_models]
    if missing:
      raise ValueError(f"--streams={','.join(wanted)}: the model folder(s) have only "
                       f"{','.join(stream_models)}")
    self.streams = wanted
    self.runs = [run for _, run, _, _ in loaded]
    for name in wanted:
      if not hasattr(stream_models[name], "call_with_endpoints"):
        raise ValueError(f"the {name} model ({stream_models[name].name}) does not expose "
                         f"endpoints")
    self.spec = runs.video_input_spec(
        loaded[0][1], config.flow_method, streams=wanted, input_fps=config.input_fps,
        flow_source=config.flow_source,
        min_frames=max(runs.min_frames_of_run(r) for _, r, _, _ in loaded),
        shorter_side=config.shorter_side,
        **model_input.VideoInputSpec.as_stored_fields(config.as_stored))
    endpoint = config.endpoint
    self._fns = {}
    for name in wanted:
      model = stream_models[name]

      @tf.function(reduce_retracing=True)
      def fn(inputs, model=model):
        _, endpoints = model.call_with_endpoints(inputs, training=False)
        if endpoint not in endpoints:
          raise ValueError(f"--endpoint={endpoint} is not one of {', '.join(endpoints)}")
        return tf.cast(endpoints[endpoint], tf.float32)
      self._fns[name] = fn

  def window_features(self, inputs):
    """{stream: float32 [T, crop, crop, C]} -> {stream: pooled features of the endpoint}."""
    return {name: pool_features(self._fns[name](inputs[name][None]).numpy()[0], self.config.pool)
            for name in self.streams}

  def views_features(self, views):
    """A window's views [{stream: float32 [T, crop, crop, C]}] -> {stream: pooled features},
    [dims...] for one view (as window_features), else [views, dims...] (one batch per stream)."""
    if len(views) == 1:
      return self.window_features(views[0])
    out = {}
    for name in self.streams:
      batch = self._fns[name](np.stack([v[name] for v in views])).numpy()  # [views, ...]
      out[name] = np.stack([pool_features(b, self.config.pool) for b in batch])
    return out


def output_names(key, streams, combine, output_format="npy"):
  """{part: file name relative to the output folder} of a video's features (npy: with its
  'times' file; npz: the one file of every part)."""
  if output_format == "npz":
    return {"npz": f"{key}.npz"}
  names = {"all": f"{key}.npy"} if combine == "concat" else {s: f"{key}.{s}.npy" for s in streams}
  names["times"] = f"{key}{TIMES_SUFFIX}"
  return names


def window_times(windows, fps):
  """[[start, end, start_s, end_s(, centre, centre_s)]] window rows -> {fps, start_frame,
  end_frame, start_s, end_s(, centre_frame, centre_s)}: the video frames [start, end) each window
  holds (fewer than --window where padded at an end), seconds = frame / fps; centred windows
  (--align=centre) also the frame each is centred on."""
  starts = [int(w[0]) for w in windows]
  ends = [int(w[1]) for w in windows]
  times = {"fps": float(fps), "start_frame": starts, "end_frame": ends,
           "start_s": [s / fps for s in starts], "end_s": [e / fps for e in ends]}
  if windows and len(windows[0]) > 4:
    centres = [int(w[4]) for w in windows]
    times.update(centre_frame=centres, centre_s=[c / fps for c in centres])
  return times


def _save_atomically(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp-{os.getpid()}.npy"
  np.save(tmp, array)
  os.replace(tmp, path)


def _save_npz_atomically(path, arrays):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "wb") as f:
    np.savez(f, **arrays)
  os.replace(tmp, path)


def extract_video(extractor, path, key, output_dir, label=-1):
  """Features of every window of one video file -> its .npy file(s); returns its record.

  Raises decode.VideoDecodeError for a video that cannot be decoded (nothing written).
  """
  config = extractor.config
  reader = model_input.WindowReader(extractor.spec, config.window, config.stride, config.pad,
                                    num_crops=config.crops, align=config.align)
  per_stream = {s: [] for s in extractor.streams}
  windows = []
  try:
    for window in reader.windows(path):
      for name, value in extractor.views_features(window.views).items():
        per_stream[name].append(value)
      row = [window.start, window.end, round(window.start_s, 4), round(window.end_s, 4)]
      if window.centre is not None:
        row += [window.centre, round(window.centre_s, 4)]
      windows.append(row)
  except model_input.CropError as e:
    raise model_input.CropError(f"--crops={config.crops}: {e}") from None
  arrays = {s: np.stack(v) for s, v in per_stream.items()}  # [windows, (crops,) dims...]
  if config.combine == "concat":
    arrays = {"all": np.concatenate([arrays[s] for s in extractor.streams], axis=-1)}
  times = window_times(windows, extractor.spec.fps)
  shape = list(next(iter(arrays.values())).shape)
  files = output_names(key, extractor.streams, config.combine, config.output_format)
  if config.output_format == "npz":  # features (concat) or rgb, flow (separate), times, fps
    content = {("features" if part == "all" else part): a for part, a in arrays.items()}
    content.update({k: np.asarray(v, np.float64 if k.endswith("_s") or k == "fps" else np.int64)
                    for k, v in times.items()})
    _save_npz_atomically(os.path.join(output_dir, files["npz"]), content)
  else:
    for part, name in files.items():
      if part != "times":
        _save_atomically(os.path.join(output_dir, name), arrays[part])
    _write_atomically(os.path.join(output_dir, files["times"]), json.dumps(times, indent=1))
  return {"key": key, "status": "done", "source": path, "label": label,
          "files": list(files.values()), "shape": shape, "fps": times["fps"],
          "frames": reader.num_frames, "windows": windows,
          "peak_frames_held": reader.peak_frames_held}


class Progress:
  """output_dir/progress.jsonl: one JSON record per finished (done or skipped) video."""

  def __init__(self, output_dir):
    self.path = os.path.join(output_dir, PROGRESS)
    self.records = {}
    if os.path.exists(self.path):
      with open(self.path, encoding="utf-8") as f:
        for line in f:
          try:
            record = json.loads(line)
          except ValueError:
            continue  # a line cut by a kill: that video is redone
          self.records[record["key"]] = record

  def done(self, key):
    return key in self.records

  def add(self, record):
    """Appends `record` (one write + fsync, so a kill leaves whole lines or a cut last line)."""
    self.records[record["key"]] = record
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(json.dumps(record) + "\n")
      f.flush()
      os.fsync(f.fileno())


def run_one(extractor, path, key, output_dir, label=-1):
  """extract_video, or a 'skipped' record naming why the video could not be decoded."""
  try:
    return extract_video(extractor, path, key, output_dir, label)
  except decode.VideoDecodeError as e:
    return {"key": key, "status": "skipped", "source": path, "reason": e.reason}


def _write_atomically(path, text):
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)


def write_index(output_dir, keys, records):
  """index.tsv (done videos, in `keys` order), windows.tsv and skipped.tsv, each atomically."""
  index = ["key\tlabel\tsource\tshape\tframes\tfiles"]
  # centre_frame, centre_s: filled for centred windows (--align=centre), else empty.
  windows = ["key\twindow\tstart_frame\tend_frame\tstart_s\tend_s\tcentre_frame\tcentre_s"]
  skipped = ["key\tsource\treason"]
  for key in keys:
    record = records.get(key)
    if record is None:
      continue
    if record["status"] == "skipped":
      skipped.append(f"{key}\t{record['source']}\t{record['reason']}")
      continue
    index.append(f"{key}\t{record.get('label', -1)}\t{record['source']}\t"
                 f"{'x'.join(map(str, record['shape']))}\t{record.get('frames', '')}\t"
                 f"{','.join(record['files'])}")
    for i, window in enumerate(record.get("windows", [])):
      fields = list(map(str, window)) + [""] * (6 - len(window))
      windows.append(f"{key}\t{i}\t" + "\t".join(fields))
  _write_atomically(os.path.join(output_dir, "index.tsv"), "\n".join(index) + "\n")
  _write_atomically(os.path.join(output_dir, "windows.tsv"), "\n".join(windows) + "\n")
  _write_atomically(os.path.join(output_dir, "skipped.tsv"), "\n".join(skipped) + "\n")
  return len(index) - 1, len(skipped) - 1
