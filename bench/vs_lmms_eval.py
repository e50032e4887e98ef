"""csr-bench against lmms-eval 0.7.x's ``llava_hf`` on the same checkpoint and the same POPE questions.

Run it with the virtualenv that has the ``lmms`` extra (``make .venv-lmms/.installed``):

    .venv-lmms/bin/python bench/vs_lmms_eval.py [--quick] [--repeats N] [--batch-size 16]

lmms-eval runs exactly as ``csr_bench.interop.lmms_eval`` runs it (its own POPE task on local data, written by
``write_pope_task``; the command line of ``lmms_eval_command``: llava_hf, batch size 1 — llava_hf
refuses more —, plain mode with the vicuna_v1 template when the checkpoint has no chat template);
csr-bench runs ``evaluate(EvalConfig(...))`` at ``--batch-size``. Each run is a fresh process, and
each side is timed twice:

* end to end: process start to results written (imports, model load, data, generation, scoring);
* generation loop: lmms-eval's ``LlavaHf.generate_until`` (every request: image, prompt,
  processor, generate, decode) against csr-bench's task loop, as its evaluator times it (the
  ``seconds`` of the task in results.json: image, prompt, processor, generate, decode, and also
  scoring each sample and appending it to samples.jsonl). Neither side is warmed up: the first
  batch pays torch's first-call costs on both.

Both harnesses get the same pixels (images padded to a square first, as LLaVA-1.5 does, so
lmms-eval's centre crop changes nothing; the world's images are square already) and the same
prompt, so greedy decoding must give the same text: the table shows the share of identical
predictions (``csr_bench.interop.lmms_eval.compare_pope``, matched by question_id). Setups:

  tiny   save_tiny_llava's checkpoint (random weights: every answer runs to POPE's 128 new tokens)
         on the bundled POPE (141 questions, images padded to a square)
  world  the shipped world VLM (csr_bench/bundled/world-seed0/model) on a small world's POPE
         (360 questions, one-word answers)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()  # end-to-end clock of a child process: from its first line

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

QUICK_LIMIT = {"tiny": 24, "world": 96}


# -- children ----------------------------------------------------------------------------------
def child_csr_bench(payload: dict) -> None:
    C.offline()
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from csr_bench.progress import set_quiet

    set_quiet(True)
    from csr_bench.evaluation import EvalConfig, evaluate
    from csr_bench.models.registry import resolve_model

    spec = resolve_model(payload["checkpoint"])
    vlm = spec.loader(spec.name)
    forward = C.time_forward(vlm.model)
    config = EvalConfig(model=payload["checkpoint"], tasks=["pope"], data_root=payload["data_root"],
                        batch_size=payload["batch_size"], limit=payload["limit"], output=payload["out"],
                        run_name="csr-bench", overwrite=True)
    started = time.perf_counter()
    results = evaluate(config, model=vlm)
    wall = time.perf_counter() - started
    loop = results["results"]["pope"]["seconds"]  # the evaluator's own clock of its task loop
    C.child_result({"end_to_end": time.perf_counter() - STARTED, "loop": loop, "evaluate": wall, "forward": forward.seconds,
                    "iteration": str(Path(payload["out"]) / "csr-bench" / "iter_0"), "peak_rss_mb": C.peak_rss_mb()})


def child_lmms_eval(payload: dict) -> None:
    """lmms-eval's command line in this process (as csr_bench.interop.lmms_eval.launch runs it), with timers."""
    C.offline()
    from csr_bench.interop.lmms_eval import launch as runner
    from csr_bench.interop.lmms_eval.run import _newest_results

    runner.ensure_torchvision_importable()
    from lmms_eval.models.simple import llava_hf

    loop = C.Stopwatch()
    forwards: list[C.Stopwatch] = []
    original_init = llava_hf.LlavaHf.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        forwards.append(C.time_forward(self.model))

    llava_hf.LlavaHf.__init__ = init
    llava_hf.LlavaHf.generate_until = loop.wrap(llava_hf.LlavaHf.generate_until)
    results_dir = Path(payload["command"][payload["command"].index("--output_path") + 1])
    since = time.time()
    runner.main(payload["command"][3:])  # [python, -m, csr_bench.interop.lmms_eval.launch, ARGS...]
    results = _newest_results(results_dir, since=since)
    if results is None:
        raise SystemExit(f"lmms-eval wrote no results under {results_dir}")
    C.child_result({"end_to_end": time.perf_counter() - STARTED, "loop": loop.seconds,
                    "forward": sum(f.seconds for f in forwards), "results": str(results),
                    "peak_rss_mb": C.peak_rss_mb()})


# -- parent ------------------------------------------------------------------------------------
def square_pope(source: Path, target: Path, limit: int | None) -> Path:
    """POPE rows (and their images, padded to a square with CLIP's mean colour as the LLaVA adapter
    pads) under target/pope: the data root both harnesses read."""
    from PIL import Image

    rows = [json.loads(line) for line in (source / "pope.jsonl").read_text().splitlines() if line.strip()]
    rows = rows[:limit] if limit else rows
    root = target / "pope"
    (root / "images").mkdir(parents=True, exist_ok=True)
    background = (123, 117, 104)
    for row in rows:
        image = Image.open(source / row["image"]).convert("RGB")
        side = max(image.size)
        canvas = Image.new("RGB", (side, side), background)
        canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        canvas.save(root / row["image"])
    (root / "pope.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer questions, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per side (default 3; quick 1)")
    parser.add_argument("--batch-size", type=int, default=16, help="csr-bench's batch size (lmms-eval's is 1)")
    parser.add_argument("--setups", default="tiny,world")
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        payload = json.loads(args.child)
        return child_lmms_eval(payload) if payload["side"] == "lmms-eval" else child_csr_bench(payload)

    C.offline()
    if importlib.util.find_spec("lmms_eval") is None:
        raise SystemExit("lmms-eval is not installed here: run this with .venv-lmms/bin/python "
                         "(make .venv-lmms/.installed)")
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # before save_tiny_llava imports transformers (PyPI's CUDA torchvision here)
    from csr_bench.interop.lmms_eval import (
        compare_pope,
        lmms_eval_command,
        write_pope_task,
    )
    from csr_bench.interop.lmms_eval.run import has_chat_template
    from csr_bench.models.tiny_llava import save_tiny_llava

    repeats = args.repeats or (1 if args.quick else 3)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="csr-bench-vs-lmms-"))
    C.log(f"machine: {C.machine()}; work dir {work}")
    setups = [s for s in args.setups.split(",") if s]
    prepared = {}
    for setup in setups:
        limit = QUICK_LIMIT[setup] if args.quick else None
        if setup == "tiny":
            checkpoint = work / "tiny-checkpoint"
            if not (checkpoint / "config.json").exists():
                save_tiny_llava(checkpoint)
            data_root = square_pope(C.REPO / "csr_bench" / "bundled" / "pope", work / "tiny-data", limit)
        else:
            checkpoint = C.BUNDLED_WORLD_VLM
            world = C.small_world(work / "world")
            data_root = square_pope(world / "pope", work / "world-data", limit)  # square already: a copy
        count = len((data_root / "pope" / "pope.jsonl").read_text().splitlines())
        prepared[setup] = (checkpoint, data_root, count)
        C.log(f"{setup}: checkpoint {checkpoint}, {count} POPE questions in {data_root}")

    runs: dict[tuple[str, str], list[dict]] = {}
    for repeat in range(repeats):
        for setup in setups:
            checkpoint, data_root, count = prepared[setup]
            out = work / "runs" / f"{setup}-{repeat}"
            shutil.rmtree(out, ignore_errors=True)
            task_dir = out / "lmms" / "tasks"
            write_pope_task(task_dir, data_root / "pope" / "pope.jsonl")  # the parquet conversion is not timed
            command = lmms_eval_command(checkpoint, task_dir, out / "lmms" / "results", limit=count,
                                        force_simple=not has_chat_template(checkpoint))
            sides = {
                "lmms-eval": {"side": "lmms-eval", "command": command},
                "csr-bench": {"side": "csr-bench", "checkpoint": str(checkpoint), "data_root": str(data_root),
                              "batch_size": args.batch_size, "limit": count, "out": str(out / "csr")},
            }
            for side, payload in sides.items():
                result = C.run_child(__file__, payload)
                runs.setdefault((setup, side), []).append(result)
                C.log(f"repeat {repeat + 1}/{repeats} {setup} {side}: end to end {result['end_to_end']:.2f} s, "
                      f"generation loop {result['loop']:.2f} s")

    rows = []
    for setup in setups:
        count = prepared[setup][2]
        ours, theirs = runs[(setup, "csr-bench")], runs[(setup, "lmms-eval")]
        identical = []
        for mine, other in zip(ours, theirs):
            comparison = compare_pope(mine["iteration"], other["results"])["predictions"]
            identical.append((comparison["identical_predictions"], comparison["common_questions"],
                              comparison["identical_prompts"]))
        for side, rs in (("lmms-eval llava_hf (batch 1)", theirs), (f"csr-bench (batch {args.batch_size})", ours)):
            loop, e2e = C.median(r["loop"] for r in rs), C.median(r["end_to_end"] for r in rs)
            base_loop = C.median(r["loop"] for r in theirs)
            base_e2e = C.median(r["end_to_end"] for r in theirs)
            rows.append({
                "setup": setup, "harness": side,
                "speed-up, generation loop": f"{base_loop / loop:.2f}x",
                "speed-up, end to end": f"{base_e2e / e2e:.2f}x",
                "identical predictions": "(reference)" if side.startswith("lmms") else
                C.share(sum(round(s * n) for s, n, _ in identical), sum(n for _, n, _ in identical)),
                "identical prompts": "(reference)" if side.startswith("lmms") else
                f"{100 * min(p for _, _, p in identical):.0f}%",
                "questions": count, "generation loop s": f"{loop:.2f}", "min-max": C.spread([r["loop"] for r in rs]),
                "end to end s": f"{e2e:.2f}", "forward share of the loop": f"{100 * C.median(r['forward'] / r['loop'] for r in rs):.0f}%",
                "peak RSS MiB": f"{max(r['peak_rss_mb'] for r in rs):.0f}",
            })
        prompts = {p for _, _, p in identical}
        C.log(f"{setup}: identical user prompts {sorted(prompts)}")
    print(f"Machine: {C.machine()}; {repeats} fresh processes per row, medians; identical predictions per "
          f"repeat (csr_bench.interop.lmms_eval.compare_pope, by question_id).")
    print(C.table(rows, "csr-bench vs lmms-eval 0.7.x llava_hf, same checkpoint, same POPE questions"))


if __name__ == "__main__":
    main()
