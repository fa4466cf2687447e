"""experiments.evaluate_sample and experiments.import_deepmind_checkpoint on random-valued
checkpoints in the release's data/ layout: the release's printout, and joint = sum of logits."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from experiments import evaluate_sample
from i3d_tf.checkpoints import deepmind
from i3d_tf.checkpoints import import_release
from i3d_tf.models import registry
from tests import deepmind_fixtures as fx
from tests.conftest import REPO_ROOT, shared_path

NUM_CLASSES = 20  # all 20 classes appear in the top-20 rows, so every logit can be checked
_ROW = re.compile(r"^(\S+) (\S+) (.+)$")


def _layout(channels, scope):
  return fx.model_layout(channels, NUM_CLASSES, scope)


@pytest.fixture(scope="module")
def release_data(tmp_path_factory):
  """A miniature of the release's data/ folder: checkpoints, sample .npy files, label maps."""
  data = tmp_path_factory.mktemp("data")
  for i, (name, channels, scope) in enumerate([("rgb_imagenet", 3, "RGB/inception_i3d"),
                                               ("flow_imagenet", 2, "Flow/inception_i3d")]):
    values = fx.random_values(_layout(channels, scope), seed=10 + i)
    fx.write_checkpoint(data / "checkpoints" / name / "model.ckpt", values)
  k600 = fx.kinetics600_layout(_layout(3, ""), num_classes=NUM_CLASSES)
  fx.write_checkpoint(data / "checkpoints" / "rgb_scratch_kin600" / "model.ckpt",
                      fx.random_values(k600, seed=12))
  rng = np.random.default_rng(0)
  np.save(data / "v_CricketShot_g04_c01_rgb.npy",
          rng.uniform(-1, 1, (1, 9, 224, 224, 3)).astype(np.float32))
  np.save(data / "v_CricketShot_g04_c01_flow.npy",
          rng.uniform(-1, 1, (1, 10, 224, 224, 2)).astype(np.float32))
  (data / "label_map.txt").write_text("".join(f"action {i}\n" for i in range(NUM_CLASSES)))
  (data / "label_map_600.txt").write_text(
      "".join(f"k600 action {i}\n" for i in range(NUM_CLASSES)))
  return data


def parse_output(text):
  """(norm, [(probability, logit, class)]) from the release's printout; checks its format."""
  lines = text.rstrip("\n").split("\n")
  match = re.fullmatch(r"Norm of logits: (\d+\.\d{6})", lines[0])
  assert match, lines[0]
  assert lines[1:3] == ["", "Top classes and probabilities"]
  rows = []
  for line in lines[3:]:
    probability, logit, name = _ROW.match(line).groups()
    rows.append((float(probability), float(logit), name))
  assert len(rows) == 20
  probabilities = [r[0] for r in rows]
  assert probabilities == sorted(probabilities, reverse=True)
  return float(match.group(1)), rows


@pytest.mark.parametrize("name", ["imagenet_rgb", "imagenet_joint", "no_imagenet_flow"])
def test_parser_reads_the_release_printout(name):
  text = shared_path("reference", "kinetics_i3d", "sample_outputs", f"{name}.txt").read_text()
  norm, rows = parse_output(text)
  assert norm > 10 and rows[0][2] == "playing cricket"


def _run_in_process(eval_type, data):
  paths = evaluate_sample.default_paths(str(data), eval_type, imagenet_pretrained=True)
  return evaluate_sample.format_output(*evaluate_sample.evaluate(eval_type, paths))


@pytest.mark.slow
def test_joint_is_the_sum_of_rgb_and_flow_logits(release_data):
  rgb = dict((r[2], r) for r in parse_output(_run_in_process("rgb", release_data))[1])
  flow = dict((r[2], r) for r in parse_output(_run_in_process("flow", release_data))[1])
  result = subprocess.run(
      [sys.executable, "-m", "experiments.evaluate_sample", "--eval_type=joint",
       "--imagenet_pretrained=true", f"--data_dir={release_data}"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  norm, joint = parse_output(result.stdout)
  logits = np.array([logit for _, logit, _ in joint], np.float32)
  assert norm == pytest.approx(np.linalg.norm(logits), rel=1e-5)
  assert {name for *_, name in joint} == {f"action {i}" for i in range(NUM_CLASSES)}
  for probability, logit, name in joint:
    assert logit == pytest.approx(rgb[name][1] + flow[name][1], rel=1e-5, abs=1e-5)
  # The softmax of the summed logits (not a combination of the streams' probabilities).
  np.testing.assert_allclose([p for p, *_ in joint], tf.nn.softmax(logits).numpy(), rtol=1e-4,
                             atol=1e-7)


def test_rgb600_uses_unscoped_checkpoint_and_600_label_map(release_data):
  _, rows = parse_output(_run_in_process("rgb600", release_data))
  assert all(name.startswith("k600 action") for *_, name in rows)


@pytest.mark.slow
def test_import_binary_writes_saved_model_weights_and_label_map(release_data, tmp_path):
  checkpoint = release_data / "checkpoints" / "rgb_scratch_kin600" / "model.ckpt"
  out = tmp_path / "imported"
  result = subprocess.run(
      [sys.executable, "-m", "experiments.import_deepmind_checkpoint",
       f"--checkpoint={checkpoint}", f"--output_dir={out}"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  info = json.loads((out / "import_info.json").read_text())
  assert (info["stream"], info["scope"], info["num_classes"], info["variables_assigned"]) == (
      "rgb", "", NUM_CLASSES, 230)
  assert len(info["ignored"]) == 230 - 2 * 57  # the /Momentum slots
  assert info["label_map"].endswith("label_map_600.txt")  # found two folders up, 20 names
  assert (out / "label_map.txt").read_text() == (release_data / "label_map_600.txt").read_text()

  reference = deepmind.load_deepmind_checkpoint(str(checkpoint))
  video = tf.random.uniform((1, 9, 224, 224, 3), -1, 1, seed=5)
  expected = reference(video).numpy()
  rebuilt = registry.build_model("i3d_rgb", NUM_CLASSES)
  rebuilt.build((None, None, 224, 224, 3))
  rebuilt.load_weights(str(out / "model.weights.h5"))
  np.testing.assert_allclose(rebuilt(video).numpy(), expected, rtol=1e-5, atol=1e-5)
  serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
  np.testing.assert_allclose(serve(video=video)["logits"].numpy(), expected, rtol=1e-5,
                             atol=1e-5)


@pytest.mark.slow
def test_joint_import_gives_two_stream_saved_model(release_data, tmp_path):
  """RGB + Flow checkpoints -> i3d_two_stream SavedModel with inputs `rgb` and `flow`."""
  checkpoints = release_data / "checkpoints"
  out = tmp_path / "joint"
  info = import_release.import_checkpoint(
      str(checkpoints / "rgb_imagenet" / "model.ckpt"), str(out),
      flow_checkpoint=str(checkpoints / "flow_imagenet" / "model.ckpt"))
  assert info["model"] == "i3d_two_stream" and info["variables_assigned"] == 460
  assert info["label_map"].endswith("label_map.txt")

  paths = evaluate_sample.default_paths(str(release_data), "joint", imagenet_pretrained=True)
  expected, _, _ = evaluate_sample.evaluate("joint", paths)
  serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
  _, kwargs = serve.structured_input_signature
  assert {k: v.shape.as_list() for k, v in kwargs.items()} == {
      "rgb": [None, None, 224, 224, 3], "flow": [None, None, 224, 224, 2]}
  outputs = serve(rgb=np.load(paths["rgb_sample"]), flow=np.load(paths["flow_sample"]))
  np.testing.assert_allclose(outputs["logits"].numpy()[0], expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(outputs["probabilities"].numpy()[0],
                             tf.nn.softmax(expected).numpy(), rtol=1e-5, atol=1e-7)


def test_missing_sample_is_named(release_data):
  paths = evaluate_sample.default_paths(str(release_data), "flow", imagenet_pretrained=False)
  paths["flow_checkpoint"] = str(release_data / "checkpoints" / "flow_imagenet" / "model.ckpt")
  paths["flow_sample"] = str(release_data / "nope_flow.npy")
  with pytest.raises(FileNotFoundError, match="nope_flow.npy"):
    evaluate_sample.evaluate("flow", paths)
