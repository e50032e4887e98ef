#!/usr/bin/env bash
# Regenerates the measured world tables of README.md ("What CSR does in the world"): the default run
# (λ = 0.9) and the paper's two reward ablations (only R_I, λ = 1; only R_T, λ = 0), each 3 CSR
# iterations on the embedded world, then summarises them into results/readme/world-summary.json (commit
# it) and rewrites README.md's tables between its readme_results markers (scripts/readme_results.py),
# and prints csr-bench's full tables of the three runs (every benchmark, the λ ablation).
#   scripts/readme_world_tables.sh [OUTPUT_DIR]     (default results/readme; about 15-25 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/readme}
BIN=${CSR_BENCH:-.venv/bin/csr-bench}
export HF_HUB_OFFLINE=1
"$BIN" run --output "$OUT" --quiet
"$BIN" run --output "$OUT" --quiet --lambda 1 --run-name world-lambda1
"$BIN" run --output "$OUT" --quiet --lambda 0 --run-name world-lambda0
"${PYTHON:-.venv/bin/python}" scripts/readme_results.py "$OUT/world" "$OUT/world-lambda1" "$OUT/world-lambda0" --write
"$BIN" table "$OUT/world" "$OUT/world-lambda1" "$OUT/world-lambda0"
