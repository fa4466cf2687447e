"""One model folder: the importer's output is read as a run; kill -9 and failed exports leave
nothing half-written; the uint8 serving signature in a process that never imports i3d_tf."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

from i3d_tf import export
from i3d_tf.checkpoints import runs
from i3d_tf.models import registry
from i3d_tf.video import decode
from i3d_tf.video import model_input
from tests import pretrained_fixtures as pf
from tests.conftest import REPO_ROOT, shared_path


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
  return pf.imported_folder(tmp_path_factory.mktemp("folder"))


def test_import_writes_a_model_folder_read_as_a_run(rgb_folder):
  run = runs.read_run_config(str(rgb_folder))
  assert (run["model"], run["num_classes"], run["clip"]["crop_size"]) == ("i3d_rgb", 7, pf.CROP)
  assert run["model_options"] == {"final_pool_padding": "SAME"}
  assert runs.class_names(run, str(rgb_folder)) == pf.CLASSES
  assert runs.is_model_folder(str(rgb_folder))
  for name in ("saved_model", "model.weights.h5", "label_map.txt", "import_info.json",
               "checkpoint", "ckpt-0.index"):
    assert (rgb_folder / name).exists(), name
  assert not [p for p in os.listdir(rgb_folder.parent) if ".writing-" in p]


def test_a_folder_without_run_config_or_marker_is_not_a_model(tmp_path, rgb_folder):
  old = tmp_path / "old_import"
  (old / "saved_model").mkdir(parents=True)
  (old / "model.weights.h5").write_bytes(b"")
  with pytest.raises(FileNotFoundError, match="not a complete model folder"):
    runs.read_run_config(str(old))
  cut = tmp_path / "cut"
  cut.mkdir()
  (cut / "run_config.json").write_text((rgb_folder / "run_config.json").read_text())
  assert not runs.is_model_folder(str(cut))
  with pytest.raises(FileNotFoundError, match="import_info.json: an import that did not finish"):
    runs.read_run_config(str(cut))
  with pytest.raises(FileNotFoundError, match="expected a model folder"):
    runs.read_run_config(str(tmp_path / "nowhere"))


def test_a_model_dir_pointing_at_the_wrong_thing_says_what_to_pass(rgb_folder):
  """`--model_dir` / `--run_dirs` given a checkpoint file, the SavedModel inside a model folder,
  or the folder of several runs: the error says what it is and which folder to pass."""
  checkpoint_file = rgb_folder / "ckpt-0.index"
  with pytest.raises(NotADirectoryError) as error:
    runs.read_run_config(str(checkpoint_file))
  assert str(error.value) == (
      f"{checkpoint_file} is a file, not a folder: expected a model folder: a training run's "
      f"--model_dir or import_deepmind_checkpoint's --output_dir; its folder {rgb_folder} is "
      f"one: pass that")
  with pytest.raises(FileNotFoundError) as error:
    runs.read_run_config(str(rgb_folder / "saved_model"))
  assert str(error.value) == (f"{rgb_folder / 'saved_model'} is the SavedModel inside the model "
                              f"folder {rgb_folder}: pass {rgb_folder}")
  with pytest.raises(FileNotFoundError) as error:
    runs.read_run_config(str(rgb_folder.parent))
  assert str(error.value).startswith(f"{rgb_folder.parent} is not a model folder but holds ")
  assert f"{rgb_folder}" in str(error.value) and str(error.value).endswith("; pass one of them")


def test_evaluate_with_a_mistyped_run_dir_names_it_and_creates_nothing(tmp_path, rgb_folder):
  """It used to create `<typo>/evaluation/` before finding that no run was there."""
  typo = tmp_path / "runs" / "rgb_ucf_s1_typo"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.evaluate", f"--run_dirs={rgb_folder}",
       f"--fuse_run_dirs={typo}", "--dataset=ucf101", f"--data_dir={tmp_path / 'tfds'}"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert (f"--fuse_run_dirs={typo}: {typo} does not exist: expected a model folder: a training "
          f"run's --model_dir or import_deepmind_checkpoint's --output_dir") in result.stderr
  assert not (tmp_path / "runs").exists()
  assert not (rgb_folder / "evaluation").exists()  # checked before the output folder is made


@pytest.mark.slow
def test_kill_9_during_import_leaves_no_model_folder(tmp_path):
  checkpoint = pf.release_checkpoint(tmp_path / "release")
  out = tmp_path / "imported"
  command = [sys.executable, "-m", "experiments.import_deepmind_checkpoint",
             f"--checkpoint={checkpoint}", f"--output_dir={out}", "--crop_size=64",
             "--final_pool_padding=SAME"]
  process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
  deadline = time.time() + 240
  writing = []
  while time.time() < deadline and process.poll() is None:
    writing = [p for p in tmp_path.iterdir() if p.name.startswith(".imported.writing-")]
    if writing and (writing[0] / "saved_model").exists():
      break  # killed while it writes: the SavedModel begun, the weights and marker not yet
    time.sleep(0.02)
  os.killpg(process.pid, signal.SIGKILL)
  process.wait()
  assert writing, "the import ended before it wrote anything"
  assert not out.exists()  # nothing at --output_dir: no half model folder to be read
  with pytest.raises(FileNotFoundError):
    runs.read_run_config(str(out))
  result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert runs.is_model_folder(str(out))
  assert not [p for p in tmp_path.iterdir() if ".writing-" in p.name]  # the leftover removed


@pytest.mark.slow
def test_a_failed_export_leaves_no_temporary_folder(tmp_path, monkeypatch):
  temp = tmp_path / "tmp"
  temp.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(temp))
  spec = registry.get("i3d_flow").input_spec
  model = registry.build_model("i3d_flow", 2, final_pool_padding="SAME")
  (tmp_path / "a_file").write_text("in the way")
  with pytest.raises(Exception):  # the export folder's path is a file
    export.export_saved_model(model, str(tmp_path / "a_file" / "sm"), spec, label_map=["a", "b"])
  # (autograph may leave its own generated modules there; no export folder may stay)
  assert [p for p in os.listdir(temp) if p.startswith("i3d_tf_export_")] == []


_SERVE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    export_dir, inputs_path, outputs_path = sys.argv[1:]
    loaded = tf.saved_model.load(export_dir)
    inputs = np.load(inputs_path)
    uint8 = loaded.signatures["serving_uint8"](frames=tf.constant(inputs["frames"]))
    floats = loaded.signatures["serving_default"](video=tf.constant(inputs["video"]))
    np.savez(outputs_path, uint8=uint8["logits"].numpy(), float=floats["logits"].numpy())
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "i3d_tf")))
""")


@pytest.mark.slow
def test_uint8_signature_gives_the_float_signatures_logits_without_i3d_tf(rgb_folder, tmp_path):
  video = shared_path("testdata", "videos", "v_ApplyEyeMakeup_g01_c01.avi")
  raw = decode.read_video(str(video), shorter_side=None)[:10]  # uint8 [10, 240, 320, 3]
  assert raw.shape[1:3] != (256, 256)
  spec = model_input.VideoInputSpec(streams=("rgb",), crop_size=pf.CROP)
  # The project's own path: cv2 resize to shorter side 256, centre crop, [-1, 1].
  frames = decode.read_video(str(video))[:10]
  video_input = model_input.frames_to_inputs(frames, spec)[0]["rgb"]
  np.savez(tmp_path / "in.npz", frames=raw[None], video=video_input[None])
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # i3d_tf not importable
  result = subprocess.run(
      [sys.executable, "-c", _SERVE, str(rgb_folder / "saved_model"), str(tmp_path / "in.npz"),
       str(tmp_path / "out.npz")], cwd=tmp_path, env=env, capture_output=True, text=True,
      timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout.strip().splitlines()[-1]) == []
  out = np.load(tmp_path / "out.npz")
  scale = np.abs(out["float"]).max()
  assert scale > 1e-2
  # Equal up to the 8-bit rounding of the resized pixels (TF's and OpenCV's bilinear differ there).
  print("max |uint8 - float| logits:", np.abs(out["uint8"] - out["float"]).max(), "of", scale)
  np.testing.assert_allclose(out["uint8"], out["float"], atol=0.002 * scale)
  assert np.argmax(out["uint8"]) == np.argmax(out["float"])


@pytest.mark.slow
def test_the_import_folder_drives_evaluate_extract_features_and_finetune(tmp_path):
  """import_deepmind_checkpoint's folder as --run_dirs, --model_dir and --init (classify:
  test_classify.py) on a small UCF-101-layout build."""
  from i3d_tf.training import testing  # pylint: disable=import-outside-toplevel
  classes = ["right", "down", "left", "up"]
  data_dir = str(tmp_path / "tfds")
  testing.write_tfds_layout(
      data_dir, "i3d_ucf101/split1",
      splits={"train": testing.moving_square_examples(8, (10, 14), 36, 4, seed=1),
              "test": testing.moving_square_examples(4, (10, 14), 36, 4, seed=2)},
      class_names=classes)
  folder = pf.imported_folder(tmp_path, crop=32, names=classes)

  def binary(name, *args):
    result = subprocess.run([sys.executable, "-m", f"experiments.{name}", *args], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"
    return result

  binary("evaluate", f"--run_dirs={folder}", "--dataset=ucf101", f"--data_dir={data_dir}",
         f"--output_dir={tmp_path / 'eval'}")
  report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
  assert report["splits"][0]["num_examples"] == 4
  binary("extract_features", f"--model_dir={folder}", "--endpoint=Logits", "--dataset=ucf101",
         f"--data_dir={data_dir}", f"--output_dir={tmp_path / 'features'}")
  assert len(list((tmp_path / "features").glob("*.npy"))) == 4
  result = binary("finetune", "--model=i3d_rgb", "--dataset=ucf101", "--split=1", "--mode=fixed",
                  f"--init={folder}", f"--data_dir={data_dir}",
                  f"--model_dir={tmp_path / 'ft'}", "--train_steps=1", "--batch_size=4",
                  "--train_frames=8", "--crop_size=32", "--final_pool_padding=SAME",
                  "--eval_every=0", "--checkpoint_every=1")
  del result
  # --mode=fixed trains the logits only: every other weight is the imported folder's.
  imported, _ = runs.load_run(str(folder))
  tuned, _ = runs.load_run(str(tmp_path / "ft"))
  before, after = imported.deepmind_variables(), tuned.deepmind_variables()
  for name in ("Conv3d_1a_7x7/conv_3d/w", "Mixed_5c/Branch_3/Conv3d_0b_1x1/batch_norm/beta"):
    np.testing.assert_array_equal(after[name].numpy(), before[name].numpy())


def test_an_import_never_replaces_a_folder_it_did_not_write(tmp_path):
  checkpoint = pf.release_checkpoint(tmp_path / "release")
  run = tmp_path / "a_training_run"
  run.mkdir()
  (run / "run_config.json").write_text("{}")
  from i3d_tf.checkpoints import import_release  # pylint: disable=import-outside-toplevel
  with pytest.raises(FileExistsError, match="neither an earlier import nor empty"):
    import_release.import_checkpoint(checkpoint, str(run), crop_size=64, final_pool_padding="SAME")
  assert os.listdir(run) == ["run_config.json"]
  assert not [p for p in os.listdir(tmp_path) if ".writing-" in p]
