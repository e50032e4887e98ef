"""Crash-safety check, the long version of tests/test_fault_injection.py (docs/crash-safety.md).

Kills `csr-bench run` (one CSR iteration of the shipped world VLM on a small world) with SIGKILL,
reruns the same command until it finishes, and compares the final artefacts with those of an
uninterrupted run: results.json metrics, samples, trees, preferences.jsonl bytes, summary.json
and the merged model's tensors, bit for bit. Scenarios:

  points   every kill point of csr_bench.faults that the run passes, one run per point (--quick:
           all of them chained in one run, each rerun killed at the next point)
  random   --rounds runs, each killed --kills times at random instants, then rerun
  dpo      DPO alone with a checkpoint after every step, killed at a random step, checkpoint
           save (half-written checkpoint) or finished checkpoint, then resumed (--rounds times)
  world    `csr-bench world build` (data, shipped VLM, a 20-step CLIP) killed at random
           instants, compared with an uninterrupted build (not with --quick)

    python scripts/fault_injection.py [--quick] [--rounds N] [--kills K] [--seed S] [--keep DIR]

Prints one line per crashed run and a summary table; exit status 1 if any run differs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness is test infrastructure

from fault_harness import (HarnessError, compare_models, compare_runs, dpo_command,  # noqa: E402
                           run_until_done, small_run_command, write_small_world)

RUN = "w"
# Every kill point a one-iteration run passes, in pipeline order (the evaluation of iteration 0 has
# 3 batches of samples, the search 2 batches of prompts, DPO 4 steps; @5 is iteration 1's evaluation).
POINTS = [
    "write:task_run.json", "torn:samples.jsonl", "torn:samples.jsonl@2", "unsealed:samples.jsonl@2",
    "append:samples.jsonl@3", "write:results.json",
    "write:config.json", "torn:trees.jsonl", "torn:trees.jsonl@2", "unsealed:trees.jsonl", "append:trees.jsonl",
    "write:preferences.jsonl", "write:summary.json",
    "write:dpo_inputs.json", "train:step@2", "train:checkpoint", "train:saved",
    "merge:weights", "write:csr_dpo.json", "merge:done",
    "torn:samples.jsonl@5", "write:results.json@2",
    "write:run.json", "write:tables.md", "write:report.html",
]
# The same stages for one run killed again and again, each rerun at the next point (counts are per
# process, and a rerun skips what is finished).
CHAINED = [
    "write:task_run.json", "torn:samples.jsonl", "unsealed:samples.jsonl@2", "write:results.json",
    "write:config.json", "torn:trees.jsonl@2", "unsealed:trees.jsonl", "append:trees.jsonl",
    "write:preferences.jsonl", "write:summary.json",
    "write:dpo_inputs.json", "train:step@2", "train:checkpoint", "train:saved",
    "merge:weights", "write:csr_dpo.json", "merge:done",
    "torn:samples.jsonl@2", "write:results.json",
    "write:run.json", "write:tables.md", "write:report.html",
]
STAGES = {  # the last log line of a run killed after a delay -> the stage it was in
    "documents from": "evaluation", "loading model": "evaluation", "results written": "evaluation",
    "evaluation already finished": "evaluation", "iteration 1 of": "search", "prompts already searched": "search",
    "preference pairs": "DPO/merge", "not written to the end": "DPO/merge",
}


def stage_of(attempt) -> str:
    """Where a killed attempt was: its kill point, or (killed after a delay) its last log line's stage."""
    if isinstance(attempt.fault, str):
        return attempt.fault
    lines = [line for line in attempt.stderr_tail.splitlines() if line.startswith("csr-bench: ")]
    if not lines:
        return "start-up"
    last = lines[-1]
    if last.startswith("csr-bench: pope:") and "documents" not in last:
        return "evaluation"
    if "iteration 1 of 1" in last:
        return "search"
    if "world:" in last:
        return "world " + ("data" if "scenes" in last else "VLM" if "VLM" in last else
                           "CLIP" if "CLIP" in last else "other")
    return next((stage for key, stage in STAGES.items() if key in last), "other")


class Report:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, scenario: str, name: str, attempts, problems: list[str], seconds: float) -> None:
        kills = sum(a.killed for a in attempts)
        stages = [stage_of(a) for a in attempts if a.killed]
        row = {"scenario": scenario, "name": name, "kills": kills, "attempts": len(attempts),
               "seconds": seconds, "problems": problems, "stages": stages}
        self.rows.append(row)
        verdict = "EQUAL" if not problems else "DIFFERS: " + "; ".join(problems)
        where = ", ".join(stages)
        print(f"  {scenario:<7} {name:<28} {kills} kill(s) [{where}] -> {verdict} ({seconds:.0f}s)", flush=True)

    def table(self) -> str:
        lines = ["| scenario | runs | kills | equal | differs | seconds |", "|---|---|---|---|---|---|"]
        for scenario in dict.fromkeys(row["scenario"] for row in self.rows):
            rows = [row for row in self.rows if row["scenario"] == scenario]
            bad = sum(bool(row["problems"]) for row in rows)
            lines.append(f"| {scenario} | {len(rows)} | {sum(row['kills'] for row in rows)} | {len(rows) - bad} | "
                         f"{bad} | {sum(row['seconds'] for row in rows):.0f} |")
        timed = [stage for row in self.rows if row["scenario"] == "random" for stage in row["stages"]]
        if timed:
            counts = {stage: timed.count(stage) for stage in dict.fromkeys(timed)}
            lines.append("\nrandom kills by stage: " + ", ".join(f"{stage} {n}" for stage, n in counts.items()))
        return "\n".join(lines)

    @property
    def failed(self) -> bool:
        return any(row["problems"] for row in self.rows)


def crashed_run(report: Report, scenario: str, name: str, argv: list[str], faults, compare) -> None:
    started = time.perf_counter()
    try:
        attempts = run_until_done(argv, faults)
        problems = compare()
    except HarnessError as exc:
        attempts, problems = [], [str(exc).splitlines()[0]]
    report.add(scenario, name, attempts, problems, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="the kill points chained in one run, fewer rounds, no world build")
    parser.add_argument("--rounds", type=int, default=None, help="random-kill rounds (default 5; 2 with --quick)")
    parser.add_argument("--kills", type=int, default=3, help="kills per random round (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill instants")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 5)
    rng = random.Random(args.seed)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="csr-bench-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    report = Report()
    started = time.perf_counter()
    try:
        world = work / "world"
        if not (world / "world.json").is_file():
            write_small_world(world)
        reference = work / "reference"
        seconds_file = work / "reference-seconds"
        if not (reference / RUN / "run.json").is_file() or not seconds_file.is_file():
            shutil.rmtree(reference, ignore_errors=True)
            mark = time.perf_counter()
            run_until_done(small_run_command(world, reference, RUN))
            seconds_file.write_text(f"{time.perf_counter() - mark:.2f}\n")
        duration = float(seconds_file.read_text())
        print(f"uninterrupted run: {duration:.1f}s ({reference / RUN})", flush=True)

        def check(output: Path):
            return lambda: compare_runs(reference / RUN, output / RUN)

        print("points: " + ("all chained in one run" if args.quick else "one run per kill point"), flush=True)
        if args.quick:
            output = work / "points-chained"
            shutil.rmtree(output, ignore_errors=True)
            crashed_run(report, "points", f"{len(CHAINED)} chained", small_run_command(world, output, RUN), CHAINED,
                        check(output))
        else:
            for k, point in enumerate(POINTS):
                output = work / f"point-{k:02d}"
                shutil.rmtree(output, ignore_errors=True)
                crashed_run(report, "points", point, small_run_command(world, output, RUN), [point], check(output))

        mark = time.perf_counter()
        run_until_done(STARTUP)
        startup = time.perf_counter() - mark
        print(f"random: {rounds} rounds of {args.kills} kills spread over the {duration:.0f}s of a run "
              f"({startup:.1f}s of start-up each)", flush=True)
        for k in range(rounds):
            output = work / f"random-{k:02d}"
            shutil.rmtree(output, ignore_errors=True)
            delays = kill_delays(rng, args.kills, startup, duration)
            crashed_run(report, "random", "kills at " + ",".join(f"{d:.1f}s" for d in delays),
                        small_run_command(world, output, RUN), delays, check(output))

        print(f"dpo: {rounds} trainings with a checkpoint every step, killed at a random point", flush=True)
        iteration = reference / RUN / "iter_1"
        for k in range(rounds):
            output = work / f"dpo-{k:02d}"
            shutil.rmtree(output, ignore_errors=True)
            point = f"{rng.choice(['train:step', 'train:checkpoint', 'train:saved'])}@{rng.randint(1, 4)}"
            crashed_run(report, "dpo", point,
                        dpo_command(iteration / "dpo_inputs.json", iteration / "pairs" / "preferences.jsonl", output),
                        [point], lambda output=output: compare_models(iteration / "model", output / "model"))

        if not args.quick:
            world_rounds = max(1, rounds // 2)
            reference_world = work / "world-build-reference"
            build_file = work / "world-build-seconds"
            if not (reference_world / "build.json").is_file() or not build_file.is_file():
                shutil.rmtree(reference_world, ignore_errors=True)
                mark = time.perf_counter()
                run_until_done(world_build_command(reference_world))
                build_file.write_text(f"{time.perf_counter() - mark:.2f}\n")
            build_seconds = float(build_file.read_text())
            print(f"world: {world_rounds} builds killed {args.kills} times over the {build_seconds:.0f}s of a build",
                  flush=True)
            for k in range(world_rounds):
                output = work / f"world-build-{k:02d}"
                shutil.rmtree(output, ignore_errors=True)
                delays = kill_delays(rng, args.kills, startup, build_seconds)
                crashed_run(report, "world", "kills at " + ",".join(f"{d:.1f}s" for d in delays),
                            world_build_command(output), delays,
                            lambda output=output: compare_worlds(reference_world, output))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(report.table())
    print(f"\n{'FAILED' if report.failed else 'passed'}: {len(report.rows)} crashed runs, "
          f"{sum(row['kills'] for row in report.rows)} kills, {time.perf_counter() - started:.0f}s in all")
    return 1 if report.failed else 0


def world_build_command(folder: Path) -> list[str]:
    code = ("import logging; logging.basicConfig(level=logging.INFO, format='csr-bench: %(message)s'); "
            "from csr_bench.world.build import build_world; "
            f"build_world(0, {str(folder)!r}, clip={{'steps': 20}})")
    return [sys.executable, "-c", code]


STARTUP = [sys.executable, "-c", "from csr_bench.compat import ensure_torchvision_importable; "
           "ensure_torchvision_importable(); import csr_bench.cli, transformers, trl, peft"]


def kill_delays(rng: random.Random, kills: int, startup: float, duration: float) -> list[float]:
    """Delays that walk through a run: ``kills`` instants drawn uniformly in the run's work (its
    duration less the start-up every process pays), each attempt killed after the start-up plus
    the work from the previous instant to its own (a rerun skips what was saved)."""
    instants = sorted(rng.uniform(0.0, max(duration - startup, 0.5)) for _ in range(kills))
    return [round(startup + now - before, 2) for before, now in zip([0.0, *instants], instants)]


def compare_worlds(reference: Path, candidate: Path) -> list[str]:
    """A crashed build against an uninterrupted one: every data file's bytes, the VLM's and the
    CLIP's tensors, build.json less its timings."""
    import torch

    from fault_harness import _tensors

    problems = []
    if not (candidate / "build.json").is_file():
        return ["no build.json"]

    def files(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    a, b = files(reference / "data"), files(candidate / "data")
    if a != b:
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        problems.append(f"data: {len(changed)} files differ (first {changed[0]})")
    for part in ("model", "clip"):
        x, y = _tensors(reference / part), _tensors(candidate / part)
        if x.keys() != y.keys() or any(not torch.equal(x[k], y[k]) for k in x):
            problems.append(f"{part}: tensors differ")
    def untimed(path: Path) -> dict:
        return {k: v for k, v in json.loads(path.read_text()).items() if not k.endswith("seconds")}

    if untimed(reference / "build.json") != untimed(candidate / "build.json"):
        problems.append("build.json differs")
    leftovers = sorted(p.name for p in candidate.iterdir() if p.name.endswith(".partial"))
    if leftovers:
        problems.append(f"leftover {', '.join(leftovers)}")
    return problems


if __name__ == "__main__":
    raise SystemExit(main())
