"""One recipe per cell of the paper's Tables 2-5: dataset and split, model, initialization, schedule,
replicas, batch and steps, and the commands that produce the cell's figure, in order.

A command is (binary, flags); flag values may hold the placeholders {data_dir} (the TFDS data_dir),
{runs} (the root of all runs) and {imagenet} (slim's Inception-v1 checkpoint), filled in by
`Recipe.argvs(...)`. A training command is also a registered experiment (experiments/configs/
registry.py): the binary's base experiment (train_kinetics, finetune) with the command's flags as
overrides, named after its run folder (`kinetics400/i3d_rgb_imagenet`,
`ucf101_split1/i3d_rgb_from_kinetics_imagenet_full`); `reproduce` runs it in-process, and
`--experiment=<name>` gives a binary the same settings as the printed flags.

Runs are named by what they are (dataset, model, initialisation), not by cell, so a run shared by
several cells (Table 2's Kinetics I3D is Table 3's ImageNet I3D; Table 4's 'Original' with ImageNet
is Table 2's UCF-101 run) is trained once: `reproduce` skips a command it already ran. Table 4's
'Original' without ImageNet is its own run, from scratch on the small set (`<model>_scratch`;
3D-ConvNet's, from scratch in both tables, is Table 2's).

What the recipes take from the paper and the release (deepmind/kinetics-i3d README):
- Kinetics: synchronous SGD over 64 replicas, 6 clips per replica (global batch 384), momentum 0.9,
  weight decay 1e-7, dropout 0.5, lr 0.1; RGB 115k steps with 10x drops at 97k and 108k
  (--lr_schedule=release_rgb), Flow 155k steps (release_flow); 64-frame I3D clips at 25 fps.
- The paper's schedule elsewhere is 'divide the lr by 10 when the validation loss saturates'
  (--lr_schedule=plateau), used here for training on UCF-101 / HMDB-51.
Our choices where neither says (marked `ours` in each recipe's `notes`): the baselines on Kinetics
use the RGB release schedule and batch; UCF-101 / HMDB-51 runs use 16 replicas x 6 clips, lr 0.1
('Original', ImageNet-initialised or from scratch alike) or lr 0.01 (fine-tuning, cosine as
experiments/finetune.py), 10k and 5k steps.

Every cell's paper figure is sourced (experiments/configs/paper_tables.py); 20 Table 4 cells have
none in the paper (paper_tables.NOT_IN_THE_PAPER: its Table 4 has no RGB-I3D / Flow-I3D rows).
"""
import dataclasses
from typing import Optional, Tuple

from i3d_tf.models import registry

# (label in the paper, registry model or None, streams it covers)
ARCHITECTURES = (
    ("ConvNet+LSTM", "lstm"),
    ("3D-ConvNet", "c3d"),
    ("Two-Stream", "two_stream"),
    ("3D-Fused", "fused_3d"),
    ("Two-Stream I3D", "i3d"),
)
STREAMS = ("RGB", "Flow", "RGB+Flow")
DATASET_LABELS = {"ucf101": "UCF-101", "hmdb51": "HMDB-51", "kinetics400": "Kinetics"}
INIT_LABELS = {"scratch": "Kinetics", "imagenet": "ImageNet + Kinetics"}

KINETICS_REPLICAS, KINETICS_PER_REPLICA, KINETICS_LR = 64, 6, 0.1
SMALL_REPLICAS, SMALL_PER_REPLICA = 16, 6
SMALL_STEPS, SMALL_LR = 10_000, 0.1
FINETUNE_STEPS, FINETUNE_LR = 5_000, 0.01
RGB_STEPS, FLOW_STEPS = 115_000, 155_000


DEFAULT_PATHS = dict(data_dir="data/tfds", runs="runs",
                     imagenet="checkpoints/inception_v1/inception_v1.ckpt")
TRAINING_BINARIES = ("train_kinetics", "finetune")  # each is also its base experiment's name


@dataclasses.dataclass(frozen=True)
class Command:
  """One step of a recipe: `binary`'s flags, in the order they are printed. A training step's
  flags are also its registered experiment: `binary`'s base experiment with these settings
  (typed values, as the binary parses them), named after its run folder (`experiment`)."""
  binary: str                      # experiments.<binary>
  flags: Tuple[Tuple[str, object], ...]

  def values(self, data_dir=DEFAULT_PATHS["data_dir"], runs=DEFAULT_PATHS["runs"],
             imagenet=DEFAULT_PATHS["imagenet"], placed_only=False):
    """{flag: value} with the placeholders filled in; `placed_only`: only the settings that hold
    a placeholder (the folders: what a run on other paths changes)."""
    subs = {"data_dir": data_dir, "runs": runs, "imagenet": imagenet}
    return {name: value.format(**subs) if isinstance(value, str) else value
            for name, value in self.flags
            if not placed_only or (isinstance(value, str) and "{" in value)}

  def argv(self, data_dir, runs, imagenet):
    return ["python", "-m", f"experiments.{self.binary}"] + [
        f"--{name}={value}" for name, value in self.values(data_dir, runs, imagenet).items()]

  def flag(self, name):
    return dict(self.flags).get(name)

  @property
  def experiment(self):
    """The registered experiment of a training step (its run folder under {runs}, e.g.
    'kinetics400/i3d_rgb_imagenet'); None for an evaluation."""
    if self.binary not in TRAINING_BINARIES:
      return None
    return experiment_name(self.flag("model_dir"))


def experiment_name(model_dir):
  """'{runs}/kinetics400/i3d_rgb_imagenet' -> 'kinetics400/i3d_rgb_imagenet'."""
  prefix = "{runs}/"
  if not model_dir.startswith(prefix):
    raise ValueError(f"a recipe's --model_dir must start with {prefix}: {model_dir!r}")
  return model_dir[len(prefix):]


@dataclasses.dataclass(frozen=True)
class Recipe:
  table: str
  cell: str
  row: str                         # the paper's row label
  column: Tuple[str, ...]          # the paper's column labels, outermost first
  dataset: str
  split: Optional[int]
  model: Optional[str]
  init: str                        # scratch | imagenet | kinetics (scratch) | kinetics+imagenet
  schedule: str
  replicas: int
  batch_per_replica: int
  steps: int
  commands: Tuple[Command, ...]
  result: str                      # the run or evaluation folder whose metrics.json holds the figure
  metric: str = "top1"             # top1 | mean_top1 (mean over splits)
  runnable: bool = True
  notes: str = ""

  @property
  def global_batch(self):
    return self.replicas * self.batch_per_replica

  def argvs(self, data_dir=DEFAULT_PATHS["data_dir"], runs=DEFAULT_PATHS["runs"],
            imagenet=DEFAULT_PATHS["imagenet"]):
    return [c.argv(data_dir, runs, imagenet) for c in self.commands]

  @property
  def experiments(self):
    """The registered experiments of the cell's training steps, in order."""
    return tuple(c.experiment for c in self.commands if c.experiment)

  def result_dir(self, runs="runs"):
    return self.result.format(runs=runs)


# ------------------------------------------------------------------------------------------------
# Commands.

def _strategy(replicas):
  return "multi_worker" if replicas > 8 else ("mirrored" if replicas > 1 else "default")


def kinetics_run(model, init):
  return f"{{runs}}/kinetics400/{model}_{init}"


def train_kinetics(model, init):
  """Training on Kinetics-400 as the release did (schedules: release_rgb / release_flow)."""
  flow_only = model == "i3d_flow"
  steps = FLOW_STEPS if flow_only else RGB_STEPS
  flags = [("model", model), ("dataset", "kinetics400"), ("data_dir", "{data_dir}"),
           ("init", init)]
  if init == "imagenet":
    flags.append(("imagenet_checkpoint", "{imagenet}"))
  flags += [("batch_size", KINETICS_REPLICAS * KINETICS_PER_REPLICA), ("train_steps", steps),
            ("learning_rate", KINETICS_LR),
            ("lr_schedule", "release_flow" if flow_only else "release_rgb"),
            ("strategy", _strategy(KINETICS_REPLICAS)), ("model_dir", kinetics_run(model, init))]
  return Command("train_kinetics", tuple(flags)), steps


def _small_init(model, init=None):
  """The initialisation of a run on UCF-101 / HMDB-51 alone: ImageNet unless `init` says scratch;
  3D-ConvNet is always trained from scratch (it has no 2D ImageNet counterpart)."""
  if model == "c3d":
    if init not in (None, "scratch"):
      raise ValueError(f"c3d: init={init!r}; 3D-ConvNet is trained from scratch only")
    return "scratch"
  if init not in (None, "scratch", "imagenet"):
    raise ValueError(f"{model}: init={init!r}; expected scratch or imagenet")
  return init or "imagenet"


def small_run(dataset, model, split=1, init=None):
  return f"{{runs}}/{dataset}_split{split}/{model}_{_small_init(model, init)}"


def train_small(dataset, model, init=None):
  """'Original': trained on UCF-101 / HMDB-51 split 1 alone, ImageNet-initialised (Table 2, and
  Table 4's 'with ImageNet') or from scratch (init='scratch': Table 4's 'without ImageNet');
  3D-ConvNet from scratch either way."""
  init = _small_init(model, init)
  flags = [("model", model), ("dataset", dataset), ("data_dir", "{data_dir}"), ("init", init)]
  if init == "imagenet":
    flags.append(("imagenet_checkpoint", "{imagenet}"))
  flags += [("batch_size", SMALL_REPLICAS * SMALL_PER_REPLICA), ("train_steps", SMALL_STEPS),
            ("learning_rate", SMALL_LR), ("lr_schedule", "plateau"),
            ("strategy", _strategy(SMALL_REPLICAS)),
            ("model_dir", small_run(dataset, model, init=init))]
  return Command("train_kinetics", tuple(flags))


def finetune_run(dataset, model, init, mode, split):
  return f"{{runs}}/{dataset}_split{split}/{model}_from_kinetics_{init}_{mode}"


def finetune(dataset, model, init, mode, split):
  flags = (("model", model), ("dataset", dataset), ("split", split), ("mode", mode),
           ("init", kinetics_run(model, init)), ("data_dir", "{data_dir}"),
           ("batch_size", SMALL_REPLICAS * SMALL_PER_REPLICA), ("train_steps", FINETUNE_STEPS),
           ("learning_rate", FINETUNE_LR), ("lr_schedule", "cosine"),
           ("strategy", _strategy(SMALL_REPLICAS)),
           ("model_dir", finetune_run(dataset, model, init, mode, split)))
  return Command("finetune", flags)


def evaluate(dataset, run_dirs, fuse_run_dirs, output_dir, splits=None):
  flags = [("dataset", dataset), ("data_dir", "{data_dir}"), ("run_dirs", ",".join(run_dirs))]
  if fuse_run_dirs:
    flags.append(("fuse_run_dirs", ",".join(fuse_run_dirs)))
  if splits:
    flags.append(("splits", ",".join(str(s) for s in splits)))
  flags.append(("output_dir", output_dir))
  return Command("evaluate", tuple(flags))


# ------------------------------------------------------------------------------------------------
# Tables.

def _i3d_stream_model(stream):
  return {"RGB": "i3d_rgb", "Flow": "i3d_flow"}[stream]


def _table2_two_stream_result(dataset):
  return f"{{runs}}/table2/{dataset}_i3d_two_stream"


def _table2_train(dataset, model):
  """(command, steps) of a Table 2 run: Kinetics as the release (ImageNet init but C3D), or split 1
  of UCF-101 / HMDB-51 alone."""
  if dataset == "kinetics400":
    return train_kinetics(model, "scratch" if model == "c3d" else "imagenet")
  return train_small(dataset, model), SMALL_STEPS


def _table2_run_dir(dataset, model):
  if dataset == "kinetics400":
    return kinetics_run(model, "scratch" if model == "c3d" else "imagenet")
  return small_run(dataset, model)


def _table2_i3d(cell, dataset, stream, common):
  """Table 2's I3D cell of one stream, or of both trained apart and fused at test."""
  if stream != "RGB+Flow":
    model = _i3d_stream_model(stream)
    command, steps = _table2_train(dataset, model)
    return Recipe(cell=f"{cell}_{model[4:]}", model=model, init="imagenet",
                  schedule=command.flag("lr_schedule"), steps=steps, commands=(command,),
                  result=_table2_run_dir(dataset, model), **common)
  (rgb, steps), (flow, _) = _table2_train(dataset, "i3d_rgb"), _table2_train(dataset, "i3d_flow")
  result = _table2_two_stream_result(dataset)
  return Recipe(
      cell=f"{cell}_two_stream", model="i3d_rgb+i3d_flow", init="imagenet",
      schedule=rgb.flag("lr_schedule") + "+" + flow.flag("lr_schedule"), steps=steps,
      commands=(rgb, flow, evaluate(dataset, [_table2_run_dir(dataset, "i3d_rgb")],
                                    [_table2_run_dir(dataset, "i3d_flow")], result)),
      result=result, notes="two streams trained apart, logits summed at test", **common)


def _table2_baseline(cell, dataset, arch, stream, common):
  """Table 2's baseline cell, or None where the architecture has no such column: LSTM and C3D
  take RGB only; Two-Stream and 3D-Fused are one two-stream model (Two-Stream's single-stream
  columns are listed as not runnable)."""
  if arch in ("lstm", "c3d") and stream != "RGB":
    return None
  if arch == "fused_3d" and stream != "RGB+Flow":
    return None
  if arch == "two_stream" and stream != "RGB+Flow":
    return Recipe(
        cell=f"{cell}_{stream.lower()}", model=None, init="imagenet", schedule="-", steps=0,
        commands=(), result="", runnable=False, notes="the registry's two_stream is the "
        "two-stream model only: no single-stream Two-Stream variant to train for this column",
        **common)
  command, steps = _table2_train(dataset, arch)
  return Recipe(cell=cell, model=arch, init="scratch" if arch == "c3d" else "imagenet",
                schedule=command.flag("lr_schedule"), steps=steps, commands=(command,),
                result=_table2_run_dir(dataset, arch), notes="schedule and batch: ours", **common)


def table2():
  """Architecture comparison: UCF-101 split 1, HMDB-51 split 1 (trained on them alone, ImageNet
  init but C3D) and Kinetics (ImageNet init but C3D); RGB / Flow / RGB+Flow."""
  out = []
  for dataset in ("ucf101", "hmdb51", "kinetics400"):
    kinetics = dataset == "kinetics400"
    for label, arch in ARCHITECTURES:
      for stream in STREAMS:
        cell = f"t2_{dataset}_{arch}"
        common = dict(table="2", row=label, column=(DATASET_LABELS[dataset], stream),
                      dataset=dataset, split=None if kinetics else 1,
                      replicas=KINETICS_REPLICAS if kinetics else SMALL_REPLICAS,
                      batch_per_replica=KINETICS_PER_REPLICA if kinetics else SMALL_PER_REPLICA)
        if arch == "i3d":
          recipe = _table2_i3d(cell, dataset, stream, common)
        else:
          recipe = _table2_baseline(cell, dataset, arch, stream, common)
        if recipe is not None:
          out.append(recipe)
  return out


def table3():
  """Kinetics, trained from scratch ('Kinetics') or ImageNet-initialised ('ImageNet + Kinetics');
  top-1 with top-5."""
  out = []
  rows = (("ConvNet+LSTM", "lstm"), ("Two-Stream", "two_stream"), ("3D-Fused", "fused_3d"),
          ("RGB-I3D", "i3d_rgb"), ("Flow-I3D", "i3d_flow"), ("Two-Stream I3D", "i3d_two_stream"))
  for label, model in rows:
    for init in ("scratch", "imagenet"):
      common = dict(table="3", cell=f"t3_{model}_{init}", row=label, column=(INIT_LABELS[init],),
                    dataset="kinetics400", split=None, replicas=KINETICS_REPLICAS,
                    batch_per_replica=KINETICS_PER_REPLICA)
      if model == "i3d_two_stream":
        (rgb, steps), (flow, _) = train_kinetics("i3d_rgb", init), train_kinetics("i3d_flow", init)
        result = f"{{runs}}/table3/i3d_two_stream_{init}"
        out.append(Recipe(model="i3d_rgb+i3d_flow", init=init, schedule="release_rgb+release_flow",
                          steps=steps, result=result, commands=(rgb, flow, evaluate(
                              "kinetics400", [kinetics_run("i3d_rgb", init)],
                              [kinetics_run("i3d_flow", init)], result)), **common))
        continue
      command, steps = train_kinetics(model, init)
      out.append(Recipe(model=model, init=init, schedule=command.flag("lr_schedule"), steps=steps,
                        commands=(command,), result=kinetics_run(model, init),
                        notes="" if registry.is_release_i3d(model) else "schedule and batch: ours",
                        **common))
  return out


def _original_notes(model, init):
  if model == "c3d":
    return "Original: the run of Table 2 (3D-ConvNet is trained from scratch)"
  if init == "imagenet":
    return "Original with ImageNet: the run of Table 2 (ImageNet-initialised, split 1 alone)"
  return ("Original without ImageNet: trained from scratch on split 1 alone; schedule and batch: "
          "ours")


def table4():
  """UCF-101 / HMDB-51 split 1: 'Original' (trained on it alone, no Kinetics), 'Fixed' (the
  Kinetics features frozen, last layer trained) and 'Full-FT'. The paper prints each cell 'with
  ImageNet / without ImageNet': our `_imagenet_` cells (ImageNet + Kinetics pre-training; Original:
  Table 2's ImageNet-initialised runs) and `_scratch_` cells (Kinetics pre-training from scratch;
  Original: trained from scratch on the small set). 3D-ConvNet has the `_scratch_` row only."""
  out = []
  rows = (("ConvNet+LSTM", "lstm"), ("3D-ConvNet", "c3d"), ("Two-Stream", "two_stream"),
          ("3D-Fused", "fused_3d"), ("RGB-I3D", "i3d_rgb"), ("Flow-I3D", "i3d_flow"),
          ("Two-Stream I3D", "i3d_two_stream"))
  for label, model in rows:
    inits = ("scratch",) if model == "c3d" else ("scratch", "imagenet")
    for init in inits:
      row = f"{label}, {INIT_LABELS[init]}"
      for dataset in ("ucf101", "hmdb51"):
        for mode, mode_label in (("original", "Original"), ("fixed", "Fixed"), ("full", "Full-FT")):
          common = dict(table="4", cell=f"t4_{dataset}_{model}_{init}_{mode}", row=row,
                        column=(DATASET_LABELS[dataset], mode_label), dataset=dataset, split=1,
                        replicas=SMALL_REPLICAS, batch_per_replica=SMALL_PER_REPLICA)
          streams = ("i3d_rgb", "i3d_flow") if model == "i3d_two_stream" else (model,)
          if mode == "original":
            # Without Kinetics: trained on split 1 alone, with ImageNet (Table 2's runs) or
            # without (from scratch); 3D-ConvNet's only row is from scratch, as in Table 2.
            commands = tuple(train_small(dataset, m, init) for m in streams)
            runs = [small_run(dataset, m, init=init) for m in streams]
            steps, schedule, init_label = SMALL_STEPS, "plateau", init
            notes = _original_notes(model, init)
          else:
            commands = tuple(train_kinetics(m, init)[0] for m in streams) + tuple(
                finetune(dataset, m, init, mode, 1) for m in streams)
            runs = [finetune_run(dataset, m, init, mode, 1) for m in streams]
            steps, schedule, init_label = FINETUNE_STEPS, "cosine", f"kinetics_{init}"
            notes = "fine-tuning schedule: ours"
          result = runs[0]
          if len(streams) == 2:
            result = f"{{runs}}/table4/{dataset}_{model}_{init}_{mode}"
            if (mode, init) == ("original", "imagenet"):
              result = _table2_two_stream_result(dataset)  # Table 2's fusion, evaluated once
            commands += (evaluate(dataset, runs[:1], runs[1:], result),)
          out.append(Recipe(model="+".join(streams), init=init_label, schedule=schedule,
                            steps=steps, commands=commands, result=result, notes=notes,
                            **common))
  return out


def table5():
  """UCF-101 / HMDB-51 averaged over the 3 splits: our I3D rows, Full-FT after Kinetics or
  ImageNet + Kinetics pre-training."""
  out = []
  rows = (("RGB-I3D", "i3d_rgb"), ("Flow-I3D", "i3d_flow"), ("Two-Stream I3D", "i3d_two_stream"))
  for label, model in rows:
    for init in ("scratch", "imagenet"):
      for dataset in ("ucf101", "hmdb51"):
        streams = ("i3d_rgb", "i3d_flow") if model == "i3d_two_stream" else (model,)
        commands = tuple(train_kinetics(m, init)[0] for m in streams)
        commands += tuple(finetune(dataset, m, init, "full", s) for m in streams for s in (1, 2, 3))
        result = f"{{runs}}/table5/{dataset}_{model}_{init}"
        runs = [[finetune_run(dataset, m, init, "full", s) for s in (1, 2, 3)] for m in streams]
        commands += (evaluate(dataset, runs[0], runs[1] if len(runs) > 1 else None, result,
                              splits=(1, 2, 3)),)
        out.append(Recipe(
            table="5", cell=f"t5_{dataset}_{model}_{init}",
            row=f"{label}, {INIT_LABELS[init]} pre-trained", column=(DATASET_LABELS[dataset],),
            dataset=dataset, split=None, model="+".join(streams), init=f"kinetics_{init}",
            schedule="cosine", replicas=SMALL_REPLICAS, batch_per_replica=SMALL_PER_REPLICA,
            steps=FINETUNE_STEPS, commands=commands, result=result, metric="mean_top1",
            notes="Full-FT on each split, mean over splits 1-3; fine-tuning schedule: ours"))
  return out


TABLES = {"2": table2, "3": table3, "4": table4, "5": table5}


def recipes(table):
  """All recipes of a table ('2'..'5'), in the paper's row/column order."""
  table = str(table)
  if table not in TABLES:
    raise ValueError(f"--table={table!r}: one of {', '.join(TABLES)} or synthetic")
  return TABLES[table]()


def experiments():
  """(name, base experiment, {flag: value}) of every distinct training step of Tables 2-5, sorted
  by name: what experiments/configs/registry.py registers. A run shared by several cells (Table
  2's Kinetics I3D is Table 3's) is one experiment; one name with two settings is an error."""
  out = {}
  for table in TABLES:
    for r in recipes(table):
      for c in r.commands:
        if not c.experiment:
          continue
        entry = (c.experiment, c.binary, c.values())
        if out.setdefault(c.experiment, entry) != entry:
          raise AssertionError(f"experiment {c.experiment!r}: two recipes give it other settings: "
                               f"{out[c.experiment]} and {entry}")
  return [out[name] for name in sorted(out)]


def recipe(table, cell):
  for r in recipes(table):
    if r.cell == cell:
      return r
  raise ValueError(f"--cell={cell!r} is not a cell of Table {table}; cells: "
                   + ", ".join(r.cell for r in recipes(table)))
