"""Training faults (issue 12, items 5-10): a truncated checkpoint, another model's model_dir, two
runs on one model_dir, a multi-worker peer that never starts, another stream's --init, bad flags."""
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from i3d_tf import config as config_lib
from i3d_tf.checkpoints import run_checkpoints
from i3d_tf.training import experiment
from i3d_tf.training import init as init_lib
from i3d_tf.training import loop
from i3d_tf.training import run_lock
from i3d_tf.training import testing
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("toy_shards"))
  testing.toy_data_source(directory)
  return directory


def _config(model_dir, **overrides):
  """testing.toy_config at quarter width: these faults are the same at any width, and the
  full-width toy runs cost most of this file's time."""
  return testing.toy_config(model_dir, **{"width_multiplier": 0.25, **overrides})


@pytest.fixture(scope="module")
def flow_run(shard_dir, tmp_path_factory):
  """A finished four-step quarter-width i3d_flow toy run (4 classes; ckpt-2, ckpt-4): copied to be
  changed."""
  model_dir = str(tmp_path_factory.mktemp("flow_run") / "run")
  experiment.run(_config(model_dir, train_steps=4, checkpoint_every=2),
                 testing.toy_data_source(shard_dir, with_eval=False))
  return model_dir


def _truncate(path, keep=0.5):
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.truncate(int(size * keep))


# ------------------------------------------------------------------------- 5: truncated checkpoint


def test_truncated_latest_checkpoint_falls_back_to_the_previous_one(
    shard_dir, flow_run, tmp_path, caplog):
  data = testing.toy_data_source(shard_dir, with_eval=False)
  model_dir = str(tmp_path / "run")
  shutil.copytree(flow_run, model_dir)
  _truncate(os.path.join(model_dir, "ckpt-4.data-00000-of-00001"))  # a copy cut short
  messages = []
  with caplog.at_level(logging.WARNING, logger="i3d_tf.training"):
    status, _, trainer = experiment.run(_config(model_dir, train_steps=2), data,
                                        echo=messages.append)
  assert status == "done" and int(trainer.step.numpy()) == 2  # restored from ckpt-2
  assert any("at step 2 of 2" in m for m in messages), messages
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert any("ckpt-4" in w and "unreadable" in w for w in warnings), warnings
  # Every checkpoint unreadable: an error naming each file, nothing trained.
  for prefix in run_checkpoints.checkpoint_candidates(model_dir):
    _truncate(prefix + ".data-00000-of-00001", 0.3)
  with pytest.raises(run_checkpoints.NoReadableCheckpointError) as error:
    experiment.run(_config(model_dir, train_steps=6), data)
  for step in (2, 4):
    assert f"ckpt-{step} (" in str(error.value)
  assert model_dir in str(error.value)


# ----------------------------------------------------------------- 6: another model's model_dir


def test_model_dir_of_another_model_or_class_count_is_refused_naming_both(shard_dir, flow_run):
  data = testing.toy_data_source(shard_dir)
  with pytest.raises(ValueError) as error:
    experiment.run(_config(flow_run, model="i3d_rgb"), data)
  message = str(error.value)
  assert (f"model_dir {flow_run} holds an i3d_flow run with 4 classes (flow 2 channels, "
          "width_multiplier 0.25)") in message
  assert "this command builds i3d_rgb with 4 classes (rgb 3 channels, width_multiplier 0.25)" \
      in message
  six = experiment.DataSource(data.train_files, data.eval_files, 6)
  with pytest.raises(ValueError, match=r"holds an i3d_flow run with 4 classes.*builds i3d_flow "
                                       r"with 6 classes"):
    experiment.run(_config(flow_run), six)
  with pytest.raises(ValueError, match=r"width_multiplier 0.5"):
    experiment.run(_config(flow_run, width_multiplier=0.5), data)
  assert tf.train.latest_checkpoint(flow_run).endswith("ckpt-4")  # untouched


def test_a_model_dir_that_is_a_file_is_refused_naming_it(shard_dir, tmp_path):
  checkpoint_file = tmp_path / "ckpt-4.index"
  checkpoint_file.write_bytes(b"x")
  with pytest.raises(experiment.ModelDirMismatchError) as error:
    experiment.run(_config(str(checkpoint_file)),
                   testing.toy_data_source(shard_dir, with_eval=False))
  assert str(error.value).startswith(f"--model_dir={checkpoint_file} is a file, not a folder: ")
  assert f"use --init={checkpoint_file}" in str(error.value)
  assert checkpoint_file.read_bytes() == b"x"


# ------------------------------------------------------------------- 7, 8: lock and leftovers


_HOLD_LOCK = ("import sys, time; from i3d_tf.training import run_lock; "
              "run_lock.RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(600)")


def test_second_run_on_a_model_dir_is_refused_until_the_holder_dies(shard_dir, flow_run,
                                                                    tmp_path):
  data = testing.toy_data_source(shard_dir, with_eval=False)
  model_dir = str(tmp_path / "run")
  shutil.copytree(flow_run, model_dir)
  holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, model_dir], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(run_lock.ModelDirInUseError) as error:
      experiment.run(_config(model_dir, train_steps=1), data)
    message = str(error.value)
    assert f"model_dir {model_dir} is in use" in message
    assert f"pid {holder.pid} on host {socket.gethostname()}" in message
    assert os.path.getmtime(os.path.join(model_dir, "run_config.json")) == os.path.getmtime(
        os.path.join(flow_run, "run_config.json"))  # nothing written
  finally:
    holder.kill()  # kill -9: the OS drops its lock
    holder.wait()
  # A killed run's temporary folders, removed by the next run (which now gets the lock).
  os.makedirs(os.path.join(model_dir, ".worker_tmp", "worker_1"))
  os.makedirs(os.path.join(model_dir, "ckpt-3_temp"))
  messages = []
  status, _, _ = experiment.run(_config(model_dir, train_steps=4), data,
                                echo=messages.append)
  assert status == "done" and "at step 4 of 4" in messages[0]
  assert not os.path.exists(os.path.join(model_dir, ".worker_tmp"))
  assert not os.path.exists(os.path.join(model_dir, "ckpt-3_temp"))


def test_workers_of_one_run_take_their_own_locks(tmp_path):
  model_dir = str(tmp_path)
  chief = run_lock.RunLock(model_dir, run_lock.lock_name("worker", 0, chief=True)).acquire()
  worker = run_lock.RunLock(model_dir, run_lock.lock_name("worker", 1, chief=False)).acquire()
  with pytest.raises(run_lock.ModelDirInUseError):  # a second run's worker 1
    run_lock.RunLock(model_dir, run_lock.lock_name("worker", 1, chief=False)).acquire()
  worker.release()
  chief.release()
  run_lock.RunLock(model_dir).acquire().release()


def test_leftovers_are_removed_by_the_task_that_owns_them(tmp_path):
  model_dir = str(tmp_path)
  for path in (".worker_tmp/worker_1/ckpt-2_temp", ".worker_tmp/worker_2", "ckpt-4_temp",
               "saved_model/.worker_tmp/worker_1"):
    os.makedirs(os.path.join(model_dir, path))
  (tmp_path / ".worker_tmp" / "worker_1" / "ckpt-2_temp" / "part-00000").write_bytes(b"x")
  removed = run_lock.remove_leftovers(model_dir)  # the chief: its temps and empty worker folders
  assert not (tmp_path / "ckpt-4_temp").exists()
  assert not (tmp_path / ".worker_tmp" / "worker_2").exists()
  assert (tmp_path / ".worker_tmp" / "worker_1").exists()  # a worker's files: its own to remove
  assert not (tmp_path / "saved_model" / ".worker_tmp").exists()
  assert len(removed) == 4
  run_lock.remove_leftovers(model_dir, "worker", 1, chief=False)
  assert not (tmp_path / ".worker_tmp" / "worker_1").exists()


# ---------------------------------------------------------------- 9: another stream's weights


def test_init_from_another_stream_is_an_error_unless_partial_init_is_allowed(
    shard_dir, flow_run, tmp_path, caplog):
  data = testing.toy_data_source(shard_dir, with_eval=False)
  config = _config(str(tmp_path / "rgb"), model="i3d_rgb", init=flow_run,
                              train_steps=1)
  with pytest.raises(init_lib.StreamMismatchError) as error:
    experiment.run(config, data)
  message = str(error.value)
  assert f"--init={flow_run}" in message and "ckpt-4 (i3d_flow run)" in message
  assert "holds a Flow stream (2 input channels: Conv3d_1a_7x7/conv_3d/w [7, 7, 7, 2, 16])" in \
      message  # quarter width: 16 filters
  assert "--model=i3d_rgb takes RGB input (3 channels: [7, 7, 7, 3, 16])" in message
  assert "--allow_partial_init" in message
  assert not tf.train.latest_checkpoint(str(tmp_path / "rgb"))  # no run written
  # --allow_partial_init: the rest loads, the first conv stays fresh, with a warning.
  from i3d_tf.models import registry  # pylint: disable=import-outside-toplevel
  model = registry.build_model("i3d_rgb", 4, final_pool_padding="SAME", width_multiplier=0.25)
  model(tf.zeros((1, 4, 32, 32, 3)))
  with caplog.at_level(logging.WARNING, logger="i3d_tf.training"):
    copied, skipped = init_lib.initialize(model, flow_run, allow_partial=True,
                                          model_name="i3d_rgb")
  assert "Conv3d_1a_7x7/conv_3d/w" in skipped and copied > 200
  assert any("--allow_partial_init: keeping at random initialisation: Conv3d_1a_7x7" in
             r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("stream,channels,model_name,model_channels", [
    ("Flow", 2, "i3d_rgb", 3), pytest.param("RGB", 3, "i3d_flow", 2, marks=pytest.mark.slow)])
def test_a_release_layout_checkpoint_of_the_other_stream_is_refused(
    tmp_path, stream, channels, model_name, model_channels):
  """`finetune --model=i3d_rgb --init=<the release's flow_imagenet>` and the reverse."""
  from i3d_tf.models import registry  # pylint: disable=import-outside-toplevel
  from tests import deepmind_fixtures  # pylint: disable=import-outside-toplevel
  shapes = deepmind_fixtures.model_layout(channels, 4, scope=f"{stream}/inception_i3d")
  prefix = deepmind_fixtures.write_checkpoint(
      tmp_path / "model.ckpt", deepmind_fixtures.random_values(shapes))
  model = registry.build_model(model_name, 4, final_pool_padding="SAME")
  model(tf.zeros((1, 4, 32, 32, model_channels)))
  before = model.blocks["Mixed_5c"].units["Branch_0/Conv3d_0a_1x1"].conv.kernel.numpy()
  with pytest.raises(init_lib.StreamMismatchError) as error:
    init_lib.initialize(model, prefix, model_name=model_name)
  message = str(error.value)
  assert f"--init={prefix}: {prefix} holds a {stream} stream ({channels} input channels" in message
  assert f"--model={model_name} takes" in message and f"({model_channels} channels" in message
  # Nothing was loaded (the check runs before any assignment).
  np.testing.assert_array_equal(
      before, model.blocks["Mixed_5c"].units["Branch_0/Conv3d_0a_1x1"].conv.kernel.numpy())


def test_flow_model_on_a_set_built_without_flow_warns(shard_dir, flow_run, tmp_path):
  copy = tmp_path / "set"
  shutil.copytree(shard_dir, copy)
  (copy / "metadata.json").write_text(json.dumps({"flow_method": "none"}))
  data = testing.toy_data_source(str(copy), with_eval=False)
  model_dir = str(tmp_path / "run")
  shutil.copytree(flow_run, model_dir)  # already at its last step: nothing trains
  messages = []
  status, _, _ = experiment.run(_config(model_dir, train_steps=4), data,
                                echo=messages.append)
  assert status == "done"
  assert any("--model=i3d_flow reads the flow stream" in m and "--flow_method=none" in m
             and str(copy) in m for m in messages), messages


# ------------------------------------------------------------------------------ 10: flags


def _parse_flags(argv):
  """'OK' or 'ERROR :: <absl's message>' for train_kinetics' flags (training_flags.define_flags,
  what the binary defines) parsing `argv`: in this process, with flag values of its own."""
  from absl import flags  # pylint: disable=import-outside-toplevel
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  values = flags.FlagValues()
  training_flags.define_flags("train_kinetics", flag_values=values)
  try:
    values(["train_kinetics", *argv.split()])
  except flags.Error as e:
    return f"ERROR :: {e}"
  return "OK"


def test_bad_flags_are_refused_when_parsed_naming_the_flag():
  cases = ["--batch_size=0", "--crop_size=112 --data_dir=/d", "--crop_size=193 --data_dir=/d",
           "--crop_size=112 --final_pool_padding=SAME --data_dir=/d",
           "--model=i3d_flow --train_frames=8 --data_dir=/d", "--log_every=0",
           "--dropout_rate=1", "--learning_rate=-0.1", "--cluster_wait_seconds=0"]
  lines = {argv: _parse_flags(argv) for argv in cases}
  assert "--batch_size=0: --batch_size must be a positive integer" in lines["--batch_size=0"]
  crop = lines["--crop_size=112 --data_dir=/d"]
  assert "--crop_size=112 is too small for --model=i3d_rgb" in crop
  assert "at least 193 px" in crop and "--final_pool_padding=SAME" in crop
  assert lines["--crop_size=193 --data_dir=/d"] == "OK"
  assert lines["--crop_size=112 --final_pool_padding=SAME --data_dir=/d"] == "OK"
  assert "--train_frames=8 is too short for --model=i3d_flow" in lines[
      "--model=i3d_flow --train_frames=8 --data_dir=/d"]
  assert "--log_every must be a positive integer" in lines["--log_every=0"]
  assert "--dropout_rate must be in [0, 1)" in lines["--dropout_rate=1"]
  assert "--learning_rate must be a positive number" in lines["--learning_rate=-0.1"]
  assert "--cluster_wait_seconds must be" in lines["--cluster_wait_seconds=0"]


def test_the_minimum_clip_is_the_real_one():
  """The refusal's minimum is the network's: at 9 frames of 193 px a narrow I3D (same strides)
  returns finite logits, one frame or one pixel less is a ValueError from the model itself on
  every backend (TensorFlow's kernels disagree there: oneDNN raises, Eigen returns NaN), and the
  rule's final map is the map the network computes. The flow stream is the same network on 2
  channels: the same rule."""
  from i3d_tf.models import i3d  # pylint: disable=import-outside-toplevel
  from i3d_tf.models import registry  # pylint: disable=import-outside-toplevel
  model_name = "i3d_rgb"
  frames, crop = registry.minimum_clip(model_name)
  assert (frames, crop) == (i3d.MIN_FRAMES_VALID, i3d.MIN_SIZE_VALID) == (9, 193)
  assert registry.minimum_clip("i3d_flow") == registry.minimum_clip("i3d_two_stream") == (9, 193)
  assert registry.minimum_clip(model_name, "SAME") == (1, 1)
  assert registry.minimum_clip("c3d") == (1, 1)
  channels = registry.get(model_name).input_spec.streams[0].channels
  model = registry.build_model(model_name, 3, width_multiplier=0.125)
  logits = model(tf.zeros((1, frames, crop, crop, channels)))
  assert logits.shape == (1, 3) and np.all(np.isfinite(logits))
  for shape in [(frames - 1, crop, crop), (frames, crop - 1, crop - 1), (frames, crop, crop - 1)]:
    with pytest.raises(ValueError, match=r"at least 9 frames of 193x193 px"):
      model(tf.zeros((1,) + shape + (channels,)))
  # The same refusal in a graph with unknown sizes: an assertion at run time.
  dynamic = tf.function(model, input_signature=[
      tf.TensorSpec((1, None, None, None, channels))])
  assert dynamic(tf.zeros((1, frames, crop, crop, channels))).shape == (1, 3)
  with pytest.raises(tf.errors.InvalidArgumentError, match="193x193 px"):
    dynamic(tf.zeros((1, frames, crop - 1, crop - 1, channels)))
  # The rule's map is the network's, below and above the minimum (a model without the pool).
  trunk = registry.build_model(model_name, 3, width_multiplier=0.125, final_endpoint="Mixed_5c")
  for t, size in [(frames, crop), (frames - 1, crop - 1), (16, 56), (64, 224), (10, 200)]:
    feature_map = trunk(tf.zeros((1, t, size, size, channels)))
    assert tuple(feature_map.shape[1:4]) == i3d.final_map_size(t, size), (t, size)
  with pytest.raises(ValueError, match=r"--crop_size=192 is too small.*--final_pool_padding=SAME"):
    config_lib.check_clip_geometry(model_name, "VALID", crop_size=192)


def test_a_lost_peer_is_named_from_what_tensorflow_reports(monkeypatch):
  """TF names the task whose heartbeats stopped; it names none when this task's own heartbeat to
  the coordination leader timed out, nor for a collective past its bound: then the leader, or
  every other task."""
  from i3d_tf.training import distribute  # pylint: disable=import-outside-toplevel
  cluster = {"worker": ["10.0.0.1:2222", "10.0.0.2:2222", "10.0.0.3:2222"]}
  monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                              "task": {"type": "worker", "index": 1}}))
  unhealthy = tf.errors.UnavailableError(None, None, (
      "Collective ops is aborted by: Error reported from /job:worker/task:2: The following tasks "
      "are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:2\nThe tasks have "
      "crashed."))
  assert distribute.lost_tasks(unhealthy) == ["worker 2 (10.0.0.3:2222)"]
  heartbeat = tf.errors.DeadlineExceededError(None, None, (
      "Collective ops is aborted by: Deadline Exceeded\nRPC: "
      "/tensorflow.CoordinationService/Heartbeat"))
  assert distribute.lost_tasks(heartbeat) == ["worker 0 (10.0.0.1:2222)"]
  refused = tf.errors.UnavailableError(None, None, (
      "Collective ops is aborted by: failed to connect to all addresses; last error: UNKNOWN: "
      "ipv4:10.0.0.3:2222: Failed to connect to remote host: Connection refused"))  # kill -9
  assert distribute.lost_tasks(refused) == ["worker 2 (10.0.0.3:2222)"]
  timeout = tf.errors.DeadlineExceededError(None, None, "Collective has timed out.")
  assert distribute.lost_tasks(timeout) == ["worker 0 (10.0.0.1:2222)",
                                            "worker 2 (10.0.0.3:2222)"]
  message = str(distribute.peer_lost_error(heartbeat, 7, 6, 600))
  assert message.startswith("multi-worker run: worker 1 stopped at step 7: lost worker 0 "
                            "(10.0.0.1:2222)")
  assert "within 600 s, --cluster_wait_seconds" in message
  assert "The last checkpoint is step 6" in message


# -------------------------------------------------------------- real processes (slow)


def _toy_command(model_dir, shard_dir, config=None):
  return [sys.executable, "-m", "i3d_tf.training.testing", f"--model_dir={model_dir}",
          f"--shard_dir={shard_dir}", f"--config={json.dumps(config or {})}"]


@pytest.mark.slow
def test_two_training_processes_on_one_model_dir(shard_dir, tmp_path):
  """The second of two racing runs is refused naming the first; the first trains on."""
  model_dir = str(tmp_path / "run")
  first = subprocess.Popen(_toy_command(model_dir, shard_dir, {"train_steps": 100_000}),
                           cwd=REPO_ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  lock_file = os.path.join(model_dir, run_lock.CHIEF_LOCK)
  start = time.time()
  while not (os.path.exists(lock_file) and os.path.getsize(lock_file)):
    assert first.poll() is None and time.time() - start < 120, first.stderr.read()[-3000:]
    time.sleep(0.2)
  second = subprocess.run(_toy_command(model_dir, shard_dir, {"train_steps": 40}), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
  assert first.poll() is None  # still training: the refusal was while it held the lock
  while not os.path.exists(os.path.join(model_dir, "train")):  # in the loop (SIGTERM handled)
    assert first.poll() is None and time.time() - start < 300, first.stderr.read()[-3000:]
    time.sleep(0.2)
  time.sleep(3)
  first.send_signal(signal.SIGTERM)  # it saves and stops (preemption)
  out, err = first.communicate(timeout=300)
  assert first.returncode == loop.PREEMPTED_EXIT_CODE, err[-3000:]  # preempted, not finished
  assert "STATUS preempted" in out
  assert second.returncode != 0
  assert f"model_dir {model_dir} is in use by another training run: pid {first.pid}" in \
      second.stderr


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_run_whose_peer_never_starts_ends_within_the_bound(shard_dir, tmp_path):
  ports = [_free_port(), _free_port()]
  env = dict(os.environ, TF_CONFIG=json.dumps({
      "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
      "task": {"type": "worker", "index": 0}}))
  started = time.time()
  result = subprocess.run(
      _toy_command(str(tmp_path / "run"), shard_dir,
                   {"strategy": "multi_worker", "cluster_wait_seconds": 10}),
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
  elapsed = time.time() - started
  assert result.returncode != 0
  assert (f"worker 0 waited 10 s (--cluster_wait_seconds) for TF_CONFIG's cluster to connect; "
          f"tasks not running: worker 1 (127.0.0.1:{ports[1]})") in result.stderr
  assert elapsed < 120, elapsed
  assert not tf.train.latest_checkpoint(str(tmp_path / "run"))


@pytest.mark.slow
def test_multi_worker_run_whose_peer_stops_mid_training_ends_naming_it(shard_dir, tmp_path):
  """SIGSTOP of worker 0 (the coordination service's leader: TF's own error then names no task)
  mid-training: worker 1 ends within the bound with a PeerLostError naming worker 0."""
  ports = [_free_port(), _free_port()]
  model_dir = str(tmp_path / "run")
  workers = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index}}))
    workers.append(subprocess.Popen(
        _toy_command(model_dir, shard_dir, {"strategy": "multi_worker", "train_steps": 100_000,
                                            "checkpoint_every": 100_000,
                                            "cluster_wait_seconds": 20}),
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  try:
    start = time.time()
    while not os.path.exists(os.path.join(model_dir, "train")):  # the chief is in its loop
      assert all(w.poll() is None for w in workers) and time.time() - start < 180
      time.sleep(0.2)
    time.sleep(3)
    workers[0].send_signal(signal.SIGSTOP)
    stopped = time.time()
    _, err = workers[1].communicate(timeout=120)
    elapsed = time.time() - stopped
  finally:
    for w in workers:
      w.kill()
      w.wait()
  assert workers[1].returncode != 0
  assert elapsed < 45, elapsed  # the heartbeats (~10 s) or the 20 s collective bound, not forever
  assert "PeerLostError: multi-worker run: worker 1 stopped at step" in err, err[-3000:]
  assert f"lost worker 0 (127.0.0.1:{ports[0]})" in err
  assert "restart every task of TF_CONFIG with the same command to resume" in err
