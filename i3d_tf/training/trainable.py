"""Which variables train: the classifier layers of a model, and the paper's 'Fixed' fine-tuning.

Read by the Task (--mode=fixed trains only the classifier) and by init.py (the classifier's
variables may differ in shape from a checkpoint's: they stay freshly initialised).
"""
from i3d_tf.models.classifier import classifier_layers


def freeze_all_but_logits(model):
  """The paper's 'Fixed' fine-tuning: only the last layer trains; batch norm stays in inference."""
  classifiers = classifier_layers(model)
  inside = {id(l) for c in classifiers for l in c._flatten_layers(include_self=True)}  # pylint: disable=protected-access
  for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
    holds_classifier = any(id(l) in inside for l in layer._flatten_layers(include_self=True))  # pylint: disable=protected-access
    if not holds_classifier:
      layer.trainable = False  # a frozen batch norm also runs in inference mode
  return [v for c in classifiers for v in c.trainable_variables]
