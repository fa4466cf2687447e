#!/usr/bin/env bash
# The GPU machine's half of 'XLA programs run through JAX' (BENCHMARKS.md): runs the programs that
# benchmarks/xla_export.py took from TensorFlow on this machine's accelerator with JAX alone (no
# TensorFlow there), checks them against TensorFlow's outputs and prints the markdown table.
#
#   bash benchmarks/gpu_check.sh [FOLDER=xla_programs] [REGEX=''] [BUDGET_S=400] [xla_run.py flags]
#
# e.g. `... xla_programs '^tvl1_' 300 --route=artifact` (when this jax no longer reads the
# serialized jax.export files: the same programs from their StableHLO portable artifacts).
#
# FOLDER is made on a machine with TensorFlow (`python -m benchmarks.xla_export --out=xla_programs`,
# ignored by git) and travels to the GPU machine as a carried path. Results: the table on stdout,
# and xla_results.json in $OUT (the device tool's folder that comes back) or /tmp.
# Exit status: 0 when every program ran and passed its check, 1 otherwise, 2 without FOLDER.
set -uo pipefail
cd "$(dirname "$0")/.."
folder=${1:-xla_programs}
programs=${2:-}
budget=${3:-400}
if [[ ! -f "$folder/manifest.json" ]]; then
  echo "no $folder/manifest.json: export it first where TensorFlow is" \
       "(python -m benchmarks.xla_export --out=$folder) and carry it" >&2
  exit 2
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
echo "$(du -sh "$folder" | cut -f1) in $folder; $(nproc) CPUs"
python3 -c 'import jax, numpy; print("jax", jax.__version__, "numpy", numpy.__version__,
                                     jax.devices())'
out=${OUT:-/tmp}
# The run stops itself at the budget (programs left are listed as skipped); `timeout` only guards
# against one program's compile running far past it.
PYTHONUNBUFFERED=1 timeout "$((budget + 120))" python3 benchmarks/xla_run.py "$folder" \
    --programs="$programs" --budget_s="$budget" --json="$out/xla_results.json" "${@:4}"
