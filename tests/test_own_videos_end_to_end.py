"""Own videos end to end: build, fine-tune from a release-layout checkpoint, evaluate, by name.

A folder-per-class set (3 classes) and a CSV-listed set (4 classes) of real clips from
../shared/testdata (skipped with a reason where it is absent) are built small (no flow, short
side 64, first second), fine-tuned for two steps from a checkpoint in the exact layout of
DeepMind's rgb_imagenet release (random values, written under the release's names), and
evaluated: each model has as many outputs as its set has classes. The CSV set is built as a smoke
config (`python -m datasets.build ... --flow_method --shorter_side --max_seconds`) and then
trained, evaluated and featurised by that config's name.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from tests import deepmind_fixtures
from tests.conftest import REPO_ROOT
from tests.test_video_folder_builder import build, make_class_folders, make_listed_set

pytestmark = pytest.mark.slow

SMALL_CLIPS = ["--train_steps=2", "--batch_size=2", "--train_frames=8", "--crop_size=32",
               "--final_pool_padding=SAME", "--eval_every=0", "--checkpoint_every=2"]


@pytest.fixture(scope="module")
def release_checkpoint(tmp_path_factory):
  """A model.ckpt in the layout of the release's rgb_imagenet (RGB/inception_i3d/..., 400
  classes), from its real index in ../shared."""
  prefix = tmp_path_factory.mktemp("release") / "rgb_imagenet" / "model.ckpt"
  layout = deepmind_fixtures.release_layout("rgb_imagenet")
  return deepmind_fixtures.write_checkpoint(prefix, deepmind_fixtures.random_values(layout))


def _binary(name, *args):
  result = subprocess.run([sys.executable, "-m", name, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"
  return result


def _evaluated_logits(run_dir, dataset_args, data_dir, out):
  result = _binary("experiments.evaluate", f"--run_dirs={run_dir}", *dataset_args,
                   f"--data_dir={data_dir}", f"--output_dir={out}")
  [npz] = out.glob("logits_*.npz")
  saved = np.load(npz)
  return result, saved["logits"], saved["labels"]


def test_folder_per_class_set_finetunes_from_a_release_checkpoint_and_evaluates(
    release_checkpoint, tmp_path):
  manual = make_class_folders(tmp_path / "manual", broken=False)
  data_dir = tmp_path / "tfds"
  builder, result = build("sports", manual, data_dir, shorter_side=64, max_seconds=1.0)
  name = f"i3d_video_folder/{builder.builder_config.name}"  # i3d_video_folder/sports_s64_max1s
  num_test = result["splits"]["test"]["examples"]
  assert num_test == 3  # one of each class's two
  run_dir = tmp_path / "run"
  ft = _binary("experiments.finetune", "--model=i3d_rgb", f"--dataset={name}",
               f"--init={release_checkpoint}", f"--data_dir={data_dir}", f"--model_dir={run_dir}",
               "--mode=full", *SMALL_CLIPS)
  assert f"{name} (full): top-1" in ft.stdout and "(3 classes)" in ft.stdout
  assert "initialised 228 variables" in ft.stderr  # all but the 400-way logits
  run = json.loads((run_dir / "run_config.json").read_text())
  assert run["num_classes"] == 3 and run["class_names"] == ["boarding", "lifting", "makeup"]
  _, logits, labels = _evaluated_logits(run_dir, [f"--dataset={name}"], data_dir,
                                        tmp_path / "eval")
  assert logits.shape == (num_test, 3) and np.all(np.isfinite(logits))
  assert sorted(set(labels.tolist())) == [0, 1, 2]
  report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
  assert report["splits"][0]["num_examples"] == num_test


def test_csv_listed_smoke_config_trains_evaluates_and_extracts_by_name(release_checkpoint,
                                                                       tmp_path):
  manual = make_listed_set(tmp_path / "manual")
  data_dir = tmp_path / "tfds"
  built = _binary("datasets.build", "--dataset=i3d_video_folder/listed", f"--manual_dir={manual}",
                  f"--data_dir={data_dir}", "--flow_method=none", "--shorter_side=64",
                  "--max_seconds=1", "--num_workers=2")
  assert "i3d_video_folder/listed_s64_max1s in " in built.stdout
  assert "train: 4 examples" in built.stdout and "test: 3 examples" in built.stdout
  # Selected by builder + --dataset_config in training, by the full name afterwards.
  run_dir = tmp_path / "run"
  _binary("experiments.train_kinetics", "--model=i3d_rgb", "--dataset=i3d_video_folder",
          "--dataset_config=listed_s64_max1s", f"--init={release_checkpoint}",
          f"--data_dir={data_dir}", f"--model_dir={run_dir}", "--learning_rate=0.01",
          "--lr_schedule=cosine", *SMALL_CLIPS)
  run = json.loads((run_dir / "run_config.json").read_text())
  assert run["num_classes"] == 4 and run["class_names"] == ["board", "cooking", "tai chi",
                                                            "weights"]
  name = "i3d_video_folder/listed_s64_max1s"
  _, logits, labels = _evaluated_logits(run_dir, [f"--dataset={name}"], data_dir,
                                        tmp_path / "eval")
  assert logits.shape == (3, 4) and np.all(np.isfinite(logits))
  assert sorted(labels.tolist()) == [1, 2, 3]  # cooking, tai chi, weights in test
  features = tmp_path / "features"
  _binary("experiments.extract_features", f"--run_dir={run_dir}", "--endpoint=Logits",
          f"--dataset={name}", f"--data_dir={data_dir}", "--split_name=test",
          f"--output_dir={features}")
  arrays = sorted(features.glob("*.npy"))
  assert len(arrays) == 3 and all(np.load(a).shape == (4,) for a in arrays)
