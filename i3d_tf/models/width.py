"""`width_multiplier`: every registered model's channels times m (opt-in reduced configurations).

One rule for all models so that a reduced run of every architecture is the same kind of reduction:
each layer's channels (or units) become round(c * m), at least 1; the logits never change. At 1.0
(the default) a model is exactly the paper's / the release's network, and only then can an ImageNet
Inception-v1 checkpoint initialise it (the shapes of a narrower network cannot match).
"""


def check(multiplier, model_name="model"):
  """The multiplier as a float; a ValueError naming --width_multiplier unless it is positive."""
  try:
    value = float(multiplier)
  except (TypeError, ValueError):
    value = float("nan")
  if not value > 0:
    raise ValueError(f"{model_name}: width_multiplier={multiplier!r} (--width_multiplier): "
                     f"expected a positive number (1.0 = the paper's network)")
  return value


def scaled(channels, multiplier):
  """round(channels * multiplier), at least 1; `channels` itself at 1.0 (the exact layout)."""
  if multiplier == 1.0:
    return channels
  return max(1, int(round(channels * multiplier)))
