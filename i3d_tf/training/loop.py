"""The custom training loop: one program for one device, MirroredStrategy and MultiWorkerMirrored.

Keras 3's `model.fit` under MultiWorkerMirroredStrategy is broken (keras#20585), so each step is a
`strategy.run` of a replica step: softmax cross-entropy averaged over the GLOBAL batch
(tf.nn.compute_average_loss), L2 weight decay on the conv kernels scaled by 1/replicas so the
all-reduced sum counts it once, SGD with momentum, gradients all-reduced by the optimizer.

A run is resumable: a tf.train.Checkpoint (model, optimizer slots, step, schedule state) is written
every `checkpoint_every` steps, at the end, and on SIGTERM (preemption; all workers agree through an
all-reduce of the flag so they stop at the same step); a rerun with the same model_dir continues at
the saved step on the same schedule, also after `kill -9`. The binaries end a run stopped by
SIGTERM with PREEMPTED_EXIT_CODE (143), a finished one with 0, so that a scheduler or a script
tells them apart. A NaN or Inf loss stops the run with
NonFiniteLossError before anything is saved, so the last good checkpoint stays intact.
Multi-worker: a peer lost mid-training (stopped, dead, or not joining an all-reduce within
--cluster_wait_seconds) ends each remaining task with distribute.PeerLostError naming it.

What a run leaves in model_dir: ckpt-* checkpoints, TensorBoard scalars (train/ and eval/: loss,
top-1, top-5, learning rate, clips/s), `metrics.json` rewritten after every evaluation, a SavedModel
in `saved_model/` at the end, and `.run.lock` (see run_lock). A resume reads every tensor of the
newest checkpoint back before restoring it: one cut short is named in a warning and the newest
readable one is used instead.
"""
import contextlib
import json
import logging as pylogging
import math
import os
import signal
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2
import tqdm

from i3d_tf.checkpoints import run_checkpoints
from i3d_tf.data import pipeline
from i3d_tf.evaluation import metrics as metrics_lib
from i3d_tf.evaluation import predict
from i3d_tf.training import distribute

log = pylogging.getLogger("i3d_tf.training")

# The exit status of a binary whose run stopped on SIGTERM after saving its checkpoint (train()
# returned 'preempted'): 128 + 15, what a shell reports for a process ended by SIGTERM, so that a
# scheduler or script never takes a preempted run for a finished one (status 0).
PREEMPTED_EXIT_CODE = 128 + int(signal.SIGTERM)


class NonFiniteLossError(RuntimeError):
  """The training loss became NaN or Inf; nothing was saved after the last good checkpoint."""




def _scalar_metadata():
  """TensorBoard's scalar-plugin metadata, built from TF's own proto (tensorboard not needed)."""
  metadata = summary_pb2.SummaryMetadata()
  metadata.plugin_data.plugin_name = "scalars"
  return metadata.SerializeToString()


def write_scalar(name, value, step):
  """tf.summary.scalar without the tensorboard package: TensorBoard shows it as a scalar."""
  tf.summary.write(name, tf.constant(float(value), tf.float32), step=step,
                   metadata=_scalar_metadata())


def _is_kernel(variable):
  return variable.path.endswith("kernel") if hasattr(variable, "path") else "kernel" in variable.name


class Trainer:
  """Builds the task's model and optimizer under `strategy`, restores or initialises, and trains.

  Args:
    task: a task.Task: the model (built with its variables), which variables train, the
      schedule, the training dataset (`train_dataset(input_context, seed)`; the seed differs on
      resume so a resumed run does not replay the clips it already saw), the evaluation dataset
      (when `task.has_eval`), the export and the run_info written to run_config.json.
    config: the config.TrainerConfig (steps, global batch, optimizer, cadences, seed).
    runtime: the config.RuntimeConfig (model_dir, export_saved_model, progress_bar).
    strategy: a tf.distribute strategy (see distribute.make_strategy).
  """

  def __init__(self, task, config, runtime, strategy):
    self.task = task
    self.config = config
    self.runtime = runtime
    self.model_dir = runtime.model_dir
    self.strategy = strategy
    self.schedule = task.schedule()
    self.train_dataset_fn = task.train_dataset
    self.eval_dataset_fn = task.eval_dataset if task.has_eval else None
    self.export_fn = task.export
    self.run_info = task.run_info()
    self.is_chief = distribute.is_chief(strategy)
    self._preempted = False
    tf.io.gfile.makedirs(self.model_dir)

    with strategy.scope():
      self.model = task.build_model()
      self.train_variables = task.trainable_variables(self.model)
      optimizer = keras.optimizers.SGD(learning_rate=self.schedule(0), momentum=config.momentum)
      if config.mixed_precision == "mixed_float16":
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
      optimizer.build(self.train_variables)
      self.optimizer = optimizer
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                              aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    # Every model variable under its attribute path, the optimizer's slots under their variable's
    # (see run_checkpoints.checkpoint_variables for older runs).
    self.checkpoint = tf.train.Checkpoint(model=self._checkpointed_model(),
                                          **self._checkpointed_state())
    self._ckpt_dir = distribute.write_dir(self.model_dir, strategy)
    self.manager = tf.train.CheckpointManager(self.checkpoint, self._ckpt_dir,
                                              max_to_keep=config.keep_checkpoints)
    self.last_saved_step = None

  # ------------------------------------------------------------------------------------------------
  # Checkpoints.

  def _checkpointed_model(self):
    return self.model

  def _checkpointed_state(self, optimizer=None):
    return dict(optimizer=optimizer or run_checkpoints.optimizer_state(self.optimizer),
                step=self.step, **self.schedule.trackables())

  def restore_or_initialize(self, init_fn=None):
    """Resumes from model_dir's newest readable checkpoint; without one, calls init_fn(model).

    Returns the step the run starts at.
    """
    latest = run_checkpoints.newest_readable_checkpoint(self.model_dir)
    if latest:
      checkpoint = self.checkpoint
      if run_checkpoints.is_legacy_checkpoint(latest):  # a run made before variables had paths
        log.info("%s has the older layout (variables by release name or position): reading it; "
                 "the next checkpoint has paths", latest)
        checkpoint = tf.train.Checkpoint(
            model=run_checkpoints.checkpoint_variables(self.model),
            **self._checkpointed_state(optimizer=self.optimizer))
      checkpoint.restore(latest).assert_existing_objects_matched()
      self.last_saved_step = int(self.step.numpy())
      log.info("resumed from %s at step %d", latest, self.last_saved_step)
    elif init_fn is not None:
      init_fn(self.model)
    if self.is_chief:
      with tf.io.gfile.GFile(os.path.join(self.model_dir, "run_config.json"), "w") as f:
        json.dump(self.run_info, f, indent=2, sort_keys=True, default=str)
    return int(self.step.numpy())

  def save(self):
    step = int(self.step.numpy())
    if self.last_saved_step == step:
      return
    self.manager.save(checkpoint_number=step)
    distribute.cleanup_write_dir(self.model_dir, self.strategy)
    self.last_saved_step = step

  # ------------------------------------------------------------------------------------------------
  # The step.

  def _replica_step(self, inputs, labels, stop_flag, nan_now):
    config = self.config
    num_replicas = self.strategy.num_replicas_in_sync
    inputs = pipeline.to_model_range(inputs)  # uint8 RGB -> [-1, 1] here, on the device
    with tf.GradientTape() as tape:
      logits = tf.cast(self.model(inputs, training=True), tf.float32)
      if logits.shape.rank == 3:  # per-step logits [B, T, classes]: average the loss over T
        per_step = tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.repeat(labels[:, None], tf.shape(logits)[1], axis=1), logits)
        per_example = tf.reduce_mean(per_step, axis=1)
        logits = tf.reduce_mean(logits, axis=1)
      else:
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
      loss = tf.nn.compute_average_loss(per_example, global_batch_size=config.batch_size)
      decay = tf.add_n([tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in self.train_variables
                        if _is_kernel(v)] or [tf.constant(0.0)])
      loss += tf.nn.scale_regularization_loss(config.weight_decay * decay)
      loss += tf.where(nan_now, tf.constant(math.nan), 0.0)
      scaled = (self.optimizer.scale_loss(loss)
                if isinstance(self.optimizer, keras.mixed_precision.LossScaleOptimizer) else loss)
    grads = tape.gradient(scaled, self.train_variables)
    self.optimizer.apply_gradients(zip(grads, self.train_variables))
    labels = tf.cast(labels, tf.int32)
    top1 = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, logits, 1), tf.float32))
    k5 = min(5, int(logits.shape[-1]))
    top5 = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, logits, k5), tf.float32))
    count = tf.cast(tf.shape(labels)[0], tf.float32)
    del num_replicas
    # Summed over all replicas of all workers by strategy.reduce: every worker stops when any
    # worker was asked to (SIGTERM).
    return loss, top1, top5, count, tf.identity(stop_flag)

  def _make_train_step(self):
    @tf.function
    def train_step(iterator, stop_flag, nan_now):
      inputs, labels = next(iterator)
      outs = self.strategy.run(self._replica_step, args=(inputs, labels, stop_flag, nan_now))
      loss, top1, top5, count, stop = [self.strategy.reduce("sum", o, axis=None) for o in outs]
      self.step.assign_add(1)
      return {"loss": loss, "top1": top1 / count, "top5": top5 / count, "stop": stop}
    return train_step

  # ------------------------------------------------------------------------------------------------
  # Evaluation and outputs.

  def evaluate(self):
    """Top-1/top-5/loss over the evaluation set (on this worker, whole videos)."""
    dataset = self.eval_dataset_fn()
    logits, labels = predict.predict_logits(self.model, dataset)
    return metrics_lib.summary(logits, labels)

  def _write_metrics(self, step, eval_metrics, train_scalars):
    path = os.path.join(self.model_dir, "metrics.json")
    history = []
    if tf.io.gfile.exists(path):
      with tf.io.gfile.GFile(path) as f:
        history = json.load(f).get("history", [])
    history = [h for h in history if h["step"] < step]
    history.append({"step": step, "eval": eval_metrics, "train": train_scalars,
                    "time": time.time()})
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
      json.dump({"step": step, "eval": eval_metrics, "train": train_scalars,
                 "run": self.run_info, "history": history}, f, indent=2, default=float)
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)

  def _summary_writer(self):
    if self.is_chief:
      return tf.summary.create_file_writer(os.path.join(self.model_dir, "train"))
    return tf.summary.create_noop_writer()

  def _on_sigterm(self, signum, frame):  # pylint: disable=unused-argument
    log.warning("SIGTERM: saving a checkpoint at the end of this step, then stopping")
    self._preempted = True

  # ------------------------------------------------------------------------------------------------
  # The loop.

  def train(self):
    """Trains to config.train_steps. Returns 'done' or 'preempted'; raises NonFiniteLossError."""
    config = self.config
    start = int(self.step.numpy())
    seed = None if config.seed is None else config.seed + start
    dataset = self.strategy.distribute_datasets_from_function(
        lambda ctx: self.train_dataset_fn(ctx, seed))
    iterator = iter(dataset)
    train_step = self._make_train_step()
    writer = self._summary_writer()
    eval_writer = (tf.summary.create_file_writer(os.path.join(self.model_dir, "eval"))
                   if self.is_chief else tf.summary.create_noop_writer())
    previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
    bar = tqdm.tqdm(total=config.train_steps, initial=start, unit="step", dynamic_ncols=True,
                    disable=not (self.is_chief and self.runtime.progress_bar), desc="train")
    status = "done"
    train_scalars = {}
    window = [time.time(), 0]  # start time and steps of the clips/s window
    try:
      step = start
      while step < config.train_steps:
        stop, train_scalars = self._one_step(train_step, iterator, step)
        step += 1
        window[1] += 1
        bar.update(1)
        bar.set_postfix(loss=f"{train_scalars['loss']:.3f}", top1=f"{train_scalars['top1']:.2f}",
                        lr=f"{train_scalars['learning_rate']:.3g}")
        if step % config.log_every == 0 or step == config.train_steps:
          self._log_scalars(writer, train_scalars, step, window)
        if stop:
          self.save()
          status = "preempted"
          log.warning("preempted: checkpoint saved at step %d; rerun with the same --model_dir "
                      "to resume", step)
          break
        self._between_steps(step, train_scalars, eval_writer)
      if status == "done":
        self._finish(step, train_scalars, eval_writer)
      with self._peer_errors(step):
        self._wait_for_all_tasks("i3d_tf_end")
    finally:
      bar.close()
      signal.signal(signal.SIGTERM, previous_handler)
      writer.flush()
      eval_writer.flush()
    return status

  def _one_step(self, train_step, iterator, step):
    """Runs step `step` + 1: (whether a preemption stops the run, its training scalars); a
    NonFiniteLossError when the loss is NaN or Inf."""
    lr = self.schedule(step)
    self.optimizer.learning_rate.assign(lr)
    with self._peer_errors(step + 1):
      out = train_step(iterator, tf.constant(1.0 if self._preempted else 0.0),
                       tf.constant(step == self.config.inject_nan_at_step))
    loss = float(out["loss"].numpy())
    if not math.isfinite(loss):
      raise NonFiniteLossError(
          f"Training stopped: the loss is {loss} at step {step + 1} (model_dir {self.model_dir})."
          f" Nothing was saved after it: the last good checkpoint is "
          f"{'step %d' % self.last_saved_step if self.last_saved_step is not None else 'none'}"
          f" and is intact. Lower --learning_rate or check the input data, then rerun with "
          f"the same --model_dir to resume from that checkpoint.")
    scalars = {"loss": loss, "top1": float(out["top1"]), "top5": float(out["top5"]),
               "learning_rate": lr}
    return float(out["stop"]) > 0, scalars

  def _log_scalars(self, writer, train_scalars, step, window):
    """Writes the training scalars and the clips/s since the last write; restarts the window."""
    elapsed = time.time() - window[0]
    train_scalars["clips_per_s"] = window[1] * self.config.batch_size / max(elapsed, 1e-9)
    with writer.as_default():
      for name, value in train_scalars.items():
        write_scalar(name, value, step)
    window[:] = [time.time(), 0]

  def _between_steps(self, step, train_scalars, eval_writer):
    """The periodic checkpoint and evaluation after `step` (every task waits out the chief's)."""
    config = self.config
    if config.checkpoint_every and step % config.checkpoint_every == 0:
      self.save()
    if (self.eval_dataset_fn is not None and config.eval_every
        and step % config.eval_every == 0 and step < config.train_steps):
      self._evaluate_and_record(step, train_scalars, eval_writer)
      with self._peer_errors(step):
        self._wait_for_all_tasks(f"i3d_tf_eval_{step}")

  def _finish(self, step, train_scalars, eval_writer):
    """A finished run: the last checkpoint, the final evaluation, the SavedModel."""
    self.save()
    if self.eval_dataset_fn is not None:
      self._evaluate_and_record(step, train_scalars, eval_writer)
    if self.runtime.export_saved_model and self.export_fn is not None:
      self._export()

  def _wait_for_all_tasks(self, name):
    """Multi-worker: every task waits here for the others (the chief's evaluation and export) in
    a coordination-service barrier, not in a collective, whose wait is bounded; a worker leaving
    first would make the chief's coordination service wait out its heartbeat timeout."""
    if distribute.task_info(self.strategy)[0] is not None:
      distribute.wait_for_all_tasks(name)

  @contextlib.contextmanager
  def _peer_errors(self, step):
    """Multi-worker: a collective or barrier that failed because a peer stopped, died or did not
    join in time becomes a PeerLostError naming the task (TF's own is a traceback of graph
    nodes that names no task when the coordination leader is the one lost)."""
    try:
      yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
            tf.errors.AbortedError, tf.errors.CancelledError, tf.errors.InternalError) as e:
      if distribute.task_info(self.strategy)[0] is None:
        raise
      error = distribute.peer_lost_error(e, step, self.last_saved_step,
                                         distribute.collective_timeout(self.strategy))
      log.error("%s", error)
      raise error from e

  def _evaluate_and_record(self, step, train_scalars, eval_writer):
    if not self.is_chief:
      return None
    eval_metrics = self.evaluate()
    with eval_writer.as_default():
      for name in ("loss", "top1", "top5", "mean_class_accuracy"):
        write_scalar(name, eval_metrics[name], step)
    if self.schedule.observe_validation_loss(eval_metrics["loss"]):
      log.info("validation loss plateaued: learning rate now %g", self.schedule(step))
    self._write_metrics(step, eval_metrics, train_scalars)
    tqdm.tqdm.write(f"step {step}: eval top-1 {eval_metrics['top1']:.4f} top-5 "
                    f"{eval_metrics['top5']:.4f} loss {eval_metrics['loss']:.4f} "
                    f"({eval_metrics['num_examples']} videos)")
    return eval_metrics

  def _export(self):
    export_dir = distribute.write_dir(os.path.join(self.model_dir, "saved_model"),
                                      self.strategy)
    self.export_fn(self.model, export_dir)
    distribute.cleanup_write_dir(os.path.join(self.model_dir, "saved_model"),
                                 self.strategy)
    if self.is_chief:
      log.info("SavedModel written to %s", export_dir)
