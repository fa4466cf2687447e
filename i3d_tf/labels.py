"""Label maps: one class name per line, in logit order (the release's data/label_map*.txt format)."""
import os


def read_label_map(path, num_classes=None):
  """Class names from `path`, one per line; checks the count against `num_classes` when given."""
  with open(path, encoding="utf-8") as f:
    names = [line.rstrip("\r\n") for line in f]
  while names and not names[-1].strip():
    names.pop()  # a trailing blank line is not a class
  for i, name in enumerate(names):
    if not name.strip():
      raise ValueError(f"label map {path}: line {i + 1} is empty; expected one class name per line")
  if num_classes is not None and len(names) != num_classes:
    raise ValueError(f"label map {path} has {len(names)} classes; the model has {num_classes} "
                     f"logits")
  return names


def write_label_map(names, path):
  """Writes `names` one per line (no name may contain a newline)."""
  for name in names:
    if "\n" in name or "\r" in name or not name.strip():
      raise ValueError(f"class name {name!r} cannot be written to a label map (empty or has a "
                       f"newline)")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write("".join(f"{name}\n" for name in names))
  return path
