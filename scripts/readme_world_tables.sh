#!/usr/bin/env bash
# Regenerates the measured world tables of README.md ("What CSR does in the world"): the default run
# (λ = 0.9) and the paper's two reward ablations (only R_I, λ = 1; only R_T, λ = 0), each 3 CSR
# iterations on the embedded world, then prints csr-bench's tables of the three runs (iteration table
# with 95% intervals, the paired Δ table, the λ ablation). Copy its output into README.md.
#   scripts/readme_world_tables.sh [OUTPUT_DIR]     (default results/readme; about 15-25 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/readme}
BIN=${CSR_BENCH:-.venv/bin/csr-bench}
export HF_HUB_OFFLINE=1
"$BIN" run --output "$OUT" --quiet
"$BIN" run --output "$OUT" --quiet --lambda 1 --run-name world-lambda1
"$BIN" run --output "$OUT" --quiet --lambda 0 --run-name world-lambda0
"$BIN" table "$OUT/world" "$OUT/world-lambda1" "$OUT/world-lambda0"
