"""Classification metrics over a whole evaluation: top-k, per-class accuracy, confusion, fusion.

Inputs are numpy arrays: logits float [N, num_classes], labels int [N].
"""
import numpy as np


def top_k_accuracy(logits, labels, k):
  """Fraction of examples whose label is among the k largest logits."""
  logits = np.asarray(logits)
  labels = np.asarray(labels)
  if len(labels) == 0:
    return float("nan")
  k = min(k, logits.shape[1])
  top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
  return float(np.mean(np.any(top == labels[:, None], axis=1)))


def confusion_matrix(logits, labels, num_classes):
  """int64 [num_classes, num_classes]: rows true class, columns predicted class."""
  predictions = np.argmax(logits, axis=1)
  matrix = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(matrix, (np.asarray(labels), predictions), 1)
  return matrix


def per_class_accuracy(logits, labels, num_classes):
  """float [num_classes]: accuracy of each class (nan for a class with no examples)."""
  matrix = confusion_matrix(logits, labels, num_classes)
  totals = matrix.sum(axis=1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def mean_cross_entropy(logits, labels):
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  return float(-np.mean(log_probs[np.arange(len(labels)), np.asarray(labels)]))


def summary(logits, labels, num_classes=None):
  """{'top1', 'top5', 'loss', 'mean_class_accuracy', 'num_examples'} of one evaluation."""
  num_classes = num_classes or np.asarray(logits).shape[1]
  per_class = per_class_accuracy(logits, labels, num_classes)
  return {"top1": top_k_accuracy(logits, labels, 1), "top5": top_k_accuracy(logits, labels, 5),
          "loss": mean_cross_entropy(logits, labels),
          "mean_class_accuracy": float(np.nanmean(per_class)) if len(labels) else float("nan"),
          "num_examples": int(len(labels))}


def fuse_two_stream(logits_a, logits_b):
  """Two-stream fusion as the release does it: the sum of the two streams' logits."""
  logits_a, logits_b = np.asarray(logits_a), np.asarray(logits_b)
  if logits_a.shape != logits_b.shape:
    raise ValueError(f"cannot fuse logits of shapes {logits_a.shape} and {logits_b.shape}: the two "
                     f"runs must cover the same videos in the same order and classes")
  return logits_a + logits_b


def mean_over_splits(split_metrics):
  """{'top1': mean, ...} over a list of per-split metric dicts (the paper's 3-split average)."""
  keys = [k for k in split_metrics[0] if isinstance(split_metrics[0][k], (int, float))]
  return {k: float(np.mean([m[k] for m in split_metrics])) for k in keys}
