r"""Runs the XLA programs benchmarks/xla_export.py took from TensorFlow, with JAX alone: checks
their outputs against TensorFlow's and times them; prints a markdown table.

  python3 benchmarks/xla_run.py FOLDER [--programs=REGEX] [--budget_s=420] [--json=results.json]

Needs only jax and numpy (no TensorFlow, no i3d_tf module): it is what a GPU machine without
TensorFlow runs (benchmarks/gpu_check.sh). Programs run one after the other (--order: the route's
float32 checks first, then the timed figures), each within what is left of --budget_s; those
left when it is spent are listed as skipped. A line per program is printed as it ends (a run cut
short still shows those), then the table.

Per program: load `NAME.jaxexport` (`jax.export.deserialize`; --route=artifact builds the same
Exported from the StableHLO portable artifact `NAME.mlirbc` instead, for a jax that no longer
reads the serialized form), `jax.jit(exported.call)`, lower and compile (timed: "compile s"),
one call whose outputs are checked, then calls for at least --min_time_s and --min_calls, each
waited for; the median call gives ms/call and the throughput. A training step's outputs (new
weights, statistics, momenta) are fed back as its next inputs, as a training loop does.
Checks (bounds in manifest.json, set by xla_export.py: TVL1_EPE_TOLERANCE, check_tolerance):
- tvl1_*: mean endpoint error (px) against TensorFlow's flow of the pairs it has, <= 0.05;
- i3d_*_forward_*_check: max |a - b| / max |b| of the logits, 1e-4 in float32, 3e-2 in
  bfloat16 (which rounds each layer's output: another summation order flips some roundings);
- i3d_*_train_*_check: the loss likewise; the update of the weights (new - old) and the change of
  the batch-norm statistics as |a - b| / |b| and cosine (the step is ill-conditioned at a random
  initialisation: check_tolerance says how far and why);
- timed i3d programs have random inputs (their speed does not depend on values) and no check:
  the _check programs, the same functions on a smaller model and clip, check the route.
Memory: "program MiB" is XLA's account of the compiled program (arguments + outputs +
temporaries, `compiled.memory_analysis()`); "peak MiB" the device's `peak_bytes_in_use` where
JAX reports it (GPUs: the process's peak so far, the program's own with --isolate), else the
process's resident-set high-water mark (the CPU).
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

_RESULT = "XLA_RUN_RESULT "


def _dtype(name):
  if name == "bfloat16":
    import ml_dtypes  # pylint: disable=g-import-not-at-top
    return np.dtype(ml_dtypes.bfloat16)
  return np.dtype(name)


def exported_from_artifact(name, artifact, inputs, outputs):
  """A jax.export.Exported calling the StableHLO portable artifact `artifact` with the given
  [(shape, dtype name)] inputs and outputs, on one device of any platform (TensorFlow's HLO is
  target-independent, so jax's platform check is disabled). Uses jax's private constructor: the
  exporter's one route to a serialized Exported, and --route=artifact's fallback."""
  import jax  # pylint: disable=g-import-not-at-top
  from jax import export  # pylint: disable=g-import-not-at-top
  from jax._src import core  # pylint: disable=g-import-not-at-top
  in_avals = tuple(core.ShapedArray(tuple(s), _dtype(d)) for s, d in inputs)
  out_avals = tuple(core.ShapedArray(tuple(s), _dtype(d)) for s, d in outputs)
  n_in, n_out = len(in_avals), len(out_avals)
  return export.Exported(
      fun_name=name,
      in_tree=jax.tree_util.tree_structure((tuple(range(n_in)), {})), in_avals=in_avals,
      out_tree=jax.tree_util.tree_structure(tuple(range(n_out))), out_avals=out_avals,
      _has_named_shardings=True, _in_named_shardings=(None,) * n_in,
      _out_named_shardings=(None,) * n_out, in_shardings_hlo=(None,) * n_in,
      out_shardings_hlo=(None,) * n_out, nr_devices=1, platforms=("cuda",),
      ordered_effects=(), unordered_effects=(),
      disabled_safety_checks=(export.DisabledSafetyCheck.platform(),),
      mlir_module_serialized=artifact,
      calling_convention_version=export.maximum_supported_calling_convention_version,
      module_kept_var_idx=tuple(range(n_in)), uses_global_constants=False, _get_vjp=None)


def load_exported(folder, entry, route="export"):
  """The program of manifest `entry` as a jax.export.Exported."""
  from jax import export  # pylint: disable=g-import-not-at-top
  if route == "export":
    with open(os.path.join(folder, entry["file"]), "rb") as f:
      return export.deserialize(bytearray(f.read()))
  with open(os.path.join(folder, entry["artifact"]), "rb") as f:
    artifact = f.read()
  return exported_from_artifact(entry["name"], artifact,
                                [(s["shape"], s["dtype"]) for s in entry["inputs"]],
                                [(s["shape"], s["dtype"]) for s in entry["outputs"]])


# ------------------------------------------------------------------------------------------------
# Inputs and checks.


class _Arrays:
  """Lazily opened .npz files of the folder."""

  def __init__(self, folder):
    self.folder = folder
    self.files = {}

  def get(self, data, key):
    if data not in self.files:
      self.files[data] = np.load(os.path.join(self.folder, data))
    return self.files[data][key]


def _tvl1_inputs(arrays, entry):
  frames = arrays.get(entry["data"], "frames")
  batch = entry["inputs"][0]["shape"][0]
  index = np.arange(batch) % (len(frames) - 1)
  return [frames[index], frames[index + 1]], index


def _random_inputs(entry, seed=0):
  """Random arrays of the recorded shapes: clips in [-1, 1], labels in [0, 400), momenta zero,
  batch-norm variances in [0.5, 1.5], other weights in [-0.05, 0.05], integers zero."""
  rng = np.random.default_rng(seed)
  out = []
  for spec in entry["inputs"]:
    shape, dtype, name = tuple(spec["shape"]), _dtype(spec["dtype"]), spec.get("name", "")
    if name == "labels":
      out.append(rng.integers(0, 400, shape).astype(dtype))
    elif not np.issubdtype(dtype, np.floating) and dtype.name != "bfloat16":
      out.append(np.zeros(shape, dtype))
    elif name == "clip":
      out.append(rng.uniform(-1, 1, shape).astype(dtype))
    elif name.startswith("momentum/"):
      out.append(np.zeros(shape, dtype))
    elif "variance" in name:
      out.append(rng.uniform(0.5, 1.5, shape).astype(dtype))
    else:
      out.append(rng.uniform(-0.05, 0.05, shape).astype(dtype))
  return out


def make_inputs(arrays, entry):
  """Host (numpy) inputs of a program: stored frames or check inputs, else random."""
  if entry["kind"] == "tvl1":
    return _tvl1_inputs(arrays, entry)[0]
  if "data" in entry:  # [npz file, key] of each input (shared arrays are stored once)
    return [arrays.get(*key) for key in entry["check"]["inputs"]]
  return _random_inputs(entry)


def _max_rel(a, b):
  """max |a - b| / max |b|."""
  a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
  scale = np.abs(b).max()
  error = np.abs(a - b).max()
  return float(error / scale) if scale > 0 else float(error)


def _rel_l2_and_cosine(a, b):
  """(|a - b| / |b|, cosine of a and b) of two vectors."""
  norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
  if norm_b == 0:
    return float(np.linalg.norm(a - b)), 1.0 if norm_a == 0 else 0.0
  cosine = float(a @ b / (norm_a * norm_b)) if norm_a > 0 else 0.0
  return float(np.linalg.norm(a - b) / norm_b), cosine


def check(arrays, entry, inputs, outputs):
  """(passed, detail, {measure: value}) of the program's check, or None when it has none."""
  spec = entry.get("check")
  if spec is None or "data" not in entry:
    return None
  tolerance = spec["tolerance"]
  if entry["kind"] == "tvl1":
    reference = arrays.get(entry["data"], "flow")
    _, index = _tvl1_inputs(arrays, entry)
    rows = [i for i, p in enumerate(index) if p < len(reference)]
    flow = np.asarray(outputs[0], np.float32)[rows]
    error = np.linalg.norm(flow - reference[index[rows]], axis=-1)
    values = {"epe_mean": float(error.mean()), "epe_max": float(error.max())}
    return (values["epe_mean"] <= tolerance["epe_mean"],
            f"EPE mean {values['epe_mean']:.2g} max {values['epe_max']:.2g} px", values)
  expected = {i: arrays.get(*key) for i, key in zip(spec["compared"], spec["outputs"])}
  if entry["kind"] == "i3d_forward":
    values = {"logits_max_rel": _max_rel(outputs[0], expected[0])}
    return (values["logits_max_rel"] <= tolerance["logits_max_rel"],
            f"logits {values['logits_max_rel']:.2g}", values)
  n_t = entry["num_trainable"]
  changes = {"update": ([], []), "statistics": ([], [])}
  seed_state_equal = True
  for i in spec["compared"][1:]:
    before = np.asarray(inputs[i - 1])
    if not np.issubdtype(before.dtype, np.floating):  # the dropout seed's state
      seed_state_equal &= bool(np.array_equal(np.asarray(outputs[i]), expected[i]))
      continue
    ours, theirs = changes["update" if i <= n_t else "statistics"]
    before = before.astype(np.float64).ravel()
    ours.append(np.asarray(outputs[i], np.float64).ravel() - before)
    theirs.append(np.asarray(expected[i], np.float64).ravel() - before)
  values = {"loss_max_rel": _max_rel(outputs[0], expected[0])}
  for key, (ours, theirs) in changes.items():
    values[f"{key}_rel_l2"], values[f"{key}_cosine"] = _rel_l2_and_cosine(
        np.concatenate(ours), np.concatenate(theirs))
  # Tolerances: {measure: upper bound}, and {measure + '_min': lower bound} (the cosines).
  passed = seed_state_equal and all(
      (values[k[:-len("_min")]] >= v) if k.endswith("_min") else (values[k] <= v)
      for k, v in tolerance.items())
  detail = (f"loss {values['loss_max_rel']:.2g}, update {values['update_rel_l2']:.2g} "
            f"(cos {values['update_cosine']:.4f}), statistics {values['statistics_rel_l2']:.2g}" +
            ("" if seed_state_equal else ", dropout seed state differs"))
  return passed, detail, values


# ------------------------------------------------------------------------------------------------
# One program.


def _program_mib(compiled):
  """XLA's own account of the program's device memory: arguments + outputs + temporaries."""
  try:
    stats = compiled.memory_analysis()
    total = (stats.argument_size_in_bytes + stats.output_size_in_bytes +
             stats.temp_size_in_bytes - stats.alias_size_in_bytes)
    return total / 2**20
  except Exception:  # pylint: disable=broad-except  (not every backend reports it)
    return None


def _peak_mib(device):
  """(MiB, of what): the device's peak bytes in use where JAX reports it (GPUs; the peak of the
  process so far: per program with --isolate), else the process's resident-set high-water mark."""
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if stats and "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2**20, "device"
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "process RSS"


def run_program(folder, entry, route="export", min_time_s=2.0, min_calls=3, do_check=True,
                do_time=True, do_run=True):
  """A result dict for one program (run in this process)."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_enable_x64", True)  # programs may take int64 (the dropout seed's state)
  device = jax.devices()[0]
  arrays = _Arrays(folder)
  result = {"name": entry["name"], "device": f"{device.platform}:{device.device_kind}"}
  exported = load_exported(folder, entry, route)
  if not do_run:  # compile only: no inputs are made (a small machine's look at big programs)
    started = time.perf_counter()
    compiled = jax.jit(exported.call).lower(
        *[jax.ShapeDtypeStruct(a.shape, a.dtype) for a in exported.in_avals]).compile()
    result["compile_s"] = time.perf_counter() - started
    result["program_mib"] = _program_mib(compiled)
    result["peak_mib"], result["peak_of"] = _peak_mib(device)
    return result
  host_inputs = make_inputs(arrays, entry)
  inputs = [jax.device_put(x, device) for x in host_inputs]
  fn = jax.jit(exported.call)
  started = time.perf_counter()
  compiled = fn.lower(*inputs).compile()
  result["compile_s"] = time.perf_counter() - started
  result["program_mib"] = _program_mib(compiled)
  outputs = jax.block_until_ready(compiled(*inputs))
  if do_check:
    checked = check(arrays, entry, host_inputs, [np.asarray(o) for o in outputs])
    if checked is not None:
      result["check_passed"], result["check_detail"], result["check_values"] = checked
      result["check_tolerance"] = entry["check"]["tolerance"]
  if do_time:
    feedback = entry.get("feedback", [])
    times = []
    started = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - started < min_time_s:
      if feedback:
        for i, j in feedback:
          inputs[i] = outputs[j]
      t0 = time.perf_counter()
      outputs = jax.block_until_ready(compiled(*inputs))
      times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    result.update(calls=len(times), ms_per_call=1e3 * seconds,
                  per_s=entry["items_per_call"] / seconds, unit=f"{entry['unit']}/s")
    if "clips_per_call" in entry:
      result["clips_per_s"] = entry["clips_per_call"] / seconds
  result["peak_mib"], result["peak_of"] = _peak_mib(device)
  if "tf_ms_per_call" in entry:
    result["tf_ms_per_call"] = entry["tf_ms_per_call"]
  return result


# ------------------------------------------------------------------------------------------------
# The table.


def _fmt(value, digits=3):
  if value is None:
    return "-"
  return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"


def table(results, manifest):
  lines = [f"Programs exported with TensorFlow {manifest.get('tensorflow')} (jax "
           f"{manifest.get('jax')}, on {manifest.get('exported_on')}); run with jax "
           f"{_jax_version()}.", "",
           "| program | device | compile s | check | ms/call | throughput | "
           "TF ms/call (export machine) | program MiB | peak MiB |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    if "error" in r:
      lines.append(f"| {r['name']} | {r.get('device', '-')} | - | {r['error']} | - | - | - | - "
                   f"| - |")
      continue
    if "check_passed" in r:
      verdict = "ok" if r["check_passed"] else "FAILED"
      checked = f"{verdict}: {r['check_detail']}"
    else:
      checked = "-"
    throughput = (f"{_fmt(r['per_s'])} {r['unit']}" if "per_s" in r else "-")
    if "clips_per_s" in r:
      throughput += f" ({_fmt(r['clips_per_s'])} clips/s)"
    peak = f"{r['peak_mib']:.0f}" + (" (RSS)" if r.get("peak_of") == "process RSS" else "")
    lines.append(f"| {r['name']} | {r['device']} | {_fmt(r['compile_s'])} | {checked} | "
                 f"{_fmt(r.get('ms_per_call'))} | {throughput} | "
                 f"{_fmt(r.get('tf_ms_per_call'))} | {_fmt(r.get('program_mib'), 4)} | {peak} |")
  return "\n".join(lines)


def _jax_version():
  try:
    import jax  # pylint: disable=g-import-not-at-top
    return jax.__version__
  except ImportError:
    return "?"


# The order programs run in (the first pattern a name matches; the manifest's order within one):
# the float32 checks of the route first, then the figures the GPU run is for, so that a budget
# spent early still leaves the most useful rows.
DEFAULT_ORDER = (r"^i3d_rgb_float32_.*_check$", r"^tvl1_256x340_b(1|32)$", r"^i3d_rgb_.*_b\d+$",
                 r"^tvl1_256x340_", r"_check$", r"^tvl1_", r"")


def ordered(entries, patterns):
  rank = lambda e: next((i for i, p in enumerate(patterns) if re.search(p, e["name"])),
                        len(patterns))
  return sorted(entries, key=rank)  # stable: the manifest's order within a pattern


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("folder", help="What benchmarks/xla_export.py wrote (has manifest.json).")
  parser.add_argument("--programs", default="", help="Regex: run the programs it matches.")
  parser.add_argument("--order", default=",".join(DEFAULT_ORDER),
                      help="Comma-separated regexes: programs run in the order of the first "
                           "one their name matches ('' for the manifest's order).")
  parser.add_argument("--route", choices=("export", "artifact"), default="export")
  parser.add_argument("--budget_s", type=float, default=420.0,
                      help="Wall-clock seconds for all programs; those left are skipped.")
  parser.add_argument("--min_time_s", type=float, default=2.0, help="Timed calls: at least this")
  parser.add_argument("--min_calls", type=int, default=3, help="... and at least this many.")
  parser.add_argument("--no_check", action="store_true")
  parser.add_argument("--no_time", action="store_true")
  parser.add_argument("--compile_only", action="store_true",
                      help="Compile each program and report XLA's memory for it; run nothing.")
  parser.add_argument("--isolate", action="store_true",
                      help="Each program in a child process: its own device peak memory, and a "
                           "crash or time-out costs that program alone (~seconds each to start).")
  parser.add_argument("--json", help="Also write the results here (after each program).")
  parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: run this program, print JSON
  args = parser.parse_args(argv)
  with open(os.path.join(args.folder, "manifest.json")) as f:
    manifest = json.load(f)
  entries = [e for e in manifest["programs"] if re.search(args.programs, e["name"])]
  entries = ordered(entries, [p for p in args.order.split(",")] if args.order else [])
  options = dict(route=args.route, min_time_s=args.min_time_s, min_calls=args.min_calls,
                 do_check=not args.no_check, do_time=not args.no_time,
                 do_run=not args.compile_only)
  if args.one:
    entry = next(e for e in entries if e["name"] == args.one)
    print(_RESULT + json.dumps(run_program(args.folder, entry, **options)), flush=True)
    return 0
  deadline = time.monotonic() + args.budget_s
  results = []
  for entry in entries:
    left = deadline - time.monotonic()
    if left < 5:
      results.append({"name": entry["name"], "error": "skipped (budget spent)"})
      continue
    started = time.monotonic()
    if args.isolate:
      result = _run_child(args, entry, left)
    else:
      try:
        result = run_program(args.folder, entry, **options)
      except Exception as e:  # pylint: disable=broad-except
        result = {"name": entry["name"], "error": f"{type(e).__name__}: {e}"[:300]}
    print(f"  {entry['name']}: {time.monotonic() - started:.1f} s "
          f"{json.dumps({k: v for k, v in result.items() if k != 'name'})}", flush=True)
    results.append(result)
    if args.json:
      with open(args.json, "w") as f:
        json.dump({"manifest": {k: v for k, v in manifest.items() if k != "programs"},
                   "results": results}, f, indent=1)
  print(table(results, manifest))
  bad = [r for r in results if "error" in r or r.get("check_passed") is False]
  return 1 if bad else 0


def _run_child(args, entry, timeout):
  command = [sys.executable, os.path.abspath(__file__), args.folder, "--one", entry["name"],
             "--route", args.route, "--min_time_s", str(args.min_time_s),
             "--min_calls", str(args.min_calls), "--programs", "^" + re.escape(entry["name"]) + "$"]
  command += (["--no_check"] * args.no_check + ["--no_time"] * args.no_time +
              ["--compile_only"] * args.compile_only)
  try:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
  except subprocess.TimeoutExpired:
    return {"name": entry["name"], "error": f"timed out after {timeout:.0f} s"}
  for line in done.stdout.splitlines():
    if line.startswith(_RESULT):
      return json.loads(line[len(_RESULT):])
  tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
  return {"name": entry["name"], "error": f"exit {done.returncode}: {tail}"[:300]}


if __name__ == "__main__":
  sys.exit(main())
