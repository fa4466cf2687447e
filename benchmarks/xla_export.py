r"""Exports the XLA programs TensorFlow compiles (TV-L1 flow, I3D forward and training step) so that
a machine without TensorFlow runs them through JAX (benchmarks/xla_run.py, benchmarks/gpu_check.sh).

  python -m benchmarks.xla_export --out=xla_programs   # the defaults (size, time: BENCHMARKS.md)
  python -m benchmarks.xla_export --out=/tmp/x --tvl1_sizes=256x340 --tvl1_batches=1 --i3d_streams=

Route: `tf.function(jit_compile=True).experimental_get_compiler_ir(*args)(stage='hlo_serialized')`
is the HloModuleProto that TensorFlow's tf2xla makes (before XLA's optimisation passes, which
the running backend does); jaxlib's `hlo_to_stablehlo` turns it into StableHLO, written as a
StableHLO portable artifact (`NAME.mlirbc`, readable by later StableHLO versions) and wrapped as a
serialized `jax.export.Exported` (`NAME.jaxexport`), which xla_run.py loads with the public
`jax.export.deserialize` and calls under `jax.jit`. The programs are TensorFlow's, op for op: JAX
only compiles and runs them.

Programs (names in manifest.json, one entry each with its inputs, outputs and how to check them):
- tvl1_HxW_bN: the build's TV-L1 (`flow.tf_flow(--tvl1_method)`, its tf.function for [N, H, W]
  uint8 pairs, compiled with XLA) for each --tvl1_sizes x --tvl1_batches. Inputs: pairs of real
  frames (gray, 25 fps, --videos, resized with area interpolation as benchmarks/flow.py does;
  synthetic frames when no clip is at hand) stored in tvl1_HxW.npz with TensorFlow's flow of the
  first --tvl1_check_pairs pairs; a batch of N cycles through the stored pairs, so every program
  is checked on its own outputs (a pair's flow does not depend on its batch) and timed on real
  content (TV-L1 stops by a per-pair convergence rule: noise would time other iterations).
- i3d_STREAM_DTYPE_forward_bB / _train_bB: InceptionI3D (the release's network: width 1,
  VALID final pool, dropout 0.5, 400 classes) on [B, --i3d_frames, --i3d_size, --i3d_size, C]
  float32 clips, DTYPE float32 or bfloat16 (Keras 'mixed_bfloat16': bfloat16 compute, float32
  variables). The weights are program arguments (trainable, then non-trainable, as Keras lists
  them), so the files hold no constants; xla_run.py fills them with random values (speed does not
  depend on them). The training step is the Trainer's (i3d_tf/training/loop.py) on one device:
  softmax cross-entropy averaged over the batch + 1e-7 * l2 of the kernels, SGD with momentum
  0.9 (Keras' rule, m = 0.9 m - lr g, w += m; written out since Keras' stateless_apply does not
  exist on the TensorFlow backend), lr 0.1, dropout and batch norm in training mode; its outputs
  are (loss, new trainable, new non-trainable, new momenta), which xla_run.py feeds back.
- ..._check: the same functions on a small model (--check_width, SAME final pool) and clip
  (--check_clip, --check_batch), with their inputs and TensorFlow's outputs stored in NAME.npz,
  exported with TF32 off (tf2xla then marks convolutions HIGHEST precision, so a GPU computes
  them in float32 and the float32 tolerance holds). The timed programs keep TensorFlow's default
  (TF32 allowed on a GPU that has it): they are what TensorFlow would run there.

TensorFlow's own time per call for the programs matching --tf_time (on this machine, for scale
beside JAX's on the same one) goes in the manifest. Needs TensorFlow and jax (`pip install
.[xla]`). Figures: BENCHMARKS.md, 'XLA programs run through JAX'.
"""
import hashlib
import json
import os
import pathlib
import platform
import re
import shutil
import time

from absl import app
from absl import flags
import numpy as np

from i3d_tf import config as config_lib
from i3d_tf import entry

flags.DEFINE_string("out", None, "Folder to write (created; existing programs are overwritten).")
flags.DEFINE_list("tvl1_sizes", ["256x340", "256x456"], "TV-L1 frame sizes HxW (empty: none).")
flags.DEFINE_list("tvl1_batches", ["1", "8", "32", "64"], "TV-L1 batch sizes (pairs per call).")
flags.DEFINE_string("tvl1_method", "tvl1_tf", "flow.TF_METHODS name whose TV-L1 is exported.")
flags.DEFINE_integer("tvl1_pairs", 8, "Distinct frame pairs stored per size (inputs cycle them).")
flags.DEFINE_integer("tvl1_check_pairs", 2, "Pairs per size with TensorFlow's flow stored.")
flags.DEFINE_list("videos", None, "Clips the TV-L1 frames come from (default: the first of "
                  "../shared/testdata/videos that is present; none: synthetic frames).")
flags.DEFINE_list("i3d_streams", ["rgb", "flow"], "I3D streams (empty: none).")
flags.DEFINE_list("i3d_dtypes", ["float32", "bfloat16"], "float32 and/or bfloat16.")
flags.DEFINE_list("i3d_programs", ["forward", "train"], "forward and/or train.")
flags.DEFINE_list("i3d_batches", ["8"], "Timed I3D batch sizes (clips per call, 1-8).")
flags.DEFINE_integer("i3d_frames", 64, "Frames per timed clip.")
flags.DEFINE_integer("i3d_size", 224, "Height and width of a timed clip.")
flags.DEFINE_float("check_width", 0.125, "width_multiplier of the checked I3D programs.")
flags.DEFINE_string("check_clip", "8x64x64", "TxHxW of the checked I3D programs' clips.")
flags.DEFINE_integer("check_batch", 2, "Clips per call of the checked I3D programs.")
flags.DEFINE_bool("check", True, "Export the I3D check programs (stored inputs and outputs).")
flags.DEFINE_bool("timed", True, "Export the timed I3D programs (--notimed: the checks alone).")
flags.DEFINE_string("tf_time", r"_check$|^tvl1_.*_b1$", "Regex of the programs whose TensorFlow "
                    "time per call (on this machine) is measured for the manifest; '' for none.")
FLAGS = flags.FLAGS

CHANNELS = {"rgb": 3, "flow": 2}
_TRAINER = config_lib.TrainerConfig()  # the training binaries' defaults
LEARNING_RATE = _TRAINER.learning_rate
MOMENTUM = _TRAINER.momentum
WEIGHT_DECAY = _TRAINER.weight_decay
I3D_CLASSES = 400
TVL1_EPE_TOLERANCE = 0.05  # px, mean endpoint error against TensorFlow's flow
# StableHLO element types -> numpy dtype names (ml_dtypes' 'bfloat16').
_ELEMENT_TYPES = {"f64": "float64", "f32": "float32", "f16": "float16", "bf16": "bfloat16",
                  "i64": "int64", "i32": "int32", "i16": "int16", "i8": "int8", "i1": "bool",
                  "ui64": "uint64", "ui32": "uint32", "ui16": "uint16", "ui8": "uint8"}


# ------------------------------------------------------------------------------------------------
# TensorFlow -> StableHLO -> jax.export.


def _stablehlo_signature(module):
  """[(shape, dtype name)] of `module`'s main arguments and results."""
  from jaxlib.mlir import ir  # pylint: disable=g-import-not-at-top
  main = next(op for op in module.body.operations
              if ir.StringAttr(op.attributes["sym_name"]).value == "main")
  function_type = ir.FunctionType(ir.TypeAttr(main.attributes["function_type"]).value)

  def one(t):
    t = ir.RankedTensorType(t)
    return tuple(int(d) for d in t.shape), _ELEMENT_TYPES[str(t.element_type)]
  return [one(t) for t in function_type.inputs], [one(t) for t in function_type.results]


def stablehlo_from_tf(tf_function, args):
  """(StableHLO portable artifact bytes, input [(shape, dtype)], output [(shape, dtype)]) of the
  XLA program TensorFlow compiles for `tf_function(*args)` (a jit_compile tf.function)."""
  import jax  # pylint: disable=g-import-not-at-top,unused-import
  from jax._src.export import _export  # pylint: disable=g-import-not-at-top
  from jax._src.interpreters import mlir  # pylint: disable=g-import-not-at-top
  from jax._src.lib import xla_client  # pylint: disable=g-import-not-at-top
  from jaxlib.mlir import ir  # pylint: disable=g-import-not-at-top
  hlo = tf_function.experimental_get_compiler_ir(*args)(stage="hlo_serialized")
  stablehlo = xla_client._xla.mlir.hlo_to_stablehlo(hlo)  # pylint: disable=protected-access
  with mlir.make_ir_context():
    module = ir.Module.parse(stablehlo)
    inputs, outputs = _stablehlo_signature(module)
    # The bytes jax.export itself stores: a portable artifact for a StableHLO version at least
    # 4 weeks old, so that a later jaxlib (the GPU machine's) reads it.
    artifact = _export._module_to_bytecode(module)  # pylint: disable=protected-access
  expected = [tuple(int(d) for d in a.shape) for a in args]
  if [shape for shape, _ in inputs] != expected:
    raise ValueError(f"the program's parameters {inputs} are not the arguments {expected}")
  return artifact, inputs, outputs


def jax_exported(name, artifact, inputs, outputs):
  """A serialized jax.export.Exported calling the StableHLO `artifact` on one device of any
  platform (xla_run.exported_from_artifact)."""
  from benchmarks import xla_run  # pylint: disable=g-import-not-at-top
  return bytes(xla_run.exported_from_artifact(name, artifact, inputs, outputs).serialize())


class CheckArrays:
  """Writes check programs' arrays into NAME.npz files, each distinct array once: an input
  that an earlier program stored (the same weights, clip) is referred to as [its file, key]."""

  def __init__(self, out_dir):
    self.out_dir = pathlib.Path(out_dir)
    self.stored = {}

  def write(self, data, inputs, outputs):
    """(input refs, output refs): [file, key] of each array; writes `data` (an .npz name)."""
    arrays, refs = {}, []
    for prefix, values in (("in", inputs), ("out", outputs)):
      keys = []
      for i, value in enumerate(values):
        value = np.asarray(value)
        digest = hashlib.sha1(value.tobytes() + str((value.shape, value.dtype)).encode())
        digest = digest.hexdigest()
        if digest not in self.stored:
          self.stored[digest] = [data, f"{prefix}_{i:04d}"]
          arrays[f"{prefix}_{i:04d}"] = value
        keys.append(self.stored[digest])
      refs.append(keys)
    np.savez_compressed(self.out_dir / data, **arrays)
    return refs


def _specs(pairs):
  return [{"shape": list(shape), "dtype": dtype} for shape, dtype in pairs]


def write_program(out_dir, name, tf_function, args, entry):
  """Writes NAME.jaxexport and NAME.mlirbc; returns the manifest entry (`entry` + signature)."""
  started = time.perf_counter()
  artifact, inputs, outputs = stablehlo_from_tf(tf_function, args)
  out_dir = pathlib.Path(out_dir)
  (out_dir / f"{name}.mlirbc").write_bytes(artifact)
  (out_dir / f"{name}.jaxexport").write_bytes(jax_exported(name, artifact, inputs, outputs))
  entry = dict(entry, name=name, file=f"{name}.jaxexport", artifact=f"{name}.mlirbc",
               inputs=_specs(inputs), outputs=_specs(outputs))
  names = entry.pop("input_names", None)
  if names:
    for spec, arg_name in zip(entry["inputs"], names):
      spec["name"] = arg_name
  print(f"  {name}: {len(inputs)} inputs, {len(outputs)} outputs, "
        f"{(out_dir / entry['file']).stat().st_size / 1e6:.2f} MB "
        f"({time.perf_counter() - started:.1f} s)", flush=True)
  return entry


def tf_seconds_per_call(fn, args, min_seconds=1.0, min_calls=2):
  """TensorFlow's mean seconds per call of `fn(*args)` (compiled by a first, untimed call)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.nest.map_structure(lambda t: t.numpy(), fn(*args))
  calls, started = 0, time.perf_counter()
  while calls < min_calls or time.perf_counter() - started < min_seconds:
    tf.nest.map_structure(lambda t: t.numpy(), fn(*args))
    calls += 1
  return (time.perf_counter() - started) / calls


# ------------------------------------------------------------------------------------------------
# TV-L1.


def default_videos():
  """The first clip of ../shared/testdata/videos present ([] when none is)."""
  root = pathlib.Path(__file__).resolve().parents[1]
  candidates = [os.environ.get("I3D_TF_SHARED"), root.parent / "shared"]
  git = root / ".git"
  if git.is_file() and git.read_text().startswith("gitdir:"):
    candidates.append(
        pathlib.Path(git.read_text()[len("gitdir:"):].strip()).resolve().parents[2].parent /
        "shared")
  for folder in candidates:
    if folder and (pathlib.Path(folder) / "testdata" / "videos").is_dir():
      videos = sorted((pathlib.Path(folder) / "testdata" / "videos").glob("*.mp4"))
      return [str(videos[0])] if videos else []
  return []


def tvl1_frames(videos, height, width, num_frames):
  """uint8 gray [num_frames, H, W]: consecutive frames (25 fps) of the first clip that has them,
  resized with area interpolation; a synthetic moving scene when no clip is given."""
  import cv2  # pylint: disable=g-import-not-at-top
  from i3d_tf.video import decode  # pylint: disable=g-import-not-at-top
  from i3d_tf.video import flow as flow_lib  # pylint: disable=g-import-not-at-top
  from i3d_tf.video import synthetic  # pylint: disable=g-import-not-at-top
  for path in videos:
    gray = flow_lib.to_gray(decode.read_video(path, fps=25, end_s=(num_frames + 2) / 25.0,
                                              shorter_side=256))
    if len(gray) >= num_frames:
      return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
                       for f in gray[:num_frames]]), pathlib.Path(path).name
  video = synthetic.make_video("translate_right", seed=0, num_frames=num_frames, height=height,
                               width=width)
  return flow_lib.to_gray(video), "synthetic.make_video('translate_right', seed=0)"


def export_tvl1(out_dir, sizes, batches, method="tvl1_tf", params=None, videos=(), num_pairs=8,
                check_pairs=2, tf_time=None):
  """Manifest entries of TV-L1 programs (and their tvl1_HxW.npz) for each size x batch.

  `params` (a tvl1.TVL1Params) replaces `method`'s parameters (small test programs)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from i3d_tf.video import flow as flow_lib  # pylint: disable=g-import-not-at-top
  from i3d_tf.video import tvl1  # pylint: disable=g-import-not-at-top
  flow = (flow_lib.tf_flow(method) if params is None else tvl1.TVL1(params, jit_compile=True))
  entries = []
  for height, width in sizes:
    frames, source = tvl1_frames(videos, height, width, num_pairs + 1)
    check = min(check_pairs, num_pairs)
    reference = flow(frames[:check], frames[1:check + 1]).numpy()
    data = f"tvl1_{height}x{width}.npz"
    np.savez_compressed(pathlib.Path(out_dir) / data, frames=frames, flow=reference)
    function = flow.function(height, width, tf.uint8)
    for batch in batches:
      index = np.arange(batch) % num_pairs
      args = (frames[index], frames[index + 1])
      name = f"tvl1_{height}x{width}_b{batch}"
      entry = {"kind": "tvl1", "data": data, "items_per_call": batch, "unit": "pairs",
               "frames_from": source, "params": flow.params.describe(),
               "input_names": ["frames0", "frames1"],
               "check": {"tolerance": {"epe_mean": TVL1_EPE_TOLERANCE}}}
      entry = write_program(out_dir, name, function, args, entry)
      if tf_time is not None and re.search(tf_time, name):
        entry["tf_ms_per_call"] = 1e3 * tf_seconds_per_call(function, args)
      entries.append(entry)
  return entries


# ------------------------------------------------------------------------------------------------
# I3D.


def check_tolerance(program, dtype):
  """xla_run.py's bounds for an I3D check program ('..._min': lower bounds).

  Forward: the logits, max |a - b| / max |b|. Training step: the loss likewise; the update of the
  weights (new - old, all variables as one vector) and the change of the batch-norm statistics,
  as |a - b| / |b| and cosine. The step's gradients at a random initialisation are ill-conditioned
  (batch norm over a few values per channel in the deep layers, near-constant channels): a tiny
  change of the input moves the float32 update by percents, and two XLA builds of one bfloat16
  program disagree on it by tens of percents (BENCHMARKS.md, 'XLA programs run through JAX').
  So the float32 bounds leave room for a GPU's other summation order, and the bfloat16 ones ask
  for the same direction only; a wrong program misses them by far (its cosine is near 0).
  """
  if program == "forward":
    return {"logits_max_rel": 1e-4 if dtype == "float32" else 3e-2}
  if dtype == "float32":
    return {"loss_max_rel": 1e-4, "update_rel_l2": 5e-2, "update_cosine_min": 0.99,
            "statistics_rel_l2": 5e-2}
  return {"loss_max_rel": 3e-2, "update_cosine_min": 0.5, "statistics_rel_l2": 0.3}


def i3d_functions(model):
  """(forward, train_step, state): pure functions of flat tensors and the model's initial state.

  forward(*trainable, *non_trainable, clip) -> logits (float32).
  train_step(*trainable, *non_trainable, *momenta, clip, labels) -> (loss, *new trainable,
  *new non-trainable, *new momenta).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  trainable = [v.value for v in model.trainable_variables]
  non_trainable = [v.value for v in model.non_trainable_variables]
  n_t, n_n = len(trainable), len(non_trainable)
  kernels = [i for i, v in enumerate(model.trainable_variables) if v.path.endswith("kernel")]

  def forward(*flat):
    logits, _ = model.stateless_call(list(flat[:n_t]), list(flat[n_t:n_t + n_n]), flat[-1],
                                     training=False)
    return tf.cast(logits, tf.float32)

  def train_step(*flat):
    weights = list(flat[:n_t])
    state = list(flat[n_t:n_t + n_n])
    momenta = list(flat[n_t + n_n:2 * n_t + n_n])
    clip, labels = flat[-2], flat[-1]
    with tf.GradientTape() as tape:
      tape.watch(weights)
      logits, new_state = model.stateless_call(weights, state, clip, training=True)
      logits = tf.cast(logits, tf.float32)
      per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
      loss = tf.reduce_mean(per_example)
      loss += WEIGHT_DECAY * tf.add_n([tf.nn.l2_loss(weights[i]) for i in kernels])
    grads = tape.gradient(loss, weights)
    new_momenta = [MOMENTUM * m - LEARNING_RATE * g for m, g in zip(momenta, grads)]
    new_weights = [w + m for w, m in zip(weights, new_momenta)]
    return [loss] + new_weights + list(new_state) + new_momenta

  names = ([v.path for v in model.trainable_variables] +
           [v.path for v in model.non_trainable_variables])
  return forward, train_step, (trainable, non_trainable, names)


def build_i3d(stream, dtype, width=1.0, final_pool_padding="VALID", clip_shape=(64, 224, 224)):
  """InceptionI3D of `stream` under the dtype policy, built for clips of clip_shape."""
  import keras  # pylint: disable=g-import-not-at-top
  from i3d_tf.models import registry  # pylint: disable=g-import-not-at-top
  keras.mixed_precision.set_dtype_policy("mixed_bfloat16" if dtype == "bfloat16" else "float32")
  try:
    options = {"final_pool_padding": final_pool_padding}
    if width != 1.0:
      options["width_multiplier"] = width
    model = registry.build_model(f"i3d_{stream}", I3D_CLASSES, **options)
    model.build((None,) + tuple(clip_shape) + (CHANNELS[stream],))
  finally:
    keras.mixed_precision.set_dtype_policy("float32")
  return model


def _i3d_program(program, batch, model_fns, clip, labels):
  """(tf.function compiled with XLA, its arguments, manifest entry) of I3D's forward or training
  step: weights (and for the step, their momenta) as arguments before the clip."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  forward, train_step, (trainable, non_trainable, names) = model_fns
  if program == "forward":
    args = trainable + non_trainable + [clip]
    fn, arg_names = forward, names + ["clip"]
    entry = {"kind": "i3d_forward", "unit": "clips", "items_per_call": batch}
  else:
    momenta = [tf.zeros_like(w) for w in trainable]
    args = trainable + non_trainable + momenta + [clip, labels]
    fn = train_step
    arg_names = names + [f"momentum/{n}" for n in names[:len(trainable)]] + ["clip", "labels"]
    n_state = len(args) - 2
    entry = {"kind": "i3d_train", "unit": "steps", "items_per_call": 1, "clips_per_call": batch,
             "feedback": [[i, i + 1] for i in range(n_state)],
             "num_trainable": len(trainable), "num_non_trainable": len(non_trainable)}
  specs = [tf.TensorSpec(a.shape, tf.as_dtype(a.dtype)) for a in args]
  function = tf.function(fn, input_signature=specs, jit_compile=True, autograph=False)
  entry["input_names"] = arg_names
  return function, args, entry


def _i3d_check(store, name, program, dtype, function, args, num_weights):
  """The check part of a checked program's entry: its inputs and TensorFlow's outputs written to
  NAME.npz (the forward's logits; the step's loss, new weights and batch statistics)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  outputs = tf.nest.flatten(function(*args))
  compared = [0] if program == "forward" else list(range(1 + num_weights))
  data = f"{name}.npz"
  input_refs, output_refs = store.write(data, args, [outputs[i] for i in compared])
  return {"data": data, "check": {"tolerance": check_tolerance(program, dtype),
                                  "compared": compared, "inputs": input_refs,
                                  "outputs": output_refs}}


def export_i3d(out_dir, stream, dtype, programs=("forward", "train"), batches=(8,), frames=64,
               size=224, check=True, check_width=0.125, check_clip=(8, 64, 64), check_batch=2,
               timed=True, tf_time=None, seed=0, store=None):
  """Manifest entries of one stream and dtype's I3D programs: timed (random inputs made by
  xla_run.py) and checked (inputs and TensorFlow's outputs in NAME.npz)."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  store = store or CheckArrays(out_dir)
  entries = []
  configs = []
  if check:
    configs.append(("check", check_width, "SAME", tuple(check_clip), [check_batch]))
  if timed:
    configs.append(("timed", 1.0, "VALID", (frames, size, size), list(batches)))
  tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
  for role, width, pool, clip_shape, batch_list in configs:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_tensor_float_32_execution(tf32 and role != "check")
    try:
      model = build_i3d(stream, dtype, width, pool, clip_shape)
      model_fns = i3d_functions(model)  # forward, train_step, (trainable, non_trainable, names)
      model_info = {"stream": stream, "dtype": dtype, "width_multiplier": width,
                    "final_pool_padding": pool, "num_classes": I3D_CLASSES,
                    "precision": "float32 (TF32 off)" if role == "check" else
                    "TensorFlow's default (TF32 allowed)"}
      rng = np.random.default_rng(seed)
      for batch in batch_list:
        clip = rng.uniform(-1, 1, (batch,) + clip_shape + (CHANNELS[stream],)).astype(np.float32)
        labels = rng.integers(0, I3D_CLASSES, batch).astype(np.int32)
        for program in programs:
          suffix = "_check" if role == "check" else ""
          name = f"i3d_{stream}_{dtype}_{program}_b{batch}{suffix}"
          function, args, entry = _i3d_program(program, batch, model_fns, clip, labels)
          entry["model"] = model_info
          if role == "check":
            entry.update(_i3d_check(store, name, program, dtype, function, args,
                                    len(model_fns[2][0]) + len(model_fns[2][1])))
          entry = write_program(out_dir, name, function, args, entry)
          if tf_time is not None and re.search(tf_time, name):
            entry["tf_ms_per_call"] = 1e3 * tf_seconds_per_call(function, args)
          entries.append(entry)
    finally:
      tf.config.experimental.enable_tensor_float_32_execution(tf32)
  return entries


def write_manifest(out_dir, entries, **info):
  """manifest.json: the programs and what made them."""
  import jax  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  manifest = {"format": 1, "tensorflow": tf.__version__, "jax": jax.__version__,
              "exported_on": platform.processor() or platform.machine(),
              "created": time.strftime("%Y-%m-%d %H:%M:%S"), **info, "programs": entries}
  path = pathlib.Path(out_dir) / "manifest.json"
  path.write_text(json.dumps(manifest, separators=(",", ":")))
  return path


def _hw(text, count):
  values = tuple(int(v) for v in text.lower().split("x"))
  if len(values) != count:
    raise app.UsageError(f"{text!r}: expected {count} numbers joined by 'x'")
  return values


def _export(out_dir):
  """Every program the flags ask for, into `out_dir` (manifest.json last); their entries."""
  tf_time = FLAGS.tf_time or None
  started = time.perf_counter()
  entries = []
  sizes = [_hw(s, 2) for s in FLAGS.tvl1_sizes if s]
  if sizes:
    videos = FLAGS.videos if FLAGS.videos is not None else default_videos()
    entries += export_tvl1(out_dir, sizes, [int(b) for b in FLAGS.tvl1_batches],
                           method=FLAGS.tvl1_method, videos=videos, num_pairs=FLAGS.tvl1_pairs,
                           check_pairs=FLAGS.tvl1_check_pairs, tf_time=tf_time)
  store = CheckArrays(out_dir)
  for stream in [s for s in FLAGS.i3d_streams if s]:
    for dtype in FLAGS.i3d_dtypes:
      entries += export_i3d(out_dir, stream, dtype, programs=FLAGS.i3d_programs,
                            batches=[int(b) for b in FLAGS.i3d_batches],
                            frames=FLAGS.i3d_frames, size=FLAGS.i3d_size, check=FLAGS.check,
                            check_width=FLAGS.check_width, check_clip=_hw(FLAGS.check_clip, 3),
                            check_batch=FLAGS.check_batch, timed=FLAGS.timed,
                            tf_time=tf_time, store=store)
  write_manifest(out_dir, entries, export_seconds=round(time.perf_counter() - started, 1))
  return entries


def main(argv):
  del argv
  if not FLAGS.out:
    raise app.UsageError("--out is required")
  out_dir = pathlib.Path(FLAGS.out).absolute()
  started = time.perf_counter()
  # Written beside --out and renamed into place: a killed export leaves no half folder, and the
  # folder a GPU run carries is always a whole one (an earlier export is replaced only then).
  out_dir.parent.mkdir(parents=True, exist_ok=True)
  staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
  try:
    staging.mkdir()
    entries = _export(staging)
    if out_dir.exists():
      shutil.rmtree(out_dir)
    staging.rename(out_dir)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  total = sum(f.stat().st_size for f in out_dir.iterdir() if f.is_file())
  print(f"{len(entries)} programs in {out_dir} ({total / 2**20:.1f} MiB) in "
        f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
  entry.run(main)  # absl's app.run, with --help exiting 0
