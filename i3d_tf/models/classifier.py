"""The classifier of any registered model: the layer(s) that map features to logits.

What the paper's 'Fixed' fine-tuning trains, and what `--init` keeps fresh when the number of
classes changes. A property of the architectures, so it sits with them, below training.
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
