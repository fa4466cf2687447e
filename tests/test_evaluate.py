"""Metrics, and the evaluate / extract_features / finetune binaries on a small TFDS-layout build."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from i3d_tf import config as config_lib
from i3d_tf.evaluation import metrics
from i3d_tf.training import experiment
from i3d_tf.training import testing
from tests.conftest import REPO_ROOT


def test_top_k_per_class_confusion_and_fusion():
  logits = np.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [3.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
  labels = np.array([0, 2, 1, 2])
  assert metrics.top_k_accuracy(logits, labels, 1) == pytest.approx(0.5)
  assert metrics.top_k_accuracy(logits, labels, 2) == pytest.approx(0.75)
  matrix = metrics.confusion_matrix(logits, labels, 3)
  np.testing.assert_array_equal(matrix, [[1, 0, 0], [1, 0, 0], [0, 1, 1]])
  np.testing.assert_allclose(metrics.per_class_accuracy(logits, labels, 3), [1.0, 0.0, 0.5])
  fused = metrics.fuse_two_stream(logits, -logits)
  np.testing.assert_array_equal(fused, 0)
  with pytest.raises(ValueError, match="same videos"):
    metrics.fuse_two_stream(logits, logits[:2])
  summary = metrics.summary(logits, labels)
  assert summary["mean_class_accuracy"] == pytest.approx(0.5)
  means = metrics.mean_over_splits([{"top1": 0.5, "top5": 1.0}, {"top1": 0.7, "top5": 1.0}])
  assert means == {"top1": pytest.approx(0.6), "top5": pytest.approx(1.0)}


@pytest.fixture(scope="module")
def ucf_like(tmp_path_factory):
  """A tiny build laid out as TFDS's i3d_ucf101/split1, and two short quarter-width runs on it
  (flow, RGB): what the binaries read of a run is the same at any width."""
  root = tmp_path_factory.mktemp("ucf_like")
  data_dir = str(root / "tfds")
  classes = ["right", "down", "left", "up"]
  testing.write_tfds_layout(
      data_dir, "i3d_ucf101/split1",
      splits={"train": testing.moving_square_examples(8, (10, 14), 36, 4, seed=1),
              "test": testing.moving_square_examples(6, (10, 14), 36, 4, seed=2)},
      class_names=classes)
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  data = training_flags.resolve_data("ucf101", data_dir, split_number=1)
  assert data.num_classes == 4 and list(data.class_names) == classes
  # No evaluation at the end of training: the binaries below evaluate these runs themselves.
  train_only = dataclasses.replace(data, eval_files=[])
  runs = {}
  for model in ("i3d_flow", "i3d_rgb"):
    run_dir = str(root / model)
    experiment.run(testing.toy_config(run_dir, model=model, train_steps=2, eval_max_videos=None,
                                      width_multiplier=0.25), train_only)
    runs[model] = run_dir
  return data_dir, runs


def _binary(name, *args):
  return subprocess.run([sys.executable, "-m", f"experiments.{name}", *args], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=400)


def test_evaluate_binary_fuses_two_runs_and_writes_its_reports(ucf_like, tmp_path):
  data_dir, runs = ucf_like
  out = tmp_path / "eval"
  result = _binary("evaluate", f"--run_dirs={runs['i3d_flow']}", f"--fuse_run_dirs={runs['i3d_rgb']}",
                   "--dataset=ucf101", f"--data_dir={data_dir}", f"--output_dir={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((out / "metrics.json").read_text())
  split = report["splits"][0]
  assert split["num_examples"] == 6 and split["run"] == "i3d_flow+i3d_rgb"
  flow, rgb = np.load(out / "logits_i3d_flow.npz"), np.load(out / "logits_i3d_rgb.npz")
  fused = flow["logits"] + rgb["logits"]
  assert split["top1"] == pytest.approx(metrics.top_k_accuracy(fused, flow["labels"], 1))
  assert sorted(flow["labels"]) == sorted(i % 4 for i in range(6))  # shards interleave
  assert (out / "confusion_matrix.png").stat().st_size > 1000
  lines = (out / "per_class_accuracy.tsv").read_text().splitlines()
  assert lines[0].startswith("class\tname") and len(lines) == 5 and "\tleft\t" in lines[3]


def test_evaluate_keeps_the_logits_of_two_runs_of_one_name_apart(ucf_like, tmp_path):
  """Two --run_dirs of one base name (runs/<split>/<model>) write two logits files, recorded.

  evaluate_runs.evaluate is the binary's work (its flags passed as they are): called here, in
  this process; the binary itself is run by the test above."""
  import shutil  # pylint: disable=import-outside-toplevel
  from experiments import evaluate_runs  # pylint: disable=import-outside-toplevel
  data_dir, runs = ucf_like
  first, second = tmp_path / "split1" / "run", tmp_path / "split2" / "run"
  shutil.copytree(runs["i3d_flow"], first)
  shutil.copytree(runs["i3d_rgb"], second)
  out = tmp_path / "eval"
  evaluate_runs.evaluate([str(first), str(second)], data_dir, "ucf101", splits=["1", "1"],
                         output_dir=str(out))
  assert sorted(p.name for p in out.glob("logits_*.npz")) == ["logits_split1_run.npz",
                                                              "logits_split2_run.npz"]
  report = json.loads((out / "metrics.json").read_text())
  for entry, run_dir in zip(report["splits"], (first, second)):
    assert entry["run_dir"] == str(run_dir)
    saved = np.load(out / entry["logits"])
    assert entry["top1"] == pytest.approx(metrics.top_k_accuracy(saved["logits"], saved["labels"], 1))
  one, two = (np.load(out / e["logits"])["logits"] for e in report["splits"])
  assert not np.allclose(one, two)  # a flow run and an RGB run: not one file written twice


@pytest.fixture(scope="module")
def split_features(ucf_like, tmp_path_factory):
  """One extract_features process over the ucf_like build's test split: Mixed_4f of the RGB run
  (--run_dir) and of the flow run beside it (--flow_model_dir), one file per stream."""
  data_dir, runs = ucf_like
  out = tmp_path_factory.mktemp("split_features")
  result = _binary("extract_features", f"--run_dir={runs['i3d_rgb']}",
                   f"--flow_model_dir={runs['i3d_flow']}", "--endpoint=Mixed_4f",
                   "--combine=separate", "--dataset=ucf101", f"--data_dir={data_dir}",
                   "--split_name=test", f"--output_dir={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  return out


def test_extract_features_writes_one_npy_per_video(split_features):
  out = split_features
  for stream in ("rgb", "flow"):
    files = sorted(p for p in os.listdir(out) if p.endswith(f".{stream}.npy"))
    assert len(files) == 6, (stream, files)
    features = np.load(out / files[0])
    assert features.ndim == 4 and features.shape[-1] == 208  # Mixed_4f: [T', h, w, 832 / 4]
  assert len((out / "index.tsv").read_text().splitlines()) == 7


def test_extract_features_of_an_rgb_run_equal_its_model_on_float_frames(ucf_like,
                                                                        split_features):
  """RGB leaves tf.data as uint8 and extract_features scales it to [-1, 1] itself: its Mixed_4f
  must be the run's model's on the centre window of every frame, decoded and scaled here."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from i3d_tf.data import records  # pylint: disable=import-outside-toplevel
  from i3d_tf.checkpoints import runs as runs_lib  # pylint: disable=import-outside-toplevel
  data_dir, runs = ucf_like
  out = split_features
  model, run = runs_lib.load_run(runs["i3d_rgb"])
  crop = run["clip"]["crop_size"]
  checked = 0
  for path in records.list_shards(data_dir, "i3d_ucf101/split1", "test"):
    for serialized in tf.data.TFRecordDataset(path):
      example = records.parse_tfds_example(serialized)
      encoded = example["rgb"].numpy()
      height, width = tf.image.extract_jpeg_shape(encoded[0]).numpy()[:2]
      window = [(height - crop) // 2, (width - crop) // 2, crop, crop]
      frames = np.stack([tf.io.decode_and_crop_jpeg(f, window, channels=3).numpy()
                         for f in encoded])                                   # uint8 [T, c, c, 3]
      video = frames[None].astype(np.float32) / 127.5 - 1.0                   # [1, T, c, c, 3]
      _, endpoints = model.call_with_endpoints(video, training=False)
      expected = endpoints["Mixed_4f"].numpy()[0]                             # [T', h, w, C]
      got = np.load(out / f"{example['video_id'].numpy().decode()}.rgb.npy")
      # The toy run's activations are large (its batch-norm statistics are a few steps old), so
      # the float32 rounding of the sums is large in absolute terms: compare against the largest.
      np.testing.assert_allclose(got, expected, rtol=1e-4,
                                 atol=1e-5 + 1e-5 * float(np.abs(expected).max()))
      checked += 1
  assert checked == 6


@pytest.mark.slow
def test_extract_features_from_a_video_file(ucf_like, tmp_path):
  from tests.conftest import shared_path  # pylint: disable=import-outside-toplevel
  video = shared_path("testdata", "videos", "v_ApplyEyeMakeup_g01_c01.avi")
  _, runs = ucf_like
  out = tmp_path / "features"
  result = _binary("extract_features", f"--run_dir={runs['i3d_rgb']}", "--endpoint=Logits",
                   f"--videos={video}", "--window=20", "--stride=20", f"--output_dir={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  logits = np.load(out / "v_ApplyEyeMakeup_g01_c01.avi.npy")  # [windows, classes]
  frames = json.loads((out / "progress.jsonl").read_text())["frames"]
  assert logits.shape == (-(-(frames - 20) // 20) + 1, 4) and np.all(np.isfinite(logits))


@pytest.mark.slow
def test_finetune_binary_fixed_mode_from_a_run(ucf_like, tmp_path):
  data_dir, runs = ucf_like
  model_dir = tmp_path / "ft"
  result = _binary("finetune", "--model=i3d_flow", "--dataset=ucf101", "--split=1", "--mode=fixed",
                   f"--init={runs['i3d_flow']}", f"--data_dir={data_dir}",
                   f"--model_dir={model_dir}", "--train_steps=2", "--batch_size=4",
                   "--train_frames=8", "--crop_size=32", "--final_pool_padding=SAME",
                   "--width_multiplier=0.25", "--eval_every=0", "--checkpoint_every=2")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "ucf101 split 1 (fixed): top-1" in result.stdout
  assert (model_dir / "saved_model" / "saved_model.pb").exists()
  run_config = json.loads((model_dir / "run_config.json").read_text())
  config = config_lib.of_run(run_config)
  assert config.init.finetune_mode == "fixed" and config.init.source == runs["i3d_flow"]


def test_unknown_flag_values_list_the_valid_ones():
  """train_kinetics' flags (training_flags.define_flags, as the binary defines them), parsed in
  this process: an unknown --model or --strategy is refused listing the valid values."""
  from absl import flags  # pylint: disable=import-outside-toplevel
  from experiments import training_flags  # pylint: disable=import-outside-toplevel
  def refusal(argv):
    values = flags.FlagValues()
    training_flags.define_flags("train_kinetics", flag_values=values)
    with pytest.raises(flags.IllegalFlagValueError) as error:
      values(["train_kinetics", argv])
    return str(error.value)
  message = refusal("--model=i3d_nope")
  assert "i3d_nope" in message and "i3d_rgb" in message and "i3d_flow" in message
  assert "default|mirrored|multi_worker|tpu" in refusal("--strategy=horovod")
