"""Learning-rate schedules by `--lr_schedule` name: the release's RGB and Flow schedules, plateau, cosine.

Our reading of the release and the paper (documented because the release ships no training code):
- RGB (kinetics-i3d README): SGD momentum 0.9, lr 0.1, 0.01 from step 97k, 0.001 from 108k, stopped at
  115k. With `--train_steps` other than 115k the boundaries keep their fractions of the run (97/115,
  108/115), so `--train_steps=115000` gives exactly the release's.
- Flow (kinetics-i3d README, "Provided checkpoints"): lr 0.1, 0.01 from 97k, 0.001 from 104.5k,
  then, because the Flow models needed more training after 115k, a restart at 0.1 from 115k,
  0.01 from 140k, 0.001 from 150k, stopped at 155k. As fractions of 155k for other run lengths.
- plateau (the paper, section 3): lr divided by 10 when the validation loss has not improved for
  `patience` evaluations (state in the checkpoint, so a resumed run keeps its reductions).
- cosine: half-cosine decay from the base lr to 0 over the run; constant: the base lr throughout.
- Any schedule may start with a linear warm-up over `warmup_steps` (not in the release; the
  reduced configurations use it: small batches are unstable at full lr in their first steps).
Every schedule is a function of the step (plus the checkpointed plateau factor), so a resumed run
continues on the same curve.
"""
import math

import tensorflow as tf

from i3d_tf import config

SCHEDULES = config.LR_SCHEDULES  # --lr_schedule's choices, declared with the setting

RELEASE_RGB_STEPS = 115_000
RELEASE_RGB_BOUNDARIES = (97_000, 108_000)
RELEASE_FLOW_STEPS = 155_000
# (start step, multiple of the base lr) of each stage of the Flow schedule, in the release's steps.
RELEASE_FLOW_STAGES = ((0, 1.0), (97_000, 0.1), (104_500, 0.01), (115_000, 1.0), (140_000, 0.1),
                       (150_000, 0.01))


def _stages_factor(step, total_steps, release_total, stages):
  fraction = step / max(total_steps, 1)
  factor = stages[0][1]
  for start, multiple in stages:
    if fraction >= start / release_total:
      factor = multiple
  return factor


class Schedule:
  """lr(step) for one named schedule; `plateau` carries its reduction factor as tf.Variables."""

  def __init__(self, name, base_lr, total_steps, patience=2, min_delta=1e-3, min_lr=1e-6,
               warmup_steps=0):
    if name not in SCHEDULES:
      raise ValueError(f"--lr_schedule={name!r} is not one of: {', '.join(SCHEDULES)}")
    self.name = name
    self.base_lr = float(base_lr)
    self.total_steps = int(total_steps)
    self.patience = patience
    self.min_delta = min_delta
    self.min_lr = min_lr
    self.warmup_steps = int(warmup_steps)
    # Plateau state, saved with the checkpoint (see `trackables`).
    self.plateau_factor = tf.Variable(1.0, trainable=False, dtype=tf.float64, name="plateau_factor")
    self.best_loss = tf.Variable(math.inf, trainable=False, dtype=tf.float64, name="best_loss")
    self.bad_evals = tf.Variable(0, trainable=False, dtype=tf.int64, name="bad_evals")

  def trackables(self):
    return {"plateau_factor": self.plateau_factor, "best_loss": self.best_loss,
            "bad_evals": self.bad_evals}

  def __call__(self, step):
    """The learning rate of `step` (0-based), times a linear warm-up factor when asked."""
    step = int(step)
    lr = self._lr(step)
    if self.warmup_steps and step < self.warmup_steps:
      lr *= (step + 1) / self.warmup_steps
    return lr

  def _lr(self, step):
    if self.name == "release_rgb":
      stages = ((0, 1.0), (RELEASE_RGB_BOUNDARIES[0], 0.1), (RELEASE_RGB_BOUNDARIES[1], 0.01))
      return self.base_lr * _stages_factor(step, self.total_steps, RELEASE_RGB_STEPS, stages)
    if self.name == "release_flow":
      return self.base_lr * _stages_factor(step, self.total_steps, RELEASE_FLOW_STEPS,
                                           RELEASE_FLOW_STAGES)
    if self.name == "plateau":
      return max(self.base_lr * float(self.plateau_factor.numpy()), self.min_lr)
    if self.name == "cosine":
      progress = min(step / max(self.total_steps, 1), 1.0)
      return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return self.base_lr

  def observe_validation_loss(self, loss):
    """For `plateau`: divide the lr by 10 after `patience` evaluations without improvement.

    Returns True when it reduced the lr. Other schedules ignore validation losses.
    """
    if self.name != "plateau" or not math.isfinite(loss):
      return False
    if loss < float(self.best_loss.numpy()) - self.min_delta:
      self.best_loss.assign(loss)
      self.bad_evals.assign(0)
      return False
    self.bad_evals.assign_add(1)
    if int(self.bad_evals.numpy()) >= self.patience:
      self.plateau_factor.assign(self.plateau_factor * 0.1)
      self.bad_evals.assign(0)
      return True
    return False
