"""Classifying video files with model folder(s): averaged logits over clips and crops, top-k.

The library side of `python -m experiments.classify` (see its docstring): each video goes through
i3d_tf/video/model_input.py; logits of several model folders (an RGB and a Flow one) are summed,
then averaged over clips and crops.
"""
import numpy as np
import tensorflow as tf

from i3d_tf.checkpoints import runs
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
  """Model folder(s) -> averaged logits of a video file."""

  def __init__(self, model_dir, flow_model_dir=None, flow_method=flow_lib.DEFAULT_METHOD):
    self.models = runs.load_model_folders(model_dir, flow_model_dir)
    first_run = self.models[0][1]
    streams = tuple(s for _, _, names, _ in self.models for s in names)
    self.spec = runs.video_input_spec(first_run, flow_method, streams=streams,
                                      min_frames=max(runs.min_frames_of_run(r)
                                                     for _, r, _, _ in self.models))
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
    frames, next_frame = model_input.read_frames(path, self.spec,
                                                 max_frames or self.max_test_frames)
    logits = []
    for start in clip_starts(len(frames), num_clips, clip_frames):
      end = len(frames) if num_clips == 1 else min(start + clip_frames, len(frames))
      after = frames[end] if end < len(frames) else next_frame
      try:
        views = model_input.frames_to_inputs(frames[start:end], self.spec, after, num_crops,
                                             length=None if num_clips == 1 else clip_frames)
      except model_input.CropError as e:
        raise model_input.CropError(f"--num_crops={num_crops}: {e}") from None
      for inputs in views:
        logits.append(self.logits_of_inputs(inputs))
    return np.mean(logits, axis=0), len(frames), len(logits)


def top_k(logits, class_names, k):
  """[{class, index, probability, logit}] of the k most probable classes (softmax of `logits`)."""
  shifted = np.exp(logits - logits.max())
  probabilities = shifted / shifted.sum()
  order = np.argsort(-probabilities, kind="stable")[:k]
  return [{"class": class_names[i], "index": int(i), "probability": float(probabilities[i]),
           "logit": float(logits[i])} for i in order]


