"""Model folders for the pretrained-model tests: release-layout checkpoints imported, small crops."""
import numpy as np

from i3d_tf.checkpoints import import_release
from tests import deepmind_fixtures as fx

CLASSES = [f"action {i}" for i in range(7)]
CROP = 64  # under 224: the final pool is SAME (the release's VALID pool needs 224 px)


def release_checkpoint(folder, stream="rgb", num_classes=len(CLASSES), seed=0):
  """A random-valued checkpoint in the release's layout (RGB/ or Flow/inception_i3d scope)."""
  channels, scope = {"rgb": (3, "RGB/inception_i3d"), "flow": (2, "Flow/inception_i3d")}[stream]
  values = fx.random_values(fx.model_layout(channels, num_classes, scope), seed=seed)
  return fx.write_checkpoint(folder / stream / "model.ckpt", values)


def label_map(folder, names=CLASSES):
  path = folder / "label_map.txt"
  path.write_text("".join(f"{n}\n" for n in names))
  return str(path)


def imported_folder(root, stream="rgb", crop=CROP, names=CLASSES, seed=0):
  """import_deepmind_checkpoint's model folder of a random release-layout checkpoint."""
  checkpoint = release_checkpoint(root / "release", stream, len(names), seed)
  out = root / f"imported_{stream}"
  import_release.import_checkpoint(checkpoint, str(out), label_map(root, names),
                                   crop_size=crop, final_pool_padding="SAME")
  return out


def centre_crop_scaled(frames, size):
  """uint8 [T, H, W, 3] -> float32 [T, size, size, 3] in [-1, 1], computed here, not by
  model_input."""
  top, left = (frames.shape[1] - size) // 2, (frames.shape[2] - size) // 2
  return frames[:, top:top + size, left:left + size].astype(np.float32) / 127.5 - 1.0
