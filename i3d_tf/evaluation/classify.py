"""Classifying video files with model folder(s): averaged logits over clips and crops, top-k;
or per-window logits over a whole video (a timeline: top-k per window, CSV, a plot).

The library side of `python -m experiments.classify` (see its docstring): each video goes through
i3d_tf/video/model_input.py; logits of several model folders (an RGB and a Flow one) are summed,
then averaged over clips and crops.
"""
import csv
import io

import numpy as np
import tensorflow as tf

from i3d_tf.checkpoints import runs
from i3d_tf.video import decode
from i3d_tf.video import flow as flow_lib
from i3d_tf.video import model_input


def clip_starts(num_frames, num_clips, clip_frames):
  """Starts of `num_clips` clips of `clip_frames` evenly spaced over `num_frames` frames."""
  if num_clips == 1:
    return [0]
  last = max(num_frames - clip_frames, 0)
  return sorted({int(round(s)) for s in np.linspace(0, last, num_clips)}) if last else [0]


def _count(number, noun):
  return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def views_text(num_clips, num_crops):
  """'1 clip x 3 crops = 3 views': the views of a video whose logits are averaged, in words
  (singular / plural right), for the lines `python -m experiments.classify` prints."""
  return (f"{_count(num_clips, 'clip')} x {_count(num_crops, 'crop')} = "
          f"{_count(num_clips * num_crops, 'view')}")


def video_done_text(frames, views, num_clips, num_crops, seconds):
  """'250 frames, 4 clips x 3 crops = 12 views, 41.2 s': a classified video's progress line.

  `views` is what Classifier.classify evaluated: fewer clips than `num_clips` (a video too short
  for them, see clip_starts) are said so, not hidden.
  """
  clips = views // num_crops
  fewer = f" (of --num_clips={num_clips}: too few frames)" if clips < num_clips else ""
  return f"{frames} frames, {views_text(clips, num_crops)}{fewer}, {seconds:.1f} s"


class Classifier:
  """Model folder(s) -> averaged logits of a video file (or frame folder), or its timeline."""

  def __init__(self, model_dir, flow_model_dir=None, flow_method=flow_lib.DEFAULT_METHOD,
               input_fps=decode.DEFAULT_FPS, flow_source="auto", as_stored=False,
               shorter_side=decode.DEFAULT_SHORTER_SIDE):
    self.models = runs.load_model_folders(model_dir, flow_model_dir)
    first_run = self.models[0][1]
    streams = tuple(s for _, _, names, _ in self.models for s in names)
    self.spec = runs.video_input_spec(first_run, flow_method, streams=streams,
                                      input_fps=input_fps, flow_source=flow_source,
                                      min_frames=max(runs.min_frames_of_run(r)
                                                     for _, r, _, _ in self.models),
                                      shorter_side=shorter_side,
                                      **model_input.VideoInputSpec.as_stored_fields(as_stored))
    self.max_test_frames = runs.clip_spec_of_run(first_run).max_test_frames
    self.class_names = (runs.class_names(first_run, model_dir) or
                        [f"class_{i}" for i in range(first_run["num_classes"])])
    self._fns = []
    for model, _, names, _ in self.models:
      @tf.function(reduce_retracing=True)
      def fn(inputs, model=model):
        return tf.cast(model(inputs, training=False), tf.float32)  # [B, classes]
      self._fns.append((fn, names))

  def logits_of_inputs(self, inputs):
    """{stream: float32 [T, crop, crop, C]} -> logits [classes], summed over the model folders."""
    total = 0.0
    for fn, names in self._fns:
      batch = {n: inputs[n][None] for n in names}
      total = total + fn(batch[names[0]] if len(names) == 1 else batch).numpy()[0]
    return total

  def classify(self, path, num_clips=1, clip_frames=64, num_crops=1, max_frames=None):
    """(mean logits [classes], frames read, clips x crops evaluated) of one video file."""
    frames, next_frame, flow = model_input.read_frames(path, self.spec,
                                                       max_frames or self.max_test_frames)
    logits = []
    for start in clip_starts(len(frames), num_clips, clip_frames):
      end = len(frames) if num_clips == 1 else min(start + clip_frames, len(frames))
      after = frames[end] if end < len(frames) else next_frame
      try:
        views = model_input.frames_to_inputs(
            frames[start:end], self.spec, after, num_crops,
            length=None if num_clips == 1 else clip_frames,
            flow=None if flow is None else flow[start:end])
      except model_input.CropError as e:
        raise model_input.CropError(f"--num_crops={num_crops}: {e}") from None
      for inputs in views:
        logits.append(self.logits_of_inputs(inputs))
    return np.mean(logits, axis=0), len(frames), len(logits)

  def timeline(self, path, window, stride, num_crops=1, pad="loop"):
    """Per-window logits of a whole video file, streamed (model_input.WindowReader: at most
    window + 1 frames held): ([(Window, logits [classes] averaged over its crop views)], the
    video's frame count)."""
    reader = model_input.WindowReader(self.spec, window, stride, pad, num_crops=num_crops)
    rows = []
    try:
      for w in reader.windows(path):
        rows.append((w, np.mean([self.logits_of_inputs(v) for v in w.views], axis=0)))
    except model_input.CropError as e:
      raise model_input.CropError(f"--num_crops={num_crops}: {e}") from None
    return rows, reader.num_frames


def softmax(logits):
  """Probabilities of logits [..., classes] (the last axis)."""
  shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
  return shifted / shifted.sum(axis=-1, keepdims=True)


def timeline_rows(windows, class_names, k):
  """[(Window, logits)] -> [{index, start_frame, end_frame, start_s, end_s, top_k}] per window."""
  return [{"index": w.index, "start_frame": w.start, "end_frame": w.end,
           "start_s": w.start_s, "end_s": w.end_s, "top_k": top_k(logits, class_names, k)}
          for w, logits in windows]


def timeline_csv(video, rows):
  """CSV text of timeline_rows: a header, then one line per window and rank."""
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(["video", "window", "start_frame", "end_frame", "start_s", "end_s", "rank",
                   "class", "index", "probability"])
  for row in rows:
    for rank, best in enumerate(row["top_k"], 1):
      writer.writerow([video, row["index"], row["start_frame"], row["end_frame"],
                       f"{row['start_s']:.4f}", f"{row['end_s']:.4f}", rank, best["class"],
                       best["index"], f"{best['probability']:.6f}"])
  return text.getvalue()


def plot_timeline(path, windows, class_names, num_classes=5, title=None):
  """A PNG at `path` of the probabilities over time (window centres, seconds) of the
  `num_classes` classes most probable on average over the windows (matplotlib, Agg)."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  probabilities = softmax(np.stack([logits for _, logits in windows]))  # [windows, classes]
  centres = [(w.start_s + w.end_s) / 2 for w, _ in windows]
  best = np.argsort(-probabilities.mean(axis=0), kind="stable")[:num_classes]
  figure, axes = plt.subplots(figsize=(10, 4))
  for i in best:
    axes.plot(centres, probabilities[:, i], marker="o", markersize=3, label=class_names[i])
  axes.set_xlabel("time (s, window centre)")
  axes.set_ylabel("probability")
  axes.set_ylim(0, 1)
  axes.set_title(title or "")
  axes.legend(loc="upper right", fontsize="small")
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)
  return [class_names[i] for i in best]


def top_k(logits, class_names, k):
  """[{class, index, probability, logit}] of the k most probable classes (softmax of `logits`)."""
  shifted = np.exp(logits - logits.max())
  probabilities = shifted / shifted.sum()
  order = np.argsort(-probabilities, kind="stable")[:k]
  return [{"class": class_names[i], "index": int(i), "probability": float(probabilities[i]),
           "logit": float(logits[i])} for i in order]


