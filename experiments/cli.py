"""Console scripts (setup.py's entry points): `i3d-train`, `i3d-evaluate`, ... from any directory.

Each runs one binary's absl `main`, exactly as `python -m experiments.<binary>` from the repository
root does. absl's --help lists the key flags of sys.argv[0]; an installed script imports the binary
under its module name, so that module's key flags (the shared training flags included, which the
binaries adopt) are declared key flags of the script as well.
"""
import importlib
import sys

from absl import flags

from i3d_tf import entry


def run_binary(*module_names):
  """Imports the first of `module_names` that exists and runs its main under absl.

  A binary whose flags are defined only when it runs as a program (`define_flags()` under
  `if __name__ == "__main__"`, so that others can import it) gets them defined here too.
  """
  for name in module_names:
    try:
      module = importlib.import_module(name)
      break
    except ModuleNotFoundError as e:  # the module itself missing (not one it imports): try the next
      if not (e.name and name.startswith(e.name)) or name == module_names[-1]:
        raise
  if hasattr(module, "define_flags"):
    module.define_flags()
  for flag in flags.FLAGS.get_key_flags_for_module(module):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  entry.run(module.main)  # absl's app.run, with --help exiting 0


# The builders are installed as `i3d_tf_datasets` (never shadowing PyPI's `datasets`); from a
# checkout they are `datasets`.
def build():
  run_binary("i3d_tf_datasets.build", "datasets.build")


def train():
  run_binary("experiments.train_kinetics")


def finetune():
  run_binary("experiments.finetune")


def evaluate():
  run_binary("experiments.evaluate")


def evaluate_sample():
  run_binary("experiments.evaluate_sample")


def import_checkpoint():
  run_binary("experiments.import_deepmind_checkpoint")


def extract_features():
  run_binary("experiments.extract_features")


def classify():
  run_binary("experiments.classify")


def preprocess_video():
  run_binary("experiments.preprocess_video")


def reproduce():
  run_binary("experiments.reproduce")


def report():
  run_binary("experiments.report")


def model_summary():
  run_binary("experiments.model_summary")


def visualize_filters():
  run_binary("experiments.visualize_filters")


def plot_curves():
  run_binary("experiments.plot_curves")
