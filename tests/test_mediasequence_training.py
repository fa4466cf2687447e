"""MediaSequence shards end to end: train_kinetics --dataset=mediasequence trains, evaluates and exports,
and experiments.evaluate reads the same shards; RGB and flow (MediaPipe's T-1 FORWARD_FLOW images)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from i3d_tf.data import mediasequence
from i3d_tf.training import testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_CLASSES = 3
# Shard names as training_flags.resolve_data finds them: 'train' / 'validation' in the file name.
SHARDS = {"train": (2, 6), "validation": (1, 4)}  # split: (shards, videos)


def _write_shards(directory):
  """Tiny MediaSequence shards (10-frame 36x36 clips, JPEG RGB and MediaPipe-style JPEG flow)."""
  rng = np.random.default_rng(0)
  for split, (num_shards, num_videos) in SHARDS.items():
    writers = [tf.io.TFRecordWriter(os.path.join(
        directory, f"kinetics_mini_{split}.tfrecord-{i:05d}-of-{num_shards:05d}"))
               for i in range(num_shards)]
    for i in range(num_videos):
      label = i % NUM_CLASSES
      rgb, flow = testing.moving_square_video(10, 36, 2 * np.pi * label / NUM_CLASSES, rng=rng)
      example = mediasequence.make_sequence_example(
          rgb, flow, label=label, video_id=f"{split}_{i:03d}", jpeg_quality=90)
      writers[i % num_shards].write(example.SerializeToString())
    for w in writers:
      w.close()


def _run(module, *args):
  env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, (f"{module} failed ({result.returncode}):\n"
                                  f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
  return result.stdout


def test_training_pipeline_reads_mediasequence_shards_rgb_and_flow(tmp_path):
  """The shards as resolve_data splits them, through the training and evaluation datasets."""
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  from i3d_tf.data import pipeline  # pylint: disable=import-outside-toplevel
  _write_shards(str(tmp_path))
  data = training_flags.resolve_data("mediasequence", str(tmp_path), num_classes=NUM_CLASSES)
  assert data.record_format == "mediasequence"
  assert [len(data.train_files), len(data.eval_files)] == [SHARDS["train"][0],
                                                         SHARDS["validation"][0]]
  spec = pipeline.ClipSpec.for_model("i3d_two_stream", train_frames=8, crop_size=32)
  ds = pipeline.train_dataset(data.train_files, spec, 3, "mediasequence", seed=1)
  for inputs, labels in ds.take(2):
    assert inputs["rgb"].shape == (3, 8, 32, 32, 3) and inputs["rgb"].dtype == tf.uint8
    assert inputs["flow"].shape == (3, 8, 32, 32, 2) and inputs["flow"].dtype == tf.float32
    assert set(labels.numpy()) <= set(range(NUM_CLASSES))
    flow = inputs["flow"].numpy()
    assert flow.min() >= -1.0 and flow.max() <= 1.0
    # The moving square's flow (2 px per frame: 0.1 of the [-1, 1] range) is there.
    assert np.abs(flow).max() > 0.05
  evaluation = pipeline.test_dataset(data.eval_files, spec, 1, "mediasequence")
  videos = [(x["rgb"].shape[1], x["flow"].shape[1], int(y[0])) for x, y in evaluation]
  assert len(videos) == SHARDS["validation"][1]
  assert all(rgb == flow == 10 for rgb, flow, _ in videos)  # flow padded to the T RGB frames


def _train(data_dir, model_dir, model):
  return _run("experiments.train_kinetics", "--dataset=mediasequence", f"--data_dir={data_dir}",
              f"--num_classes={NUM_CLASSES}", f"--model={model}", f"--model_dir={model_dir}",
              "--train_steps=2", "--batch_size=2", "--train_frames=8", "--crop_size=32",
              "--width_multiplier=0.125", "--final_pool_padding=SAME", "--checkpoint_every=2",
              "--eval_every=0", "--lr_schedule=cosine", "--learning_rate=0.01", "--seed=0",
              "--dropout_rate=0.0")


def _check_run(model_dir, out):
  """metrics.json after 2 steps with an evaluation over every validation video; a SavedModel."""
  assert "held-out top-1" in out
  metrics = json.loads((model_dir / "metrics.json").read_text())
  assert metrics["step"] == 2
  final = metrics["eval"]
  assert final["num_examples"] == SHARDS["validation"][1]  # every validation video, once
  assert 0.0 <= final["top1"] <= 1.0
  assert (model_dir / "saved_model" / "saved_model.pb").exists()
  return final


def test_i3d_rgb_trains_on_mediasequence_shards(tmp_path):  # ~17 s
  data_dir = tmp_path / "shards"
  data_dir.mkdir()
  _write_shards(str(data_dir))
  _check_run(tmp_path / "run", _train(data_dir, tmp_path / "run", "i3d_rgb"))


@pytest.mark.slow  # ~50 s: two networks, a SavedModel load and experiments.evaluate
def test_two_stream_i3d_trains_evaluates_and_exports_on_mediasequence_shards(tmp_path):
  data_dir = tmp_path / "shards"
  data_dir.mkdir()
  _write_shards(str(data_dir))
  model_dir = tmp_path / "run"
  final = _check_run(model_dir, _train(data_dir, model_dir, "i3d_two_stream"))
  saved = model_dir / "saved_model"

  # The SavedModel takes the model's float inputs in [-1, 1], any number of frames.
  loaded = tf.saved_model.load(str(saved))
  serve = loaded.signatures["serving_default"]
  inputs = {name: tf.zeros([1, 11, 32, 32, spec.shape[-1]], tf.float32)
            for name, spec in serve.structured_input_signature[1].items()}
  outputs = serve(**inputs)
  logits = outputs["logits"].numpy()
  assert logits.shape[-1] == NUM_CLASSES and np.all(np.isfinite(logits))

  # experiments.evaluate on the same run and shards: the same videos, the same top-1.
  eval_dir = tmp_path / "evaluation"
  out = _run("experiments.evaluate", f"--run_dirs={model_dir}", "--dataset=mediasequence",
             f"--data_dir={data_dir}", f"--num_classes={NUM_CLASSES}", f"--output_dir={eval_dir}")
  result = json.loads((eval_dir / "metrics.json").read_text())
  summary, = result["splits"]
  assert summary["num_examples"] == SHARDS["validation"][1]
  assert summary["top1"] == pytest.approx(final["top1"])
  assert (eval_dir / "confusion_matrix.png").exists()
