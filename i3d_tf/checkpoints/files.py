"""Reading TensorFlow checkpoint files with errors that name the file and what is wrong with it.

Shared by every loader of foreign checkpoints (DeepMind's release: deepmind.py; slim's ImageNet
Inception-v1: slim.py): a prefix that is a file, an index that is missing, random or cut short, a
data file that is missing or truncated each raise UnreadableCheckpointError naming the file,
instead of TensorFlow's bare "Read less bytes than requested" or "bad magic number".
"""
import os

import numpy as np
import tensorflow as tf


class UnreadableCheckpointError(IOError):
  """A checkpoint file that is missing, truncated or not a checkpoint at all; names the file."""

  def __init__(self, path, problem):
    self.path = path
    super().__init__(f"{path}: {problem}")


def list_variables(path, single_file=False):
  """{name: shape} of the checkpoint at prefix `path`; the errors name the file and the problem.

  single_file: `path` may also be a V1 checkpoint, one file without an index (slim's published
  inception_v1.ckpt).
  """
  index = path + ".index"
  if not os.path.exists(index):
    if os.path.isfile(path) and single_file:
      try:
        return {name: tuple(shape) for name, shape in tf.train.list_variables(path)}
      except (tf.errors.OpError, ValueError, IndexError) as e:
        raise UnreadableCheckpointError(
            path, f"not a readable TensorFlow checkpoint ({os.path.getsize(path)} bytes; "
            f"{_op_message(e)}): neither a V1 checkpoint file nor the prefix of a V2 one "
            f"(PREFIX.index + PREFIX.data-*); corrupt, cut short or of another format") from e
    if os.path.isfile(path):
      raise UnreadableCheckpointError(
          path, f"a file, not a checkpoint prefix: a TensorFlow checkpoint is PREFIX.index plus "
          f"PREFIX.data-*-of-*, and there is no {os.path.basename(index)} beside it")
    raise FileNotFoundError(f"checkpoint index {index} does not exist (pass the checkpoint "
                            f"prefix, e.g. data/checkpoints/rgb_imagenet/model.ckpt)")
  try:
    return {name: tuple(shape) for name, shape in tf.train.list_variables(path)}
  except (tf.errors.OpError, ValueError, IndexError) as e:
    raise UnreadableCheckpointError(
        index, f"not a readable TensorFlow checkpoint index ({os.path.getsize(index)} bytes; "
        f"{_op_message(e)}): the file is corrupt, cut short or of another format") from e


def _op_message(error):
  return getattr(error, "message", None) or str(error) or type(error).__name__


def _data_files(path):
  folder = os.path.dirname(os.path.abspath(path))
  base = os.path.basename(path) + ".data-"
  return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.startswith(base))


def unreadable_values(path, error):
  """Why the tensors of checkpoint `path` cannot be read, naming its data file(s)."""
  if os.path.isfile(path) and not os.path.exists(path + ".index"):  # a V1 single file
    return UnreadableCheckpointError(
        path, f"cannot read the checkpoint's tensors ({os.path.getsize(path)} bytes on disk): "
        f"{_op_message(error)}; the file is truncated or corrupt (a full disk or a copy cut "
        "short?): copy it again")
  files = _data_files(path)
  if not files:
    return UnreadableCheckpointError(
        f"{path}.data-00000-of-00001", f"missing: the index {path}.index lists tensors but "
        "their data file is not there (copy the .data-* file(s) beside the .index)")
  try:
    reader = tf.train.load_checkpoint(path)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    listed = sum(int(np.prod(shapes[n], dtype=np.int64)) * dtypes[n].size for n in shapes)
  except Exception:  # pylint: disable=broad-except
    listed = None
  on_disk = sum(os.path.getsize(f) for f in files)
  sizes = f"{on_disk} bytes on disk" + (
      f", the index lists {listed} bytes of tensors" if listed is not None else "")
  name = files[0] if len(files) == 1 else f"{path}.data-* ({len(files)} files)"
  return UnreadableCheckpointError(
      name, f"cannot read the checkpoint's tensors ({sizes}): {_op_message(error)}; the file is "
      "truncated or corrupt (a full disk or a copy cut short?): copy it again")


def read_tensors(path, names):
  """{name: np.ndarray} of `names` from the checkpoint at prefix `path`, every one read before
  any is returned; a truncated or missing data file raises UnreadableCheckpointError naming it."""
  try:
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in names}
  except (tf.errors.OpError, ValueError, IndexError) as e:
    raise unreadable_values(path, e) from e
