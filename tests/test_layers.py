"""The layers of the code base (README, 'Architecture'): no module imports from a layer above its
own, and the imports of the project's modules form no circle.

Static (the `ast` of every file, nothing imported): module-level and function-local imports count
alike, so a function-local import cannot hide an upward dependency. A new module must be given its
layer here.
"""
import ast
import os

from tests.conftest import REPO_ROOT

# Lowest first; a module may import from its own layer and the layers below. A module belongs to
# the layer of the longest name below that is the module or one of its packages.
LAYERS = (
    # Small modules of their own: no i3d_tf import but each other (entry: the binaries' absl run).
    ("base", ("i3d_tf.cpu_kernels", "i3d_tf.cuda_probe", "i3d_tf.entry", "i3d_tf.labels",
              "i3d_tf.strided_conv", "i3d_tf.layers", "i3d_tf.layers_2d",
              "i3d_tf.layers_recurrent")),
    ("video", ("i3d_tf.video",)),              # decoding, flow, model input, the video list
    ("models", ("i3d_tf.models",)),            # the architectures and their registry
    ("config", ("i3d_tf.config",)),            # the typed experiment config (models' registry)
    ("data", ("i3d_tf.data",)),                # records and the tf.data pipeline
    # Weights on disk: foreign checkpoints, inflation, run checkpoints, run folders, SavedModel.
    ("checkpoints", ("i3d_tf.checkpoints", "i3d_tf.export")),
    ("evaluation", ("i3d_tf.evaluation",)),    # metrics, prediction, classify, features
    ("training", ("i3d_tf.training", "i3d_tf.task")),
    ("library", ("i3d_tf", "i3d_tf.pretrained")),  # the public API (lazy) and release downloads
    ("datasets", ("datasets",)),               # the TFDS builders and `python -m datasets.build`
    ("experiments", ("experiments",)),         # the binaries and the paper's recipes
    ("benchmarks", ("benchmarks",)),
)
_ROOTS = ("i3d_tf", "datasets", "experiments", "benchmarks")
_ALIASES = {"i3d_tf_datasets": "datasets"}  # the builders' installed name


def _modules():
  """{module name: path} of every .py file of the project's packages."""
  found = {}
  for root in _ROOTS:
    for folder, dirs, names in os.walk(os.path.join(REPO_ROOT, root)):
      dirs[:] = sorted(d for d in dirs if d != "__pycache__")
      for name in sorted(names):
        if name.endswith(".py"):
          parts = os.path.relpath(os.path.join(folder, name), REPO_ROOT)[:-3].split(os.sep)
          if parts[-1] == "__init__":
            parts = parts[:-1]
          found[".".join(parts)] = os.path.join(folder, name)
  return found


def _canonical(name):
  first, _, rest = name.partition(".")
  first = _ALIASES.get(first, first)
  return f"{first}.{rest}" if rest else first


def _imports(module, source, is_package, modules):
  """[(imported module, line)] of the project's modules that `module` imports, anywhere in it."""
  package = module if is_package else module.rpartition(".")[0]
  found = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      base = _canonical(base)
      # `from package import module` imports the module; `from module import name` the module.
      targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                 for alias in node.names]
    else:
      continue
    for target in targets:
      target = _canonical(target)
      while target and target not in modules:  # `import a.b.c` of a name inside a module
        target = target.rpartition(".")[0]
      if target and target != module:
        found.append((target, node.lineno))
  return found


def _layer(module):
  """The index in LAYERS of `module`'s layer, or None."""
  best = None
  for index, (_, prefixes) in enumerate(LAYERS):
    for prefix in prefixes:
      if (module == prefix or module.startswith(prefix + ".")) and (
          best is None or len(prefix) > len(best[1])):
        best = (index, prefix)
  return None if best is None else best[0]


def _graph():
  """({module: path}, {module: [(imported module, line)]}) of the whole project."""
  modules = _modules()
  graph = {}
  for module, path in modules.items():
    with open(path, encoding="utf-8") as f:
      graph[module] = _imports(module, f.read(), path.endswith("__init__.py"), modules)
  return modules, graph


def upward_imports(graph):
  """['module (layer a) imports target (layer b, above it)', ...] with their lines."""
  found = []
  for module, imports in sorted(graph.items()):
    own = _layer(module)
    for target, line in imports:
      theirs = _layer(target)
      if own is not None and theirs is not None and theirs > own:
        found.append(f"{module}:{line} (layer '{LAYERS[own][0]}') imports {target} (layer "
                     f"'{LAYERS[theirs][0]}', above it)")
  return found


def circles(graph):
  """Groups of modules that import each other (directly or round a loop), each sorted."""
  edges = {m: sorted({t for t, _ in imports if t in graph}) for m, imports in graph.items()}
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def enter(node):
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    return (node, iter(edges[node]))

  for start in sorted(edges):  # Tarjan's strongly connected components, without recursion
    if start in index:
      continue
    work = [enter(start)]
    while work:
      node, children = work[-1]
      child = next(children, None)
      if child is not None:
        if child not in index:
          work.append(enter(child))
        elif child in on_stack:
          low[node] = min(low[node], index[child])
        continue
      work.pop()
      if work:
        low[work[-1][0]] = min(low[work[-1][0]], low[node])
      if low[node] == index[node]:
        component = []
        while not component or component[-1] != node:
          component.append(stack.pop())
          on_stack.discard(component[-1])
        if len(component) > 1:
          found.append(sorted(component))
  return found


def test_every_module_has_a_layer():
  modules, _ = _graph()
  missing = sorted(m for m in modules if _layer(m) is None)
  assert not missing, (f"modules in no layer: {missing}; add each to LAYERS in "
                       f"tests/test_layers.py (and README's 'Architecture')")


def test_no_module_imports_from_a_layer_above_its_own():
  _, graph = _graph()
  found = upward_imports(graph)
  assert not found, ("imports from a layer above (move the code down, or let the caller pass it "
                     "in):\n" + "\n".join(found))


def test_the_imports_form_no_circle():
  _, graph = _graph()
  described = []
  for circle in circles(graph):
    lines = [f"  {m}:{line} imports {t}" for m in circle for t, line in graph[m] if t in circle]
    described.append(" <-> ".join(circle) + ":\n" + "\n".join(lines))
  assert not described, "modules that import each other:\n" + "\n".join(described)


def test_the_checks_find_the_upward_imports_and_the_circle_the_layers_removed():
  """Three of the imports the issue found (#18), as they were written, and the init <->
  experiment circle: each is reported, naming the module, the import and both layers."""
  modules = dict.fromkeys(["i3d_tf", "i3d_tf.video", "i3d_tf.video.model_input",
                           "i3d_tf.evaluation", "i3d_tf.evaluation.runs", "i3d_tf.models",
                           "i3d_tf.models.two_stream", "i3d_tf.checkpoints",
                           "i3d_tf.checkpoints.inflation", "i3d_tf.training",
                           "i3d_tf.training.init", "i3d_tf.training.experiment",
                           "i3d_tf.training.loop"])
  sources = {
      "i3d_tf.video.model_input": "def of_run():\n  from i3d_tf.evaluation import runs\n",
      "i3d_tf.models.two_stream": "def copy():\n  from i3d_tf.checkpoints import inflation\n",
      "i3d_tf.evaluation.runs": "from i3d_tf.training import loop\n",
      "i3d_tf.training.init": "def f():\n  from i3d_tf.training import experiment\n",
      "i3d_tf.training.experiment": "from i3d_tf.training import init as init_lib\n",
  }
  graph = {m: _imports(m, sources.get(m, ""), m.count(".") < 2, modules) for m in modules}
  assert upward_imports(graph) == [
      "i3d_tf.evaluation.runs:1 (layer 'evaluation') imports i3d_tf.training.loop (layer "
      "'training', above it)",
      "i3d_tf.models.two_stream:2 (layer 'models') imports i3d_tf.checkpoints.inflation (layer "
      "'checkpoints', above it)",
      "i3d_tf.video.model_input:2 (layer 'video') imports i3d_tf.evaluation.runs (layer "
      "'evaluation', above it)"]
  assert circles(graph) == [["i3d_tf.training.experiment", "i3d_tf.training.init"]]
  # config-core's modules (issue #18) have their place: the config low, the Task in training.
  assert _layer("i3d_tf.models.registry") < _layer("i3d_tf.config") < _layer("i3d_tf.data")
  assert _layer("i3d_tf.training.task") == _layer("i3d_tf.training.loop")
