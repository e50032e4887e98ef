#!/usr/bin/env bash
# Regenerates the measured world tables of README.md ("What CSR does in the world"): the 8 runs of
# scripts/methods_table.sh (base, CSR λ = 0.9, only R_I, only R_T, DPO on world:rlhf-v, POVID, SIMA,
# Self-rewarding, and the methods table) plus POVID's stage 1 alone (DPO on world:povid for 3 epochs,
# which explains POVID's row), all on the embedded world; then summarises them into
# results/readme/world-summary.json (commit it), rewrites README.md's tables between its
# readme_results markers (scripts/readme_results.py), and prints csr-bench's full tables.
#   scripts/readme_world_tables.sh [OUTPUT_DIR]     (default results/readme; about 40-60 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/readme}
BIN=${CSR_BENCH:-.venv/bin/csr-bench}
export HF_HUB_OFFLINE=1
scripts/methods_table.sh "$OUT"   # the 8 runs of the methods table, and $OUT/methods.md
# POVID's stage 1 alone: 3 epochs of DPO on world:povid (the same model as world-povid's stages/stage1)
"$BIN" run --output "$OUT" --quiet --method dpo --preferences world:povid --num-epochs 3 --run-name world-povid-stage1
"${PYTHON:-.venv/bin/python}" scripts/readme_results.py "$OUT/world" "$OUT/world-lambda1" "$OUT/world-lambda0" \
    "$OUT/world-dpo" "$OUT/world-povid-stage1" "$OUT/world-povid" "$OUT/world-sima" "$OUT/world-self-reward" --write
"$BIN" table "$OUT/world" "$OUT/world-dpo" "$OUT/world-povid-stage1" "$OUT/world-povid" "$OUT/world-sima" \
    "$OUT/world-self-reward"
