#!/usr/bin/env bash
# Regenerates the measured world tables of README.md ("What CSR does in the world"): the default run
# (λ = 0.9), the paper's two reward ablations (only R_I, λ = 1; only R_T, λ = 0), each 3 CSR
# iterations, and the paper's comparison rows: DPO on the world's RLHF-V-style set and POVID (each one
# round, as their references train), all on the embedded world; then summarises them into
# results/readme/world-summary.json (commit it), rewrites README.md's tables between its
# readme_results markers (scripts/readme_results.py), and prints csr-bench's full tables.
#   scripts/readme_world_tables.sh [OUTPUT_DIR]     (default results/readme; about 25-35 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/readme}
BIN=${CSR_BENCH:-.venv/bin/csr-bench}
export HF_HUB_OFFLINE=1
scripts/methods_table.sh "$OUT"   # the 8 runs of the methods table, and $OUT/methods.md
# POVID's stage 1 alone: 3 epochs of DPO on world:povid (the same model as world-povid's stages/stage1)
"$BIN" run --output "$OUT" --quiet --method dpo --preferences world:povid --num-epochs 3 --run-name world-povid-stage1
"${PYTHON:-.venv/bin/python}" scripts/readme_results.py "$OUT/world" "$OUT/world-lambda1" "$OUT/world-lambda0" \
    "$OUT/world-dpo" "$OUT/world-povid-stage1" "$OUT/world-povid" --write
"$BIN" table "$OUT/world" "$OUT/world-dpo" "$OUT/world-povid-stage1" "$OUT/world-povid"
