#!/usr/bin/env bash
# GPU check (issue 15 §3; docs/safety-and-determinism.md, "The GPU check"): a few minutes on one CUDA GPU.
#
#   1. tiny-llava on bundled POPE in fp16 (the default dtype on a GPU: no --dtype) and bf16, batch 1
#      and batch 8: are batch 1 and batch 8 predictions identical, how many predictions fp16 and bf16
#      share, and does results.json record the dtype the model ran in;
#   2. one tiny CSR iteration (search, DPO + LoRA, merge) and its model/merge_check.json: the share of
#      the LoRA update the saved model keeps (and would keep loaded as fp16 / bf16), the effective batch.
#
# Usage: scripts/gpu_check.sh [OUTPUT_DIR]        (default: a new temporary folder)
# Environment: GPU_CHECK_DEVICE (default cuda; "cpu" dry-runs the script without a GPU),
#   GPU_CHECK_LIMIT (POPE questions, default 48), GPU_CHECK_LR (DPO learning rate, default 1e-5),
#   CSR_BENCH (the command, default .venv/bin/csr-bench, else python -m csr_bench).
# Exit status: 0 when every hard check passes, 1 when one fails, 2 when CUDA is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE="${GPU_CHECK_DEVICE:-cuda}"
LIMIT="${GPU_CHECK_LIMIT:-48}"
LR="${GPU_CHECK_LR:-1e-5}"
OUT="${1:-$(mktemp -d -t csr-gpu-check.XXXXXX)}"
PYTHON=".venv/bin/python"
[ -x "$PYTHON" ] || PYTHON="python3"
if [ -n "${CSR_BENCH:-}" ]; then read -r -a CLI <<<"$CSR_BENCH"
elif [ -x .venv/bin/csr-bench ]; then CLI=(.venv/bin/csr-bench)
else CLI=("$PYTHON" -m csr_bench); fi
export HF_HUB_OFFLINE=1

if [ "$DEVICE" != "cpu" ]; then
    if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        echo "gpu_check: CUDA is not available to $PYTHON (torch without CUDA, or no GPU visible); run it on a" \
             "CUDA machine, or GPU_CHECK_DEVICE=cpu $0 to dry-run it" >&2
        exit 2
    fi
fi
mkdir -p "$OUT"
echo "gpu_check: device $DEVICE, output $OUT"
start=$SECONDS

COMMON=(--model tiny-llava --data-root bundled --device "$DEVICE" --output "$OUT" --seed 0)
EVAL=(eval "${COMMON[@]}" --tasks pope --limit "$LIMIT" --max-new-tokens 24)
for batch in 1 8; do
    "${CLI[@]}" --quiet "${EVAL[@]}" --batch-size "$batch" --run-name "eval-default-b$batch"   # the default dtype
    "${CLI[@]}" --quiet "${EVAL[@]}" --batch-size "$batch" --dtype bfloat16 --run-name "eval-bfloat16-b$batch"
done
"${CLI[@]}" --quiet run "${COMMON[@]}" --iterations 1 --tasks pope --limit 16 --max-new-tokens 8 \
    --prompts 4 --max-sentences 2 --sentence-max-new-tokens 8 --learning-rate "$LR" --lora-r 8 --lora-alpha 16 \
    --run-name dpo

"$PYTHON" - "$OUT" "$DEVICE" "$((SECONDS - start))" <<'EOF'
import json
import sys
from pathlib import Path

out, device, seconds = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
failures = []


def predictions(run):
    rows = [json.loads(line) for line in (out / run / "iter_0" / "pope" / "samples.jsonl").read_text().splitlines()]
    return {row["doc_id"]: row["prediction"] for row in rows}


def recorded_dtype(run, iteration=0):
    return json.loads((out / run / f"iter_{iteration}" / "results.json").read_text())["model"].get("dtype")


default = "float16" if device.startswith("cuda") else "float32"
print(f"\n== gpu_check summary ({device}, {seconds} s) ==")
for name, expected in (("default", default), ("bfloat16", "bfloat16")):
    one, eight = predictions(f"eval-{name}-b1"), predictions(f"eval-{name}-b8")
    same = sum(one[key] == eight.get(key) for key in one)
    dtypes = {recorded_dtype(f"eval-{name}-b{b}") for b in (1, 8)}
    print(f"eval {name:9s} results.json dtype {sorted(dtypes)}; batch 1 vs 8: {same}/{len(one)} predictions identical")
    if dtypes != {expected}:
        failures.append(f"eval {name}: results.json says dtype {sorted(dtypes)}, expected {expected}")
    if same != len(one):
        failures.append(f"eval {name}: batch 1 and batch 8 differ on {len(one) - same} of {len(one)} predictions")
fp16, bf16 = predictions("eval-default-b8"), predictions("eval-bfloat16-b8")
print(f"eval {default} vs bfloat16 (batch 8): {sum(fp16[k] == bf16.get(k) for k in fp16)}/{len(fp16)} "
      "predictions identical (differences are expected: report, not a failure)")

model = out / "dpo" / "iter_1" / "model"
check = json.loads((model / "merge_check.json").read_text())
inputs = json.loads((out / "dpo" / "iter_1" / "dpo_inputs.json").read_text())
overall = check["overall"]
kept = overall["kept"]
loaded = ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in overall["kept_if_loaded_as"].items())
print(f"dpo merge: merged in {check['merged_in']}, saved {check['saved_dtype']}, update norm "
      f"{overall['update_norm']:.3g}, kept {kept if kept is None else round(kept, 6)}; if loaded as: {loaded}")
worst = min(((layer["kept"], name) for name, layer in check["layers"].items() if layer["kept"] is not None),
            default=None)
if worst:
    print(f"dpo merge: lowest per-layer kept share {worst[0]:.6f} ({worst[1]})")
print(f"dpo batch: {inputs.get('batch')}")
print(f"iteration 1 evaluated in {recorded_dtype('dpo', 1)}")
if kept is None:
    failures.append("dpo: the LoRA update is zero (nothing trained)")
elif check["below_threshold"]:
    failures.append(f"dpo: the saved model keeps {kept:.2%} of the update (< {check['threshold']:.0%})")
if recorded_dtype("dpo", 1) != default:
    failures.append(f"dpo: iteration 1 evaluated in {recorded_dtype('dpo', 1)}, expected {default}")
for failure in failures:
    print(f"FAIL {failure}")
print("gpu_check: " + ("all hard checks passed" if not failures else f"{len(failures)} check(s) failed"))
sys.exit(1 if failures else 0)
EOF
