"""The embedded synthetic_motion set's reduced training configuration, and the paper's miniature.

`reduced_config(model)` is what `train_kinetics` trains with no data flags (the README's first
command), and what `reproduce --table=synthetic` trains every architecture with: the set's 8 motion
classes (320 train / 96 test clips of 16 frames at 64x64, TV-L1 flow) in minutes on 2 CPU cores,
instead of the paper's days on 64 GPUs. Tuned by measurement (BENCHMARKS.md, 'The embedded default'):
 - every model at a quarter of its channels (width_multiplier=0.25, opt-in; 1.0 is the paper's
   network): much faster steps on CPU;
 - 56 px crops of the 64 px frames instead of 224 of 256 (112 for the 3D-ConvNet); I3D: 16 frames
   (a synthetic clip's length) instead of 64 and final_pool_padding=SAME (a 56 px clip is smaller
   than the VALID 2x7x7 pool's window); ConvNet+LSTM: the clip's 16 frames in order instead of 25
   frames 1 in 5; the other baselines keep their frames and strides of Table 1 (the pipeline loops
   the 16-frame clips);
 - no random flip: a mirror turns 'translate right' into 'translate left' and clockwise into
   counter-clockwise, so flipping would teach wrong labels here;
 - global batch 8, lr 0.01 with a linear warm-up, cosine decay to 0, RGB and flow alike (at lr 0.1
   RGB I3D stays at chance, and flow learns faster at 0.01 too); the 3D-ConvNet at 0.003 (at 0.01
   its loss spiked); in the miniature RGB-I3D and the ConvNet+LSTM train 1200 steps, the others 600
   (MINIATURE_STEP_FACTOR); the ConvNet+LSTM's recurrent batch-norm gammas start at 1.0 (at
   Cooijmans et al.'s 0.1 the from-scratch quarter-width model learns no motion here; the model's
   default stays 0.1: the paper names no value, and its ConvNet+LSTM starts from ImageNet weights);
   no dropout (a quarter-width net underfits, not overfits);
 - batch-norm decay 0.9 instead of the release's 0.999: 0.999 would still weigh the initial
   statistics by 0.999^1800 = 0.17 at the end, and evaluation would be off.
Flag-free, so that both binaries can import it.

What each choice was measured against, and the results of every architecture with it:
BENCHMARKS.md, 'The embedded default', 'The synthetic miniature' and 'The ConvNet+LSTM on the
synthetic set'.
"""
import json
import math
import os

from experiments.configs import paper_tables
from i3d_tf.models import registry

CHANCE = 1.0 / 8
NUM_CLASSES = 8
EMBEDDED_STEPS = 1800  # train_kinetics' default (BENCHMARKS.md, 'The embedded default')
DEFAULT_STEPS = 600    # the miniature's, per architecture (times MINIATURE_STEP_FACTOR)
# RGB-I3D learns the set later than the models that see flow, and so does the ConvNet+LSTM: a
# 600-step schedule decays before they take off (BENCHMARKS.md, 'The synthetic miniature').
MINIATURE_STEP_FACTOR = {"i3d_rgb": 2, "lstm": 2}
SIGNIFICANCE = 0.01    # 'beats chance': P(top-1 this high | guessing) < 1%, by the binomial tail

# (paper label, --model, input) in Table 2's row order.
MODELS = (
    ("ConvNet+LSTM", "lstm", "RGB"),
    ("3D-ConvNet", "c3d", "RGB"),
    ("Two-Stream", "two_stream", "RGB+Flow"),
    ("3D-Fused", "fused_3d", "RGB+Flow"),
    ("RGB-I3D", "i3d_rgb", "RGB"),
    ("Flow-I3D", "i3d_flow", "Flow"),
    ("Two-Stream I3D", "i3d_two_stream", "RGB+Flow"),
)
LEFT_OUT = {}


def reduced_config(model, train_steps=EMBEDDED_STEPS):
  """{ExperimentConfig field: value} of the reduced configuration for `model` (a --model name)."""
  config = dict(crop_size=56, width_multiplier=0.25, random_flip=False, batch_size=8,
                train_steps=train_steps, learning_rate=0.01,
                warmup_steps=min(100, train_steps // 10), lr_schedule="cosine", dropout_rate=0.0,
                batch_norm_decay=0.9, eval_every=max(train_steps // 3, 1),
                checkpoint_every=max(train_steps // 6, 1), eval_batch_size=8)
  if registry.is_release_i3d(model):
    config.update(train_frames=16, final_pool_padding="SAME")
  elif model == "c3d":
    # At 0.01 the 3D-ConvNet's loss spikes above chance's and its held-out top-1 varies widely
    # from run to run (BENCHMARKS.md, 'The synthetic miniature').
    config.update(learning_rate=0.003)
  elif model == "lstm":
    # Table 1's 25 frames 1 in 5 (a 121-frame footprint) looped over a 16-frame clip would come
    # in scrambled order (0, 5, 10, 15, 4, 9, ...): the LSTM reads the clip's 16 frames in order.
    config.update(train_frames=16, test_frames=16, frame_stride=1)
    # Recurrent batch norms' gammas start at 1.0, not Cooijmans et al.'s 0.1: at 0.1 the quarter-
    # width model trained from scratch learns no motion here, even on fresh clips (BENCHMARKS.md,
    # 'The ConvNet+LSTM on the synthetic set').
    config.update(lstm_gamma_init=1.0)
  return config


def beats_chance_threshold(num_examples, chance=CHANCE, significance=SIGNIFICANCE):
  """The smallest top-1 that guessing reaches with probability below `significance` (binomial).

  With no evaluated videos nothing can beat chance: infinity, which no top-1 reaches.
  """
  if not num_examples or num_examples < 1:
    return float("inf")
  tail = 0.0
  for correct in range(num_examples, -1, -1):
    tail += math.comb(num_examples, correct) * chance ** correct * (1 - chance) ** (
        num_examples - correct)
    if tail >= significance:
      return (correct + 1) / num_examples
  return 0.0


def default_cache_dir(cache_dir=None):
  return cache_dir or os.environ.get("I3D_TF_CACHE") or os.path.join(
      os.path.expanduser("~"), ".cache", "i3d_tf", "tfds")


def flag_args(config):
  """--flag=value arguments of a reduced_config dict (booleans as --flag / --noflag)."""
  args = []
  for key, value in config.items():
    if isinstance(value, bool):
      args.append(f"--{key}" if value else f"--no{key}")
    else:
      args.append(f"--{key}={value}")
  return args


def miniature_steps(model, steps=DEFAULT_STEPS):
  """Training steps of `model` in the miniature: `steps` (--synthetic_steps) times its factor."""
  return steps * MINIATURE_STEP_FACTOR.get(model, 1)


def experiment_name(model):
  """The registered experiment of `model`'s miniature run (experiments/configs/registry.py)."""
  return f"synthetic/{model}"


def miniature_values(model, data_dir=None, runs_dir="runs", steps=DEFAULT_STEPS, seed=0):
  """{flag: value} of `model`'s miniature run on synthetic_motion/small, in the order `command`
  prints them: the reduced configuration (miniature_steps), evaluated once, at the end. Registered
  over synthetic_reduced/<model> as experiment_name(model); data_dir default: the cache."""
  values = {"model": model, "dataset": "synthetic_motion", "synthetic_config": "small",
            "data_dir": default_cache_dir(data_dir),
            "model_dir": os.path.join(runs_dir, "synthetic", model), "init": "scratch",
            "seed": seed}
  values.update(reduced_config(model, miniature_steps(model, steps)))
  values["eval_every"] = 0  # one evaluation, at the end
  return values


def command(model, data_dir, runs_dir, steps, seed=0):
  """argv of one architecture's reduced training run on synthetic_motion/small."""
  values = miniature_values(model, data_dir, runs_dir, steps, seed)
  return ["python", "-m", "experiments.train_kinetics"] + flag_args(values)


def build(data_dir):
  """Builds synthetic_motion/small into data_dir unless it is there."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  try:
    import datasets.synthetic_motion  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    import i3d_tf_datasets.synthetic_motion  # pylint: disable=import-outside-toplevel,unused-import
  builder = tfds.builder("synthetic_motion/small", data_dir=data_dir)
  if not builder.is_prepared():
    print(f"Building synthetic_motion/small into {data_dir} ...", flush=True)
    builder.download_and_prepare()


def read_result(run_dir):
  """(top-1, step, number of held-out videos) of a finished run's metrics.json, or None."""
  path = os.path.join(run_dir, "metrics.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    data = json.load(f)
  values = data.get("eval") or {}
  return values.get("top1"), data.get("step"), values.get("num_examples")


def markdown(runs_dir, models=MODELS, minutes=None):
  """The miniature's comparison table (the report's layout: one row per architecture)."""
  # Table 2's Kinetics cell of each architecture (every one is sourced in paper_tables).
  paper_cells = {model: f"t2_kinetics400_{model}" for _, model, _ in MODELS}
  lines = ["## Synthetic miniature: synthetic_motion/small (8 classes), held-out top-1", "",
           f"Chance is {100 * CHANCE:.1f}%; 'beats chance' means a top-1 that guessing reaches "
           f"with probability under {SIGNIFICANCE:.0%} (binomial tail: at least "
           f"{100 * beats_chance_threshold(96):.1f}% on the 96 held-out videos). Reduced "
           "configuration: experiments/configs/synthetic.py. 'Paper, Kinetics' is the paper's "
           "Table 2 Kinetics figure of the same architecture, for the ordering only.", "",
           "| architecture | --model | input | steps | top-1 (%) | chance (%) | beats chance | "
           "minutes | paper, Kinetics (%) |", "|---|---|---|---|---|---|---|---|---|"]
  for label, model, streams in models:
    result = read_result(os.path.join(runs_dir, "synthetic", model))
    paper = paper_tables.figure("2", paper_cells.get(model, ""))
    paper_text = f"{paper.top1:.1f}" if paper else "—"
    took = (minutes or {}).get(model)
    took_text = f"{took:.1f}" if took is not None else "—"
    if result is None or result[0] is None:
      lines.append(f"| {label} | `{model}` | {streams} | — | — | {100 * CHANCE:.1f} | — | "
                   f"{took_text} | {paper_text} |")
      continue
    top1, step, num_examples = result
    beats = top1 >= beats_chance_threshold(num_examples or 0)
    lines.append(f"| {label} | `{model}` | {streams} | {step} | {100 * top1:.1f} | "
                 f"{100 * CHANCE:.1f} | {'yes' if beats else 'no'} | {took_text} | "
                 f"{paper_text} |")
  for model, why in LEFT_OUT.items():
    lines.append(f"\nLeft out: `{model}`: {why}.")
  return "\n".join(lines) + "\n"


def chosen_models(models=None):
  """The MODELS rows of --models (all when None); a SystemExit naming the unknown ones."""
  unknown = set(models or ()) - {m[1] for m in MODELS}
  if unknown:
    raise SystemExit(f"--models: {', '.join(sorted(unknown))} not in the miniature; choose from "
                     f"{', '.join(m[1] for m in MODELS)}")
  return [m for m in MODELS if not models or m[1] in models]


def is_done(runs_dir, model, steps):
  """Whether `model`'s miniature run in runs_dir reached its steps (a rerun skips it)."""
  done = read_result(os.path.join(runs_dir, "synthetic", model))
  return bool(done and done[1] is not None and done[1] >= miniature_steps(model, steps))


def write_report(runs_dir, models, minutes):
  """Writes runs_dir/synthetic/REPORT.md (markdown) and prints it; returns its path."""
  text = markdown(runs_dir, models, minutes)
  path = os.path.join(runs_dir, "synthetic", "REPORT.md")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(text)
  print(text)
  print(f"Written to {path}")
  return path
