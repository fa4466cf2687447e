"""The entry path of every binary (setup.py's console scripts, `python -m experiments.<name>`,
`python -m datasets.build`): `run(main)` in place of absl's `app.run(main)`.

It adds three things to absl's run:
- importing this module quiets TensorFlow's CUDA probe where there is no GPU (cuda_probe.py), before
  the binary's own imports can bring TensorFlow in;
- it turns on oneDNN's CPU kernels unless the environment chose (cpu_kernels.py), before it too;
- `--help`, `--helpshort`, `--helpfull` and `--helpxml` exit 0 after printing the help. absl's
  exit 1 there (absl/app.py, HelpFlag) reads as a failure to shells, scripts and CI steps that
  check what a binary takes. A flag error still exits 1, as absl has it.
"""
import sys

from i3d_tf import cuda_probe  # noqa: F401  first: quiets TF's CUDA probe where there is no GPU
from i3d_tf import cpu_kernels  # noqa: F401  before TensorFlow: oneDNN on every x86-64 CPU
from absl import app
from absl import flags

# absl's flags that print help and stop before main.
HELP_FLAGS = ("help", "helpshort", "helpfull", "helpxml")


def _exits_zero(absl_parse):
  def parse(argument):
    try:
      absl_parse(argument)
    except SystemExit as e:
      if e.code != 1:
        raise
      sys.stdout.flush()
      raise SystemExit(0) from None  # the help was asked for and printed: a success
  parse.i3d_tf_help_exits_zero = True
  return parse


def help_exits_zero(flag_values=flags.FLAGS):
  """Defines absl's help flags (as app.run would) with an exit status of 0 once printed."""
  app.define_help_flags()
  for name in HELP_FLAGS:
    flag = flag_values[name]
    if not getattr(flag.parse, "i3d_tf_help_exits_zero", False):
      flag.parse = _exits_zero(flag.parse)


def run(main, argv=None):
  """absl's app.run(main, argv), with --help and its kin exiting 0."""
  help_exits_zero()
  app.run(main, argv)
