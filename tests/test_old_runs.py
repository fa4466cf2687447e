"""Runs made before issue 18's typed config (tests/data/run_before_issue18: a flat run_config.json
written by main at 62c4557) still load for evaluation, resume training, classify videos and initialise fine-tuning."""
import os
import shutil

import numpy as np

from i3d_tf import config as config_lib
from i3d_tf.checkpoints import runs
from i3d_tf.evaluation import classify
from i3d_tf.models import classifier as classifier_lib
from i3d_tf.training import experiment
from i3d_tf.training import task as task_lib
from i3d_tf.training import testing

OLD_RUN = os.path.join(os.path.dirname(__file__), "data", "run_before_issue18")


def _copy(tmp_path, name):
  path = str(tmp_path / name)
  shutil.copytree(OLD_RUN, path)
  return path


def test_an_old_run_loads_for_evaluation(tmp_path):
  run_dir = _copy(tmp_path, "old")
  model, run = runs.load_run(run_dir)
  spec = runs.clip_spec_of_run(run)
  logits = model(task_lib.example_inputs(spec), training=False)
  assert logits.shape == (1, 4) and np.all(np.isfinite(logits.numpy()))
  assert config_lib.of_run(run).model.name == run["model"] == "i3d_flow"


def test_an_old_run_resumes_with_its_own_config(tmp_path):
  """The config read back from the old run_config.json resumes it (model_dir checks pass), and
  the run folder is rewritten in the sectioned layout."""
  run_dir = _copy(tmp_path, "old")
  old = config_lib.of_run(runs.read_run_config(run_dir))
  config = config_lib.replace(old, {"model_dir": run_dir, "train_steps": 3,
                                    "checkpoint_every": 3})
  data = testing.toy_data_source(str(tmp_path / "shards"))
  said = []
  status, final, trainer = experiment.run(config, data, echo=said.append)
  assert status == "done" and int(trainer.step.numpy()) == 3, said
  assert f"Resuming {run_dir} at step 2 of 3." in said
  assert final["num_examples"] == 2
  run = runs.read_run_config(run_dir)
  assert not config_lib.is_flat_layout(run["config"])
  assert config_lib.of_run(run) == config


def _write_clip(path, frames=12, height=40, width=56):
  """A small MJPG clip of a moving bright square (cv2 writes no H.264)."""
  import cv2  # pylint: disable=import-outside-toplevel
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
  for t in range(frames):
    frame = np.full((height, width, 3), 40, np.uint8)
    frame[10:22, 4 + 2 * t:16 + 2 * t] = 220
    writer.write(frame)
  writer.release()
  return str(path)


def test_an_old_run_classifies_a_video(tmp_path):
  """classify's path (video file -> flow -> the old run's model) reads the old folder."""
  run_dir = _copy(tmp_path, "old")
  video = _write_clip(tmp_path / "clip.avi")
  classifier = classify.Classifier(run_dir, flow_method="tvl1_fast")
  logits, frames, views = classifier.classify(video, max_frames=10)
  assert logits.shape == (4,) and np.all(np.isfinite(logits)) and frames == 10 and views == 1
  assert classifier.class_names == [f"class_{i}" for i in range(4)]


def test_an_old_run_initialises_a_fine_tuning(tmp_path):
  """--init=<old run> (what finetune does): its weights are the new run's at step 0."""
  run_dir = _copy(tmp_path, "old")
  source, _ = runs.load_run(run_dir)
  config = testing.toy_config(str(tmp_path / "finetuned"), init=run_dir, train_steps=1,
                              checkpoint_every=1, width_multiplier=0.0625, learning_rate=1e-3,
                              finetune_mode="fixed", eval_max_videos=1)
  data = testing.toy_data_source(str(tmp_path / "shards"))
  status, _, trainer = experiment.run(config, data)
  assert status == "done"
  # Fixed fine-tuning: every weight outside the classifier (which trained a step) is the old run's.
  trained = {v.path for layer in classifier_lib.classifier_layers(trainer.model)
             for v in layer.weights}
  new = {v.path: v.numpy() for v in trainer.model.weights}
  kept = [v for v in source.weights if v.path in new and v.path not in trained]
  differ = [v.path for v in kept if not np.allclose(new[v.path], v.numpy(), atol=1e-6)]
  assert len(kept) > 200 and not differ, differ
