"""The commands that read finished runs: table, compare (the methods table), plot, report, check (the CI gate)."""

from __future__ import annotations

import argparse

from csr_bench.errors import CsrBenchError
from csr_bench.cli.parser import PROG

def cmd_table(args: argparse.Namespace) -> int:
    from csr_bench.reporting.tables.run_tables import render_run_tables

    if args.by_aspect:
        return _aspect_table(args)
    print(render_run_tables(args.run_dirs, args.format, args.baselines, ci=not args.no_ci), end="")
    return 0


def _aspect_table(args: argparse.Namespace) -> int:
    """The by-aspect table; the task YAMLs' aspects for runs whose results.json recorded none (reporting
    reads no task YAML: the CLI passes them)."""
    from csr_bench.reporting.run_data import load_run
    from csr_bench.reporting.tables.aspects import aspect_table
    from csr_bench.reporting.tables.format import render
    from csr_bench.tasks.aspects import ASPECTS
    from csr_bench.tasks.registry import load_registry

    if args.baselines:
        raise CsrBenchError("--by-aspect takes no --baselines (published rows give no per-task main metrics)")
    mapping = {name: task.aspects for name, task in load_registry().items()}
    table = aspect_table([load_run(path) for path in args.run_dirs], mapping, list(ASPECTS))
    print(render(table, args.format, ci=not args.no_ci), end="")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from csr_bench.reporting.run_data import load_run
    from csr_bench.reporting.tables.baselines import load_baseline
    from csr_bench.reporting.tables.format import render
    from csr_bench.reporting.tables.methods import methods_table

    baselines = [load_baseline(name) for names in args.baseline for name in names]
    table = methods_table([load_run(path) for path in args.run_dirs], baselines)
    print(render(table, args.format, ci=not args.no_ci), end="")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from csr_bench.reporting.report.plots import write_plots

    for path in write_plots(args.run_dir, args.output):
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from csr_bench.evaluation.document_images import run_images
    from csr_bench.reporting.report.page import write_report

    print(write_report(args.run_dir, args.output, max_samples=args.max_samples, images=run_images(args.run_dir)))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from csr_bench.reporting.check import regression as check

    tasks = check.wanted_tasks(args.metrics)
    current = check.load_side(args.run_dir, args.iteration, tasks)
    if args.update_baseline:
        source = {"from": current.label, "written_by": "csr-bench check --update-baseline"}
        print(f"baseline written: {check.write_baseline(current, args.baseline, source)} (from {current.label})")
        return 0
    baseline = check.load_side(args.baseline, tasks=tasks)
    missing, unbaselined = check.unmatched_metrics(baseline, current, args.metrics)
    try:
        metrics = check.select_metrics(baseline, current, args.metrics)
    except CsrBenchError:
        if not missing or args.allow_missing:
            raise
        print(f"{PROG} check: FAILED: the current run ({current.label}) has none of the baseline's gated "
              f"metrics: {', '.join(missing)}")
        return 1
    results = check.compare(baseline, current, metrics, dict(args.max_drop), gate=args.gate, bootstrap=args.bootstrap,
                            confidence=args.confidence, seed=args.seed, fail_on_change=args.fail_on_change)
    print(f"current:  {current.label}\nbaseline: {baseline.label}\n")
    print(check.format_results(results, args.confidence))
    for note in check.stale_results(current) + check.stale_results(baseline):
        print(f"note: {note}")
    if unbaselined:
        print(f"note: not in the baseline, so not checked: {', '.join(unbaselined)}")
    if missing:
        print(f"{'note' if args.allow_missing else 'missing'}: in the baseline but not in the current run: "
              f"{', '.join(missing)}" + (" (--allow-missing)" if args.allow_missing else ""))
    gone = [] if args.allow_missing else missing  # a gated metric the run lacks fails like a regression
    failed = [r.name for r in results if r.failed] + gone
    if failed:
        verb = ("changed" if args.fail_on_change else "regressed") + (" or missing" if gone else "")
        print(f"\n{PROG} check: FAILED: {len(failed)} of {len(results) + len(gone)} metrics {verb}: {', '.join(failed)}")
        if args.fail_on_change:
            print(f"If the change is intended, update the baseline: {PROG} check {args.run_dir} "
                  f"--baseline {args.baseline} --update-baseline")
        return 1
    print(f"\n{PROG} check: passed ({len(results)} metrics, gate: {args.gate})")
    return 0
