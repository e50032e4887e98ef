"""``csr-bench grade-reward``: grade a reward function on a reward_pairs task (MJ-Bench); torch is
imported only when pairs are scored (csr_bench/evaluation/reward_grading.py)."""

from __future__ import annotations

import argparse


def add_grade_reward_parser(commands, parents: list[argparse.ArgumentParser]) -> None:
    grade = commands.add_parser(
        "grade-reward", parents=parents, help="grade a reward function on preference pairs (MJ-Bench)",
        description="Score both sides of each pair of a reward-pair task (`csr-bench tasks` marks them [reward]) "
        "with a reward function and grade it by MJ-Bench's rule: accuracy with ties (0.5 credit), without ties, "
        "the tie rate, per subcategory, with bootstrap intervals. Rerun the same command to resume.")
    grade.add_argument("--task", required=True, help="a reward-pair task, e.g. mjbench_alignment, mjbench_world_captions")
    grade.add_argument("--reward", required=True,
                       help="ri:<model> (CSR's R_I: 100*cos with that model's CSR CLIP, e.g. ri:llava15, ri:world), "
                       "open_clip:<model>:<pretrained> (raw cosine, as MJ-Bench's CLIP score, e.g. "
                       "open_clip:ViT-H-14:laion2b_s32b_b79k), world (the world's CLIP, 100*cos) or tiny (tests)")
    grade.add_argument("--tie-threshold", type=float, default=0.0, metavar="X",
                       help="|s1 - s0| <= X is a tie, in the reward's own units (100*cos or cos); default 0.0 as "
                       "MJ-Bench's inference.py")
    grade.add_argument("--data-root", help="folder with the task's local copy (default: the hub split; the world's "
                       "data for the world's tasks)")
    grade.add_argument("--output", default=None, help="output folder (default results/reward_grading/)")
    grade.add_argument("--limit", type=int, help="grade only the first N pairs")
    grade.add_argument("--batch-size", type=int, default=16, help="pairs scored at once (default 16)")
    grade.add_argument("--device", help="cuda, cpu, ... (default: cuda when available)")
    grade.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000; 0: none)")
    grade.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    grade.add_argument("--include-tasks", action="append", default=[], metavar="DIR",
                       help="also load task YAMLs from DIR (repeatable)")
    grade.add_argument("--allow-pickle", action="store_true",
                       help="also load CLIP weights stored as pickles (torch.load(weights_only=True))")
    grade.add_argument("--json", action="store_true", help="print results.json instead of the table")


def cmd_grade_reward(args: argparse.Namespace) -> int:
    import json

    from csr_bench.errors import CsrBenchError
    from csr_bench.evaluation.reward_grading import DEFAULT_OUTPUT, GradeConfig, format_table, grade_reward

    if args.batch_size < 1:
        raise CsrBenchError(f"--batch-size must be at least 1 (got {args.batch_size})")
    if args.bootstrap < 0:
        raise CsrBenchError(f"--bootstrap must be 0 or more (got {args.bootstrap})")
    results = grade_reward(GradeConfig(
        task=args.task, reward=args.reward, tie_threshold=args.tie_threshold, data_root=args.data_root,
        output=args.output or DEFAULT_OUTPUT, limit=args.limit, include_tasks=args.include_tasks,
        device=args.device, batch_size=args.batch_size, bootstrap=args.bootstrap, seed=args.seed))
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0
