#!/usr/bin/env bash
# The CSR paper's comparison on the embedded world, offline, from scratch: the base model, CSR (3
# iterations), its two reward ablations (only R_I, λ = 1; only R_T, λ = 0), DPO on the world's
# RLHF-V-style set, POVID, SIMA and Self-rewarding (3 iterations), each from the same base model,
# prompts and DPO settings; then the methods table (`csr-bench compare`: one row per method at its
# last iteration, intervals, † where the paired difference from the base row excludes 0, the paper's
# average score, pair accuracy), written to OUTPUT_DIR/methods.md. Every run resumes: rerun after a crash.
#   scripts/methods_table.sh [OUTPUT_DIR]     (default results/methods; `make methods`)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/methods}
BIN=${CSR_BENCH:-.venv/bin/csr-bench}
export HF_HUB_OFFLINE=1
"$BIN" run --output "$OUT" --quiet                                              # $OUT/world (CSR, λ = 0.9)
"$BIN" run --output "$OUT" --quiet --lambda 1 --run-name world-lambda1           # only R_I
"$BIN" run --output "$OUT" --quiet --lambda 0 --run-name world-lambda0           # only R_T
"$BIN" run --output "$OUT" --quiet --method dpo --preferences world:rlhf-v       # $OUT/world-dpo
"$BIN" run --output "$OUT" --quiet --method povid                                # $OUT/world-povid
"$BIN" run --output "$OUT" --quiet --method sima                                 # $OUT/world-sima
"$BIN" run --output "$OUT" --quiet --method self-reward                          # $OUT/world-self-reward
"$BIN" compare "$OUT/world" "$OUT/world-lambda1" "$OUT/world-lambda0" "$OUT/world-dpo" "$OUT/world-povid" \
    "$OUT/world-sima" "$OUT/world-self-reward" --baseline llava15-7b | tee "$OUT/methods.md"
echo "written: $OUT/methods.md" >&2
