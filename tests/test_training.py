"""The training loop: schedules, resume, the NaN guard, MirroredStrategy, multi-worker, kill -9, SIGTERM."""
import json
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

from i3d_tf.checkpoints import run_checkpoints
from i3d_tf.training import experiment
from i3d_tf.training import loop
from i3d_tf.training import schedules
from i3d_tf.training import testing
from tests.conftest import REPO_ROOT

# ------------------------------------------------------------------------------------ schedules


def test_release_rgb_schedule_at_the_release_steps():
  s = schedules.Schedule("release_rgb", 0.1, 115_000)
  assert s(0) == pytest.approx(0.1) and s(96_999) == pytest.approx(0.1)
  assert s(97_000) == pytest.approx(0.01) and s(107_999) == pytest.approx(0.01)
  assert s(108_000) == pytest.approx(0.001) and s(114_999) == pytest.approx(0.001)


def test_release_schedules_scale_with_train_steps():
  s = schedules.Schedule("release_rgb", 0.1, 1150)
  assert s(969) == pytest.approx(0.1) and s(970) == pytest.approx(0.01)
  assert s(1080) == pytest.approx(0.001)
  # The kinetics-i3d README's Flow schedule: 0.1 / 0.01 at 97k / 0.001 at 104.5k, restart at 0.1
  # from 115k, 0.01 at 140k, 0.001 at 150k, to 155k.
  f = schedules.Schedule("release_flow", 0.1, 155_000)
  steps = (0, 96_999, 97_000, 104_499, 104_500, 114_999, 115_000, 139_999, 140_000, 150_000,
           154_999)
  assert [f(x) for x in steps] == pytest.approx(
      [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.1, 0.1, 0.01, 0.001, 0.001])


def test_cosine_and_plateau_schedules():
  c = schedules.Schedule("cosine", 0.2, 100)
  assert c(0) == pytest.approx(0.2) and c(50) == pytest.approx(0.1) and c(100) == pytest.approx(0)
  p = schedules.Schedule("plateau", 0.1, 100, patience=2)
  assert not p.observe_validation_loss(1.0)
  assert not p.observe_validation_loss(1.2)
  assert p.observe_validation_loss(1.1)  # two evaluations without improvement: lr / 10
  assert p(10) == pytest.approx(0.01)
  assert not p.observe_validation_loss(0.5)
  assert p(10) == pytest.approx(0.01)


def test_unknown_schedule_lists_the_valid_ones():
  with pytest.raises(ValueError, match="release_rgb, release_flow, plateau, cosine, constant"):
    schedules.Schedule("linear", 0.1, 10)


# ------------------------------------------------------------------------------ runs in-process


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("toy_shards"))
  testing.toy_data_source(directory)
  return directory


def _config(model_dir, **overrides):
  """testing.toy_config at quarter width: the loop does the same at any width, and full-width
  toy runs cost most of this file's time."""
  return testing.toy_config(model_dir, **{"width_multiplier": 0.25, **overrides})


@pytest.fixture(scope="module")
def two_step_run(shard_dir, tmp_path_factory):
  """The model_dir of a finished two-step toy run: resumed by one test (on a copy), the --init of
  another."""
  model_dir = str(tmp_path_factory.mktemp("two_step") / "run")
  status, _, trainer = experiment.run(_config(model_dir, train_steps=2),
                                      testing.toy_data_source(shard_dir, with_eval=False))
  assert status == "done" and int(trainer.step.numpy()) == 2
  return model_dir


def test_rerun_with_same_model_dir_resumes_on_the_same_schedule(shard_dir, two_step_run,
                                                                tmp_path):
  data = testing.toy_data_source(shard_dir)
  model_dir = str(tmp_path / "run")
  shutil.copytree(two_step_run, model_dir)
  messages = []
  config = _config(model_dir, train_steps=4, eval_every=0, eval_max_videos=2)
  status, final, second = experiment.run(config, data, echo=messages.append)
  assert status == "done" and messages and "at step 2 of 4" in messages[0]
  assert int(second.step.numpy()) == 4
  # The second run started from the first run's weights, not from a fresh initialisation.
  assert len(tf.train.get_checkpoint_state(model_dir).all_model_checkpoint_paths) == 2
  reader = tf.train.load_checkpoint(os.path.join(model_dir, "ckpt-2"))
  assert int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 2
  assert second.optimizer.learning_rate.numpy() == pytest.approx(
      schedules.Schedule("cosine", 0.05, 4)(3))
  with open(os.path.join(model_dir, "metrics.json")) as f:
    metrics = json.load(f)
  assert metrics["step"] == 4 and 0.0 <= metrics["eval"]["top1"] <= 1.0
  assert final["num_examples"] == 2  # eval_max_videos
  assert os.listdir(os.path.join(model_dir, "train"))  # TensorBoard event files


def test_nan_loss_stops_with_a_message_and_keeps_the_last_checkpoint(shard_dir, tmp_path):
  data = testing.toy_data_source(shard_dir)
  model_dir = str(tmp_path / "run")
  config = _config(model_dir, train_steps=6, checkpoint_every=2, inject_nan_at_step=2)
  with pytest.raises(loop.NonFiniteLossError, match=r"loss is nan at step 3.*step 2.*intact"):
    experiment.run(config, data)
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-2")
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
  for name in reader.get_variable_to_shape_map():
    if not name.startswith(("model/", "optimizer/")):
      continue
    value = reader.get_tensor(name)
    if np.issubdtype(np.asarray(value).dtype, np.floating):
      assert np.all(np.isfinite(value)), name
  assert not os.path.exists(os.path.join(model_dir, "saved_model"))


def test_fixed_finetuning_trains_only_the_logits(shard_dir, two_step_run, tmp_path):
  data = testing.toy_data_source(shard_dir, with_eval=False)
  source_dir = two_step_run
  config = _config(str(tmp_path / "fixed"), train_steps=2, init=source_dir,
                   finetune_mode="fixed")
  _, _, trainer = experiment.run(config, data)
  source = tf.train.load_checkpoint(tf.train.latest_checkpoint(source_dir))
  kernel = trainer.model.blocks["Conv3d_1a_7x7"].conv.kernel.numpy()
  np.testing.assert_array_equal(  # frozen: unchanged
      kernel, source.get_tensor("model/Conv3d_1a_7x7/conv/_kernel/.ATTRIBUTES/VARIABLE_VALUE"))
  mean = trainer.model.blocks["Conv3d_1a_7x7"].bn.moving_mean.numpy()
  np.testing.assert_array_equal(mean, source.get_tensor(
      "model/Conv3d_1a_7x7/bn/moving_mean/.ATTRIBUTES/VARIABLE_VALUE"))
  assert np.abs(mean).max() > 0  # the statistics were trained and copied, not zeros
  assert [v.path for v in trainer.train_variables] == [
      v.path for v in trainer.model.blocks["Logits"].trainable_variables]


# ------------------------------------------------------------------------------ subprocess runs


def _toy_command(model_dir, shard_dir, config=None, extra=()):
  return [sys.executable, "-m", "i3d_tf.training.testing", f"--model_dir={model_dir}",
          f"--shard_dir={shard_dir}", f"--config={json.dumps(config or {})}", *extra]


def _run(cmd, env=None, timeout=400):
  result = subprocess.run(cmd, cwd=REPO_ROOT, env=env or os.environ.copy(), capture_output=True,
                          text=True, timeout=timeout)
  return result


def test_mirrored_strategy_on_two_logical_cpus(shard_dir, tmp_path):
  # Quarter width, two steps and one evaluation video: the two replicas' steps and evaluation are
  # the same at any size.
  result = _run(_toy_command(str(tmp_path / "run"), shard_dir,
                             {"strategy": "mirrored", "width_multiplier": 0.25,
                              "train_steps": 2, "eval_max_videos": 1}, ["--logical_cpus=2"]))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "STATUS done STEP 2 REPLICAS 2" in result.stdout


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_run_of_two_processes_ends_with_equal_weights(shard_dir, tmp_path):
  ports = [_free_port(), _free_port()]
  workers = []
  for index in range(2):
    env = os.environ.copy()
    env["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index}})
    # eval_every=2: the workers wait out the chief's evaluation at step 2 in a barrier.
    cmd = _toy_command(str(tmp_path / "run"), shard_dir, {"strategy": "multi_worker",
                                                          "eval_every": 2},
                       [f"--dump_weights={tmp_path}/w{index}.npz"])
    workers.append(subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True))
  outputs = [w.communicate(timeout=500) for w in workers]
  for w, (out, err) in zip(workers, outputs):
    assert w.returncode == 0, err[-3000:]
    assert "STATUS done STEP 4 REPLICAS 2" in out
  a, b = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
  assert len(a.files) > 100
  for key in a.files:
    np.testing.assert_array_equal(a[key], b[key])
  # The workers trained (the weights moved from the shared initialisation): the equality above is
  # the all-reduce at work, each worker having read different clips.
  init = tf.train.load_checkpoint(str(tmp_path / "run" / "ckpt-2"))
  assert tf.train.latest_checkpoint(str(tmp_path / "run")).endswith("ckpt-4")
  assert not os.listdir(tmp_path / "run" / ".worker_tmp") if os.path.exists(
      tmp_path / "run" / ".worker_tmp") else True
  del init


def _wait_for(path, process, timeout=300):
  start = time.time()
  while not os.path.exists(path):
    if process.poll() is not None:
      raise AssertionError(f"the run ended before writing {path}: {process.stderr.read()[-3000:]}")
    if time.time() - start > timeout:
      raise AssertionError(f"{path} did not appear in {timeout} s")
    time.sleep(0.2)


@pytest.mark.slow
def test_run_killed_with_kill_9_resumes_at_its_checkpoint(shard_dir, tmp_path):
  model_dir = str(tmp_path / "run")
  cmd = _toy_command(model_dir, shard_dir, {"train_steps": 200, "checkpoint_every": 2})
  process = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
  _wait_for(os.path.join(model_dir, "ckpt-2.index"), process)
  time.sleep(0.5)
  process.kill()  # SIGKILL: no handler runs
  process.wait()
  saved = int(tf.train.latest_checkpoint(model_dir).rsplit("-", 1)[1])
  assert 2 <= saved < 200
  result = _run(_toy_command(model_dir, shard_dir, {"train_steps": saved + 2}))
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"Resuming {model_dir} at step {saved} of {saved + 2}" in result.stdout
  assert f"STATUS done STEP {saved + 2}" in result.stdout


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_stops(shard_dir, tmp_path):
  model_dir = str(tmp_path / "run")
  cmd = _toy_command(model_dir, shard_dir, {"train_steps": 500, "checkpoint_every": 1000})
  process = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
  _wait_for(os.path.join(model_dir, "train"), process)  # the loop has started
  time.sleep(3)
  process.send_signal(signal.SIGTERM)
  out, err = process.communicate(timeout=300)
  # Not 0: a scheduler or script must tell a preempted run from a finished one (128 + SIGTERM).
  assert process.returncode == loop.PREEMPTED_EXIT_CODE == 143, (process.returncode, err[-3000:])
  assert "STATUS preempted" in out
  step = int(out.split("STATUS preempted STEP ")[1].split()[0])
  assert 0 < step < 500
  assert tf.train.latest_checkpoint(model_dir).endswith(f"ckpt-{step}")


def test_training_binaries_end_a_preempted_run_with_status_143(capsys):
  """What train_kinetics and finetune do with experiment.run's status (the slow test above runs
  the same exit in a process): 'preempted' exits 143 after saying so, 'done' goes on."""
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  training_flags.exit_if_preempted("done", "runs/x")
  with pytest.raises(SystemExit) as stopped:
    training_flags.exit_if_preempted("preempted", "runs/x")
  assert stopped.value.code == loop.PREEMPTED_EXIT_CODE == 143
  assert "Preempted (SIGTERM): checkpoint saved in runs/x; rerun the same command to resume" in (
      capsys.readouterr().out)
  for binary in ("train_kinetics", "finetune"):
    source = (REPO_ROOT / "experiments" / f"{binary}.py").read_text()
    assert "training_flags.exit_if_preempted(status, model_dir)" in source, binary


def test_checkpoints_hold_batch_norm_statistics_and_restore_into_a_fresh_model(tmp_path):
  from i3d_tf.models import i3d  # pylint: disable=import-outside-toplevel
  def build():  # quarter width: the same variables, narrower (Mixed_4b's 208 channels: 52)
    model = i3d.InceptionI3D(num_classes=3, in_channels=2, final_pool_padding="SAME",
                             width_multiplier=0.25)
    model(tf.zeros((1, 4, 32, 32, 2)))
    return model
  source = build()
  source.blocks["Mixed_4b"].units["Branch_1/Conv3d_0b_3x3"].bn.moving_variance.assign(
      tf.fill([52], 3.0))
  path = tf.train.Checkpoint(model=run_checkpoints.checkpoint_variables(source)).save(str(tmp_path / "c"))
  target = build()  # another process would name its Keras layers differently: names don't matter
  tf.train.Checkpoint(model=run_checkpoints.checkpoint_variables(target)).restore(path).assert_consumed()
  np.testing.assert_array_equal(
      target.blocks["Mixed_4b"].units["Branch_1/Conv3d_0b_3x3"].bn.moving_variance.numpy(), 3.0)
  assert len(run_checkpoints.checkpoint_variables(target)) == len(source.deepmind_variables()) == 230


@pytest.mark.slow
def test_default_command_trains_the_reduced_configuration_and_writes_its_outputs(tmp_path):
  """`train_kinetics --model=i3d_flow` with no data flags, a finished cache build standing in for
  the synthetic_motion builder (the real build takes minutes), and 3 steps instead of 300."""
  cache = tmp_path / "cache"
  classes = ["translate_right", "translate_left", "translate_up", "translate_down"]
  from datasets import synthetic_motion  # pylint: disable=import-outside-toplevel
  testing.write_tfds_layout(
      str(cache), "synthetic_motion/small", version=str(synthetic_motion.Builder.VERSION),
      splits={"train": testing.moving_square_examples(8, 16, 64, 4, seed=1),
              "test": testing.moving_square_examples(4, 16, 64, 4, seed=2)},
      class_names=classes)
  env = dict(os.environ, I3D_TF_CACHE=str(cache))
  result = _run([sys.executable, "-m", "experiments.train_kinetics", "--model=i3d_flow",
                 "--train_steps=3", "--eval_every=0", f"--model_dir={tmp_path}/run"], env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "REDUCED configuration" in result.stdout
  assert "crop_size=56" in result.stdout and "train_steps" not in result.stdout.split(
      "REDUCED configuration")[1].split("\n")[0]  # a flag given on the command line wins
  assert "held-out top-1" in result.stdout
  run = tmp_path / "run"
  assert tf.train.latest_checkpoint(str(run)).endswith("ckpt-3")
  metrics = json.loads((run / "metrics.json").read_text())
  assert metrics["eval"]["num_examples"] == 4
  loaded = tf.saved_model.load(str(run / "saved_model"))
  serve = loaded.signatures["serving_default"]
  out = serve(video=tf.zeros((1, 20, 56, 56, 2)))
  assert out["probabilities"].shape == (1, 4)
  np.testing.assert_allclose(out["probabilities"].numpy().sum(), 1.0, rtol=1e-5)


def test_warmup_ramps_linearly_into_any_schedule():
  s = schedules.Schedule("release_rgb", 0.1, 115_000, warmup_steps=10)
  assert s(0) == pytest.approx(0.01) and s(4) == pytest.approx(0.05)
  assert s(9) == pytest.approx(0.1) and s(50) == pytest.approx(0.1)


def test_width_multiplier_is_opt_in_and_keeps_the_release_layout_at_one():
  from i3d_tf.models import i3d  # pylint: disable=import-outside-toplevel
  def shapes(**options):
    model = i3d.InceptionI3D(num_classes=400, in_channels=2, final_pool_padding="SAME", **options)
    model(tf.zeros((1, 4, 32, 32, 2)))
    return {k: tuple(v.shape) for k, v in model.deepmind_variables().items()}
  release, same, quarter = shapes(), shapes(width_multiplier=1.0), shapes(width_multiplier=0.25)
  assert release == same
  assert sum(np.prod(s) for k, s in release.items() if "moving" not in k) == 12_668_032
  assert set(quarter) == set(release)  # same names, narrower tensors
  assert quarter["Mixed_4b/Branch_0/Conv3d_0a_1x1/conv_3d/w"] == (1, 1, 1, 120, 48)
  assert quarter["Logits/Conv3d_0c_1x1/conv_3d/w"] == (1, 1, 1, 256, 400)


def test_c3d_is_built_for_the_configured_clip_geometry():
  """C3D's FC-6 input size follows the clip: --crop_size / --train_frames reach its builder."""
  from i3d_tf import config as config_lib  # pylint: disable=import-outside-toplevel
  from i3d_tf.models import registry  # pylint: disable=import-outside-toplevel
  from i3d_tf.training import task  # pylint: disable=import-outside-toplevel
  config = config_lib.replace(config_lib.ExperimentConfig(), dict(
      model="c3d", crop_size=48, train_frames=8, dropout_rate=0.0))
  spec = task.clip_spec(config)
  model = registry.build_model("c3d", 5, **task.model_options(config))
  logits = model(task.example_inputs(spec), training=False)
  assert logits.shape == (1, 5)
