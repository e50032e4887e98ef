"""CSR sampling: SentenceBeamSearch.search (batched, prefix KV cache reused) against
search_one_at_a_time (the reference's loop: one node at a time, batch 1, prompt re-encoded).

Both are driven as csr_bench.methods.csr.method.CsrMethod drives the search, with the CSR settings
`csr-bench run --model NAME` uses (``run.method_config_for``): prompts in batches of
``prompts_per_batch`` (8; 16 for world), the reference's search settings (5 beams in 5 groups,
diversity penalty 3, sentences up to 70 tokens, responses up to 1024 characters), the
reference-mode prune (top 1 + bottom 2 unfinished sentences per step) and a CLIP image scorer
(the built-in tiny CLIP; ``--clip world`` uses the world's trained CLIP where a built world exists).
Each variant and repeat runs in a fresh process (model load, one untimed warm-up search of one
prompt, then the timed search of every prompt). The parent checks that both variants built the
same candidate trees (same sentences, tokens, finished flags, tree shape; beam scores, log-probs
and CLIP scores within 1e-4) and the same chosen/rejected pairs (csr_bench.methods.csr.rewards.select_pair,
reference mode), and prints the speed-up (median wall time over the repeats).

Setups:
  world   the shipped world VLM (trained: real sentences ending in "." and end of sequence) on 16 of
          a small world's unlabelled prompt images, as `csr-bench run --model world` does
  tiny    tiny-llava (random weights: no sentence ever ends before the 70-token cap, so each step
          generates 70 tokens) on the 12 bundled POPE images, as `csr-bench run --model tiny-llava`

Usage: python bench/csr_search.py [--quick] [--repeats N] [--setups world,tiny]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SETUPS = {  # "defaults": the registered model whose CSR settings `csr-bench run` would use
    "world": {"model": str(C.BUNDLED_WORLD_VLM), "defaults": "world", "prompts": 16, "source": "world"},
    "tiny": {"model": "tiny-llava", "defaults": "tiny-llava", "prompts": 12, "source": "bundled"},
}
QUICK = {"world": {"prompts": 8}, "tiny": {"prompts": 4, "max_sentences": 3}}
VARIANTS = ("batched", "one-at-a-time")
TOLERANCE = 1e-4


def child(payload: dict) -> None:
    C.offline()
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    import torch

    if payload.get("threads"):
        torch.set_num_threads(payload["threads"])
    from csr_bench.progress import set_quiet

    set_quiet(True)
    from dataclasses import replace

    from csr_bench.run import method_config_for
    from csr_bench.methods.prompts import build_prompt_set
    from csr_bench.methods.csr.rewards import prune, select_pair
    from csr_bench.methods.csr.search import SearchRequest, SentenceBeamSearch
    from csr_bench.models.registry import resolve_model

    spec = resolve_model(payload["model"])
    vlm = spec.loader(spec.name)
    if payload["clip"] == "world":
        from csr_bench.world.build import require_built
        from csr_bench.world.train_clip import load_world_clip

        clip = load_world_clip(require_built() / "clip", device="cpu")
    else:
        from csr_bench.models.clip import build_tiny_clip

        clip = build_tiny_clip(seed=0, device="cpu")
    csr = method_config_for("csr", payload["defaults"])
    csr = replace(csr, search=replace(csr.search, max_sentences=payload.get("max_sentences")))
    prune_nodes = functools.partial(prune, mode=csr.calibration, lam=csr.lam, num_beams=csr.search.num_beams,
                                    keep_top=csr.search.keep_top, keep_bottom=csr.search.keep_bottom)
    prompts = build_prompt_set(payload["source"], limit=payload["prompts"], seed=csr.prompt_seed)
    requests = [SearchRequest(p.prompt_id, p.load_image(), str(p.image_path), p.question) for p in prompts]
    search = SentenceBeamSearch(vlm, csr.search)
    run = search.search if payload["variant"] == "batched" else search.search_one_at_a_time
    # the model's own work: the text decoder and the vision tower (the batched search calls the
    # decoder directly, the one-at-a-time search through the LLaVA wrapper; lm_head is left out)
    forward = C.time_forward(vlm.model.model.language_model, vlm.model.model.vision_tower)
    clip_watch = C.Stopwatch()  # time in CLIP's towers (the scorer itself stays a ClipScorer)
    clip.encode_images = clip_watch.wrap(clip.encode_images)
    clip.encode_texts = clip_watch.wrap(clip.encode_texts)

    def drive(batch_requests):
        trees = []
        for start in range(0, len(batch_requests), csr.prompts_per_batch):
            trees += run(batch_requests[start:start + csr.prompts_per_batch],
                         lambda nodes, tree: prune_nodes(nodes, tree=tree), image_scorer=clip)
        return trees

    drive(requests[:1])  # warm-up
    forward.reset()
    clip_watch.reset()
    started = time.perf_counter()
    trees = drive(requests)
    wall = time.perf_counter() - started
    pairs = [select_pair(tree, mode=csr.calibration, lam=csr.lam) for tree in trees]
    C.child_result({
        "wall": wall, "forward": forward.seconds, "forward_calls": forward.calls, "clip": clip_watch.seconds,
        "prompts": len(trees), "nodes": sum(t.stats()["nodes"] for t in trees),
        "responses": sum(t.stats()["complete_responses"] for t in trees),
        "trees": [t.to_dict() for t in trees],
        "pairs": [None if p is None else {"chosen": p.chosen, "rejected": p.rejected} for p in pairs],
        "peak_rss_mb": C.peak_rss_mb(),
    })


def same_tree(a, b, path: str = "") -> str | None:
    """None when two trees (dicts) match: structure, texts, tokens exactly; scores within TOLERANCE."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{path}: keys differ"
        for key in a:
            found = same_tree(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            found = same_tree(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return None if abs(a - b) <= TOLERANCE else f"{path}: {a} vs {b}"
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer prompts (tiny: 3 sentences), 2 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per variant (default 3; quick 2)")
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"comma-separated, from {', '.join(SETUPS)}")
    parser.add_argument("--clip", choices=("tiny", "world"), default="tiny",
                        help="image scorer: the tiny random CLIP, or the world's CLIP (needs `csr-bench world build`)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the children (default: torch's)")
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--save-trees", default=None, metavar="FILE",
                        help="write the first run's trees and pairs of each setup and variant to FILE")
    parser.add_argument("--compare-trees", default=None, metavar="FILE",
                        help="compare the trees and pairs with FILE (from --save-trees, e.g. on the code before a change)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))

    C.offline()
    if args.clip == "world":
        from csr_bench.world.build import is_built, world_dir

        if not is_built(world_dir()):  # else the children would build it, CLIP training included (minutes)
            raise SystemExit(f"--clip world: no built world in {world_dir()}; run `csr-bench world build` first")
    repeats = args.repeats or (2 if args.quick else 3)
    setups = [s for s in args.setups.split(",") if s]
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="csr-bench-search-"))
    C.log(f"machine: {C.machine()}; work dir {work}")
    sources = {"bundled": str(C.REPO / "csr_bench" / "bundled" / "pope" / "images")}
    if any(SETUPS[s]["source"] == "world" for s in setups):
        sources["world"] = str(C.small_world(work / "world") / "prompts" / "images")

    runs: dict[tuple[str, str], list[dict]] = {}
    for repeat in range(repeats):
        for setup in setups:
            for variant in VARIANTS:
                payload = {"model": SETUPS[setup]["model"], "defaults": SETUPS[setup]["defaults"],
                           "prompts": SETUPS[setup]["prompts"],
                           "source": sources[SETUPS[setup]["source"]], "variant": variant, "clip": args.clip,
                           "threads": args.threads, **(QUICK[setup] if args.quick else {})}
                result = C.run_child(__file__, payload)
                runs.setdefault((setup, variant), []).append(result)
                C.log(f"repeat {repeat + 1}/{repeats} {setup} {variant}: {result['prompts']} prompts, "
                      f"{result['nodes']} nodes, {result['wall']:.2f} s")

    rows, problems = [], []
    for setup in setups:
        fast, slow = runs[(setup, "batched")], runs[(setup, "one-at-a-time")]
        reference = slow[0]  # the reference loop's trees and pairs
        n = len(reference["trees"])
        trees_same = pairs_same = 0
        for result in fast:
            for i, (tree, ref) in enumerate(zip(result["trees"], reference["trees"])):
                difference = same_tree(tree, ref)
                trees_same += difference is None
                if difference and f"{setup} prompt {i}" not in " ".join(problems):
                    problems.append(f"{setup} prompt {i} ({result['trees'][i]['prompt_id']}): {difference[:300]}")
            pairs_same += sum(p == q for p, q in zip(result["pairs"], reference["pairs"]))
        # each variant against its own first run: deterministic?
        stable = {name: all(same_tree(r["trees"], rs[0]["trees"]) is None for r in rs[1:])
                  for name, rs in (("one-at-a-time", slow), ("batched", fast))}
        slow_wall, fast_wall = C.median(r["wall"] for r in slow), C.median(r["wall"] for r in fast)
        for name, rs, wall in (("one-at-a-time", slow, slow_wall), ("batched", fast, fast_wall)):
            rows.append({
                "setup": setup, "variant": name,
                "speed-up": f"{slow_wall / wall:.2f}x",
                "identical pairs": f"{pairs_same}/{n * len(fast)}" if name == "batched" else "(reference)",
                "identical trees": C.share(trees_same, n * len(fast)) if name == "batched" else "(reference)",
                "same in every repeat": "yes" if stable[name] else "NO",
                "prompts": n, "nodes": rs[0]["nodes"], "wall s (median)": f"{wall:.2f}",
                "min-max": C.spread([r["wall"] for r in rs]),
                "decoder+vision share": f"{100 * C.median(r['forward'] / r['wall'] for r in rs):.0f}%",
                "CLIP share": f"{100 * C.median(r['clip'] / r['wall'] for r in rs):.0f}%",
                "model calls": rs[0]["forward_calls"],
                "peak RSS MiB": f"{max(r['peak_rss_mb'] for r in rs):.0f}",
            })
    print(f"Machine: {C.machine()}; {repeats} fresh processes per row, medians. Trees and pairs of every batched "
          f"run compared with the one-at-a-time search's (same sentences, tokens, shape; scores within {TOLERANCE}).")
    print(C.table(rows, "CSR sentence-level beam search, batched vs one node at a time"))
    for setup in setups:
        fast, reference = runs[(setup, "batched")], runs[(setup, "one-at-a-time")][0]
        same = sum(p == q for r in fast for p, q in zip(r["pairs"], reference["pairs"]))
        print(f"{setup}: identical pairs: {same}/{len(fast) * len(reference['pairs'])} (batched vs one at a time, "
              f"over {len(fast)} repeats)")
    for problem in problems:
        print("DIFFERENCE:", problem)
    if args.save_trees:
        Path(args.save_trees).write_text(json.dumps({f"{setup}/{variant}": {"trees": rs[0]["trees"], "pairs": rs[0]["pairs"]}
                                                     for (setup, variant), rs in runs.items()}))
        C.log(f"trees and pairs written to {args.save_trees}")
    if args.compare_trees:
        saved = json.loads(Path(args.compare_trees).read_text())
        print(f"\nAgainst {args.compare_trees} (e.g. the same benchmark on the code before a change):")
        for (setup, variant), rs in runs.items():
            if f"{setup}/{variant}" not in saved:
                continue
            old = saved[f"{setup}/{variant}"]
            # the image paths name each run's temporary world: not part of the comparison
            trees = [(dict(t, image=None), dict(o, image=None)) for t, o in zip(rs[0]["trees"], old["trees"])]
            same = sum(same_tree(t, o) is None for t, o in trees)
            exact = sum(t == o for t, o in trees)
            pairs = sum(p == q for p, q in zip(rs[0]["pairs"], old["pairs"]))
            print(f"{setup} {variant}: identical trees {same}/{len(old['trees'])} (bit for bit {exact}), "
                  f"identical pairs {pairs}/{len(old['pairs'])}")


if __name__ == "__main__":
    main()
