"""Evaluation throughput: csr-bench's evaluate() at batch size 8 (and 16) against batch size 1.

Per setup (model x task x items) and batch size, each repeat runs in a fresh process that loads
the model, warms up (one untimed evaluation of the first few items into a scratch folder), then
times one full ``csr_bench.evaluation.evaluate(EvalConfig(...), model=...)`` and reports:

* wall time of that evaluate() call (generation, scoring, saving samples, results.json) and items/s;
* where the time went: inside the model's forward passes (forward pre-hook + hook on the
  LlavaForConditionalGeneration module), inside transformers' generate() but outside forward (the
  decoding loop: logits processing, stopping criteria, cache bookkeeping), inside the adapter
  (LlavaModel.generate: image padding, processor, decoding) but outside generate(), and the rest
  (evaluator: data loading, prompt lengths, scoring, writing samples);
* peak RSS of the process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: model load, warm-up and
  the timed evaluation, i.e. a full evaluation's peak), and the RSS before the timed evaluation;
* the predictions, compared with batch size 1's (the share of identical predictions must be 100%).

Medians over the repeats (the repeats of the batch sizes are interleaved, so background load
hits them alike). Setups:

  tiny-pope    tiny-llava (random weights, built from config) on the bundled POPE (141 questions);
               its answers never end early, so every item generates the task's 128 new tokens
  world-pope   the shipped world VLM (csr_bench/bundled/world-seed0/model) on a small world's POPE
               (360 questions; answers are one word: "Yes"/"No" + end of sequence)
  world-chair  the same VLM on that world's CHAIR (64 images; ~40-word descriptions, up to 512 tokens)

Usage: python bench/eval_throughput.py [--quick] [--repeats N] [--batch-sizes 1,8,16] [--setups ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SETUPS = {
    "tiny-pope": {"model": "tiny-llava", "task": "pope", "data": "bundled", "limit": None},
    "world-pope": {"model": str(C.BUNDLED_WORLD_VLM), "task": "pope", "data": "world", "limit": None},
    "world-chair": {"model": str(C.BUNDLED_WORLD_VLM), "task": "chair", "data": "world", "limit": None},
}
QUICK_LIMITS = {"tiny-pope": 48, "world-pope": 120, "world-chair": 24}
WARMUP_ITEMS = 8


# -- child: one timed evaluation in this fresh process --------------------------------------------
def child(payload: dict) -> None:
    C.offline()
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # before transformers: the registry's loaders import it directly
    rss_start = C.current_rss_mb()
    from csr_bench.progress import set_quiet

    set_quiet(True)
    from csr_bench.evaluation import EvalConfig, evaluate
    from csr_bench.models.registry import resolve_model

    spec = resolve_model(payload["model"])
    started = time.perf_counter()
    vlm = spec.loader(spec.name)
    load_seconds = time.perf_counter() - started
    forward = C.time_forward(vlm.model)
    hf_generate, adapter_generate = C.Stopwatch(), C.Stopwatch()
    vlm.model.generate = hf_generate.wrap(vlm.model.generate)
    vlm.generate = adapter_generate.wrap(vlm.generate)

    out = Path(payload["out"])

    def config(**kwargs) -> EvalConfig:
        base = {"model": payload["model"], "tasks": [payload["task"]], "data_root": payload["data_root"],
                "batch_size": payload["batch_size"], "limit": payload["limit"], "overwrite": True, "output": str(out)}
        if payload.get("num_workers") is not None:  # image-loading DataLoader workers (EvalConfig default otherwise)
            base["num_workers"] = payload["num_workers"]
        return EvalConfig(**{**base, **kwargs})

    warm = min(WARMUP_ITEMS, payload["limit"] or WARMUP_ITEMS)
    evaluate(config(limit=warm, run_name="warmup"), model=vlm)
    for watch in (forward, hf_generate, adapter_generate):
        watch.reset()
    rss_before = C.current_rss_mb()
    started = time.perf_counter()
    results = evaluate(config(run_name="timed"), model=vlm)
    wall = time.perf_counter() - started
    entry = results["results"][payload["task"]]
    samples = [json.loads(line) for line in (out / "timed" / "iter_0" / entry["samples"]).read_text().splitlines()]
    C.child_result({
        "wall": wall, "task_seconds": entry.get("seconds"), "items": len(samples), "load_seconds": load_seconds,
        "forward": forward.seconds, "forward_calls": forward.calls, "hf_generate": hf_generate.seconds,
        "adapter_generate": adapter_generate.seconds, "generate_calls": adapter_generate.calls,
        "rss_start_mb": rss_start, "rss_before_eval_mb": rss_before, "peak_rss_mb": C.peak_rss_mb(),
        "peak_rss_children_mb": C.peak_rss_mb(children=True),
        "predictions": {json.dumps(s["doc_id"]): s["prediction"] for s in samples},
    })


# -- parent ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer items and 2 repeats (about 2 minutes)")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per variant (default 5; quick 2)")
    parser.add_argument("--batch-sizes", default="1,8,16")
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"comma-separated, from {', '.join(SETUPS)}")
    parser.add_argument("--work-dir", default=None, help="where the small world and outputs go (default: a temp dir)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="EvalConfig.num_workers (image-loading processes; default: EvalConfig's)")
    parser.add_argument("--json", default=None, help="also write every measurement to this file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))

    C.offline()
    repeats = args.repeats or (2 if args.quick else 5)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if 1 not in batch_sizes:
        batch_sizes.insert(0, 1)
    setups = [s for s in args.setups.split(",") if s]
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="csr-bench-eval-"))
    C.log(f"machine: {C.machine()}; work dir {work}")
    world = None
    if any(SETUPS[s]["data"] == "world" for s in setups):
        world = C.small_world(work / "world")
        C.log(f"small world written to {world}")

    runs: dict[tuple[str, int], list[dict]] = {}
    for repeat in range(repeats):
        for setup in setups:
            spec = SETUPS[setup]
            for batch in batch_sizes:
                payload = {"model": spec["model"], "task": spec["task"],
                           "data_root": str(world) if spec["data"] == "world" else spec["data"],
                           "batch_size": batch, "limit": QUICK_LIMITS[setup] if args.quick else spec["limit"],
                           "out": str(work / "out" / f"{setup}-b{batch}"), "num_workers": args.num_workers}
                result = C.run_child(__file__, payload)
                runs.setdefault((setup, batch), []).append(result)
                C.log(f"repeat {repeat + 1}/{repeats} {setup} batch {batch}: {result['items']} items, "
                      f"{result['wall']:.2f} s, forward {result['forward']:.2f} s")

    throughput, overhead = [], []
    for setup in setups:
        reference = runs[(setup, 1)][0]["predictions"]
        base = C.median(r["wall"] for r in runs[(setup, 1)])
        for batch in batch_sizes:
            rs = runs[(setup, batch)]
            wall = C.median(r["wall"] for r in rs)
            items = rs[0]["items"]
            same = sum(r["predictions"].get(k) == v for r in rs for k, v in reference.items())
            # medians of each share over the repeats
            forward = C.median(r["forward"] / r["wall"] for r in rs)
            loop = C.median((r["hf_generate"] - r["forward"]) / r["wall"] for r in rs)
            adapter = C.median((r["adapter_generate"] - r["hf_generate"]) / r["wall"] for r in rs)
            rest = C.median((r["wall"] - r["adapter_generate"]) / r["wall"] for r in rs)
            throughput.append({
                "setup": setup, "batch": batch, "speed-up vs batch 1": f"{base / wall:.2f}x",
                "identical predictions vs batch 1": C.share(same, items * len(rs)),
                "items": items, "wall s (median)": f"{wall:.2f}", "min-max": C.spread([r["wall"] for r in rs]),
                "items/s": f"{items / wall:.1f}", "peak RSS MiB": f"{max(r['peak_rss_mb'] for r in rs):.0f}",
                "worker peak RSS MiB": f"{max(r.get('peak_rss_children_mb', 0) for r in rs):.0f}",
            })
            overhead.append({
                "setup": setup, "batch": batch, "outside forward": f"{100 * (1 - forward):.0f}%",
                "forward": f"{100 * forward:.0f}%", "generate() loop": f"{100 * loop:.0f}%",
                "adapter (images, processor, decode)": f"{100 * adapter:.0f}%", "evaluator rest": f"{100 * rest:.0f}%",
                "RSS before eval MiB": f"{C.median(r['rss_before_eval_mb'] for r in rs):.0f}",
                "RSS at start MiB": f"{C.median(r['rss_start_mb'] for r in rs):.0f}",
            })
    print(f"Machine: {C.machine()}; {repeats} fresh processes per row, medians "
          f"(identical predictions counted over every repeat).")
    print(C.table(throughput, "Evaluation throughput (evaluate() wall time after a warm-up; peak RSS = ru_maxrss "
                              "of the process, RUSAGE_SELF; worker = the largest finished child process, "
                              "RUSAGE_CHILDREN: the DataLoader's image workers)"))
    print(C.table(overhead, "Where the time goes (shares of evaluate() wall time, medians)"))
    if args.json:
        Path(args.json).write_text(json.dumps({f"{s}/b{b}": v for (s, b), v in runs.items()}, indent=1))


if __name__ == "__main__":
    main()
