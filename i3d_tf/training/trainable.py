"""Which variables train: the classifier layers of a model, and the paper's 'Fixed' fine-tuning.

Read by the Task (--mode=fixed trains only the classifier) and by init.py (the classifier's
variables may differ in shape from a checkpoint's: they stay freshly initialised).
"""
import keras


def classifier_layers(model):
  """The layer(s) that map features to logits: what the paper's 'Fixed' fine-tuning trains.

  I3D and Inception-v1: the 'Logits' block; C3D, 3D-Fused: `logits`; ConvNet+LSTM: `classifier`;
  the two-stream models: each stream's.
  """
  blocks = getattr(model, "blocks", None)
  if isinstance(blocks, dict) and "Logits" in blocks:
    return [blocks["Logits"]]
  for attr in ("logits", "classifier"):
    layer = getattr(model, attr, None)
    if isinstance(layer, keras.layers.Layer):
      return [layer]
  streams = [getattr(model, a) for a in ("rgb", "flow", "rgb_net", "flow_net")
             if isinstance(getattr(model, a, None), keras.Model)]
  if streams:
    return [layer for stream in streams for layer in classifier_layers(stream)]
  raise ValueError(f"--mode=fixed: no classifier layer found in {model.name} (expected a "
                   f"'Logits' block, a `logits` or `classifier` layer, or per-stream models); "
                   f"use --mode=full")


def freeze_all_but_logits(model):
  """The paper's 'Fixed' fine-tuning: only the last layer trains; batch norm stays in inference."""
  classifiers = classifier_layers(model)
  inside = {id(l) for c in classifiers for l in c._flatten_layers(include_self=True)}  # pylint: disable=protected-access
  for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
    holds_classifier = any(id(l) in inside for l in layer._flatten_layers(include_self=True))  # pylint: disable=protected-access
    if not holds_classifier:
      layer.trainable = False  # a frozen batch norm also runs in inference mode
  return [v for c in classifiers for v in c.trainable_variables]
