"""Trains a model on synthetic_motion clips rendered afresh at every step: no clip is seen twice.

A diagnostic for the miniature (experiments/configs/synthetic.py): on the built set's 320 training
clips a model can memorise each clip's textures; here it cannot, so a held-out top-1 at chance means
the model does not learn the motion at all, not that it memorised. Same reduced configuration as
the miniature (quarter width, 56 px crops of 64 px frames, batch 8, SGD momentum 0.9, warm-up then
cosine, batch-norm decay 0.9, no dropout), loss on every step of per-step logits as in training.

  python -m benchmarks.synthetic_online_training --model=lstm --steps=2400
  python -m benchmarks.synthetic_online_training --model=lstm --lstm_gamma_init=1.0
  python -m benchmarks.synthetic_online_training --model=i3d_rgb --steps=600   # a control

Training clips use seeds from 10,000,000 and held-out clips from 20,000,000 up, both far from the
built set's. Prints training loss / top-1 (last 100 steps) and held-out top-1 per class.
"""
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

from i3d_tf import entry
from i3d_tf.models import registry
from i3d_tf.video import synthetic

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "lstm", ["lstm", "i3d_rgb"], "The RGB model to train.")
flags.DEFINE_integer("steps", 600, "Training steps (batch 8, fresh clips every step).")
flags.DEFINE_float("learning_rate", 0.01, "Peak learning rate (warm-up then cosine to 0).")
flags.DEFINE_integer("frame_stride", 1, "Take every n-th of the 16 rendered frames.")
flags.DEFINE_integer("eval_every", 100, "Evaluate on the held-out clips every this many steps.")
flags.DEFINE_integer("num_test", 96, "Held-out clips (12 per class).")
flags.DEFINE_integer("seed", 0, "TensorFlow seed.")
flags.DEFINE_float("lstm_gamma_init", None, "--model=lstm: initial gamma of the recurrent batch "
                   "norms (default: the model's, Cooijmans et al.'s 0.1; the miniature's: 1.0).")

TRAIN_SEEDS, TEST_SEEDS = 10_000_000, 20_000_000
FRAMES, SIZE, CROP, BATCH = 16, 64, 56, 8


def _render(seed, frames):
  """The clip of `seed` (its label cycles with the seed: balanced classes), every
  --frame_stride-th frame: [T, 64, 64, 3] uint8, label."""
  label = seed % synthetic.NUM_CLASSES
  clip, _ = synthetic.render(label, seed, FRAMES, SIZE, SIZE)
  return clip[::FLAGS.frame_stride][:frames], label


def _to_model_range(clip):
  return tf.cast(clip, tf.float32) / 127.5 - 1.0


def _training_clips(frames):
  """Batches of fresh clips, randomly cropped: no clip is seen twice."""
  def fresh_clips():
    seed = TRAIN_SEEDS
    while True:
      yield _render(seed, frames)
      seed += 1
  train = tf.data.Dataset.from_generator(fresh_clips, output_signature=(
      tf.TensorSpec([frames, SIZE, SIZE, 3], tf.uint8), tf.TensorSpec([], tf.int64)))
  return train.map(lambda c, y: (_to_model_range(tf.image.random_crop(c, [frames, CROP, CROP, 3])),
                                 y)).batch(BATCH).prefetch(2)


def _held_out_clips(frames):
  """The held-out clips, centre-cropped: [N, T, 56, 56, 3] float32 in [-1, 1], labels [N]."""
  offset = (SIZE - CROP) // 2
  held_out = [_render(TEST_SEEDS + i, frames) for i in range(FLAGS.num_test)]
  clips = _to_model_range(np.stack([c[:, offset:offset + CROP, offset:offset + CROP]
                                    for c, _ in held_out]))
  return clips, np.array([y for _, y in held_out])


def _model(example):
  """The miniature's reduced model (quarter width, no dropout, batch-norm decay 0.9), built."""
  options = dict(width_multiplier=0.25, dropout_rate=0.0)
  if FLAGS.model == "i3d_rgb":
    options["final_pool_padding"] = "SAME"
  if FLAGS.lstm_gamma_init is not None:
    if FLAGS.model != "lstm":
      raise app.UsageError(f"--lstm_gamma_init applies to --model=lstm only, not {FLAGS.model}")
    options["lstm_gamma_init"] = FLAGS.lstm_gamma_init
  model = registry.build_model(FLAGS.model, synthetic.NUM_CLASSES, **options)
  model(example, training=False)  # builds the variables
  for layer in model._flatten_layers():  # pylint: disable=protected-access
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.momentum = 0.9
  return model


def _train_step_fn(model):
  """SGD momentum 0.9, warm-up then cosine; the loss on every step of per-step logits."""
  warmup = min(100, FLAGS.steps // 10)
  schedule = keras.optimizers.schedules.CosineDecay(
      0.0, max(FLAGS.steps - warmup, 1), warmup_target=FLAGS.learning_rate, warmup_steps=warmup)
  optimizer = keras.optimizers.SGD(schedule, momentum=0.9)

  @tf.function
  def train_step(clips, labels):
    with tf.GradientTape() as tape:
      logits = model(clips, training=True)  # [B, classes] or per step [B, T, classes]
      if logits.shape.rank == 3:
        labels_per_step = tf.repeat(labels[:, None], tf.shape(logits)[1], axis=1)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels_per_step, logits))
        logits = logits[:, -1]
      else:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, tf.reduce_mean(tf.cast(tf.argmax(logits, -1) == labels, tf.float32))
  return train_step


def _held_out_top1(model, test_x, test_y):
  """Top-1 over the held-out clips, and per class."""
  predictions = np.concatenate([np.argmax(model(test_x[i:i + BATCH], training=False), -1)
                                for i in range(0, len(test_y), BATCH)])
  per_class = [float(np.mean(predictions[test_y == c] == c))
               for c in range(synthetic.NUM_CLASSES)]
  return float(np.mean(predictions == test_y)), per_class


def main(argv):
  del argv
  tf.random.set_seed(FLAGS.seed)
  frames = FRAMES // FLAGS.frame_stride
  test_x, test_y = _held_out_clips(frames)
  model = _model(test_x[:1])
  train_step = _train_step_fn(model)
  started, losses, top1s = time.time(), [], []
  for step, (clips, labels) in enumerate(_training_clips(frames).take(FLAGS.steps), start=1):
    loss, top1 = train_step(clips, labels)
    losses.append(float(loss))
    top1s.append(float(top1))
    if step % FLAGS.eval_every == 0 or step == FLAGS.steps:
      top1_held_out, per_class = _held_out_top1(model, test_x, test_y)
      print(f"step {step} ({time.time() - started:.0f} s): training loss "
            f"{np.mean(losses[-100:]):.3f} top-1 {np.mean(top1s[-100:]):.3f}; held-out top-1 "
            f"{top1_held_out:.3f}, per class {' '.join(f'{a:.2f}' for a in per_class)}",
            flush=True)


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
