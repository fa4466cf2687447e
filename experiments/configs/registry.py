"""Experiments by name: a base ExperimentConfig plus overrides, listed by `--experiment=help`.

`register(name, factory)` adds one (`factory() -> i3d_tf.config.ExperimentConfig`), `get(name)`
builds and validates it, `names()` lists them in registration order. Registered here:
  train_kinetics              the training binary's base: the fields' defaults (the release's
                              Kinetics recipe: batch 48, 115k steps, lr 0.1, the model's schedule)
  finetune                    the fine-tuning binary's base: UCF-101, 5000 steps, lr 0.01, cosine,
                              evaluated every 1000 steps, --init to be given
  synthetic_reduced/<model>   the embedded synthetic_motion set's reduced configuration for each
                              registered model (configs/synthetic.py), what train_kinetics trains
                              without --data_dir or with --dataset=synthetic_motion[/<config>]
  <dataset>[_split<N>]/<run>  every training step of the paper's Tables 2-5 (configs/recipes.py):
                              train_kinetics or finetune with the recipe's flags, named after its
                              run folder (kinetics400/i3d_rgb_imagenet)
  synthetic/<model>           each architecture's run of the miniature (reproduce --table=synthetic)
"""
from i3d_tf import config as config_lib
from i3d_tf.models import registry as model_registry

from experiments.configs import recipes
from experiments.configs import synthetic

_FACTORIES = {}


def register(name, factory):
  """Registers `factory` (() -> ExperimentConfig) as experiment `name`; a name is taken once."""
  if name in _FACTORIES:
    raise ValueError(f"experiment {name!r} is registered twice")
  _FACTORIES[name] = factory
  return factory


def names():
  """The registered experiment names, in registration order."""
  return tuple(_FACTORIES)


def groups():
  """{group: names}: the registered names by their prefix before '/' ('' for the binaries'
  bases), groups in order of first registration: what --experiment=help lists."""
  out = {}
  for name in _FACTORIES:
    out.setdefault(name.rpartition("/")[0], []).append(name)
  return {group: tuple(members) for group, members in out.items()}


def help_text():
  """The --experiment=help listing: every registered name once, grouped."""
  lines = ["Registered experiments (--experiment=<name>):"]
  for group, members in groups().items():
    lines.append(f"  {group + '/' if group else 'bases'} ({len(members)}):")
    lines += [f"    {name}" for name in members]
  return "\n".join(lines)


def get(name):
  """The validated ExperimentConfig of experiment `name`; a ValueError listing the names else."""
  if name not in _FACTORIES:
    raise ValueError(f"--experiment={name!r} is not registered; registered: "
                     f"{', '.join(_FACTORIES)} (--experiment=help lists them)")
  return config_lib.validate(_FACTORIES[name]())


def derive(base_name, **values):
  """A factory: experiment `base_name` with {path or flag name: value} set."""
  return lambda: config_lib.replace(_FACTORIES[base_name](), values)


def synthetic_reduced_name(model):
  return f"synthetic_reduced/{model}"


def synthetic_reduced(model, train_steps=synthetic.EMBEDDED_STEPS):
  """The reduced configuration of `model` on the embedded synthetic_motion set."""
  values = dict(synthetic.reduced_config(model, train_steps), model=model,
                dataset="synthetic_motion")
  return config_lib.replace(config_lib.ExperimentConfig(), values)


register("train_kinetics", config_lib.ExperimentConfig)
register("finetune", derive("train_kinetics", dataset="ucf101", train_steps=5000,
                            learning_rate=0.01, lr_schedule="cosine", eval_every=1000, init=None))
for _model in model_registry.names():
  register(synthetic_reduced_name(_model), lambda model=_model: synthetic_reduced(model))
for _name, _base, _values in recipes.experiments():
  register(_name, derive(_base, **_values))
for _, _model, _ in synthetic.MODELS:
  register(synthetic.experiment_name(_model),
           derive(synthetic_reduced_name(_model), **synthetic.miniature_values(_model)))
