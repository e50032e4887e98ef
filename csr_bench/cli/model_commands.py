"""The commands that run a model or score its predictions: run, eval, score, export, world."""

from __future__ import annotations

import argparse

from csr_bench.errors import CsrBenchError
from csr_bench.cli.config_flags import apply_flags

def given_fields(config_class, args: argparse.Namespace) -> dict:
    """The flags that were given (not None) among ``config_class``'s fields of the same names."""
    from dataclasses import fields

    return {f.name: getattr(args, f.name) for f in fields(config_class) if getattr(args, f.name, None) is not None}


def config_from_args(config_class, args: argparse.Namespace):
    """Build an EvalConfig/RunConfig from the parsed flags of the same names; unset flags keep
    the dataclass defaults (so `run` with no --model gets the embedded default)."""
    return config_class(**given_fields(config_class, args))


def method_config_from_args(args: argparse.Namespace):
    """The method's config on the model: its defaults, the model's presets (DPO's seed: the run's
    --seed), every flag given on top (--dpo-seed included)."""
    from csr_bench.models.registry import DEFAULT_MODEL
    from csr_bench.run import method_config_for

    return apply_flags(method_config_for(args.method, getattr(args, "model", None) or DEFAULT_MODEL,
                                         getattr(args, "seed", None)), args)


def print_summary(results: dict) -> None:
    from csr_bench.scorers import SCORERS
    from csr_bench.tasks.registry import load_registry

    registry = load_registry(results["config"].get("include_tasks"))
    print(f"{results['run']['name']} iter_{results['run']['iteration']}  ({results['run']['dir']})")
    for name, entry in results["results"].items():
        task = registry.get(name)
        keys = SCORERS[task.scorer].headline if task else sorted(entry["metrics"])
        shown = "  ".join(f"{k} {entry['metrics'][k]:.2f}" for k in keys if k in entry["metrics"])
        if "skipped" in entry:
            shown = f"skipped: {entry['skipped']}"
        # a --limit subset says so: n=50 of 9000
        count = f"{entry['n_samples']} of {entry.get('n_documents')}" if entry.get("subset") else f"{entry['n_samples']}"
        print(f"  {name:<12} n={count:<6} {shown}")


def cmd_run(args: argparse.Namespace) -> int:
    from csr_bench.run import RunConfig, run

    config = config_from_args(RunConfig, args)
    if config.iterations:
        config.method_config = method_config_from_args(args)
    from csr_bench.distributed import is_main

    outcome = run(config)
    if not is_main():  # one summary for a data-parallel run
        return 0
    for results in outcome["iterations"]:
        print_summary(results)
    print(f"\n{outcome['iteration_table']}")
    written = [*outcome["tables"].values(), *outcome.get("plots", []), outcome.get("report"),
               *outcome.get("training_logs", [])]
    print("written:\n" + "\n".join(f"  {path}" for path in written if path))
    if outcome.get("significance"):  # last, for a script to read: base -> last iteration, Δ, paired interval
        print("\n" + "\n".join(outcome["significance"]))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from csr_bench.evaluation import EvalConfig, evaluate

    from csr_bench.distributed import is_main

    results = evaluate(config_from_args(EvalConfig, args))
    if is_main():  # one summary for a data-parallel run
        print_summary(results)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import json

    from csr_bench.evaluation.rescore import rescore

    outcome = rescore(args.task, args.predictions, annotations=args.annotations, judge_url=args.judge_url,
                      judge_model=args.judge_model, include_tasks=args.include_tasks,
                      data_root=args.data_root)
    if args.json:
        print(json.dumps(outcome))
        return 0
    print(f"{outcome['task']}  n={outcome['n']}")
    if "skipped" in outcome:
        print(f"  skipped: {outcome['skipped']}")
    if outcome.get("caveat"):
        print(f"  caveat: {outcome['caveat']}")
    width = max((len(k) for k in outcome["metrics"]), default=0)
    intervals = outcome.get("intervals", {})
    for key, value in outcome["metrics"].items():
        interval = f"  [{intervals[key][0]:.2f}, {intervals[key][1]:.2f}]" if key in intervals else ""
        print(f"  {key:<{width}}  {value:.2f}{interval}")
    if intervals:
        method = outcome["interval_method"]
        unit = method["unit"]
        units = unit[:-1] + "ies" if unit.endswith("y") and unit[-2:-1] not in "aeiou" else unit + "s"  # AMBER's queries
        print(f"  [ ]: {method['confidence']:.0%} percentile bootstrap over {method['n_units']} {units}, "
              f"{method['resamples']} resamples")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from csr_bench.interop.lmms_eval import write_lmms_eval_results

    print(write_lmms_eval_results(args.iteration_dir, args.output))
    return 0


def cmd_world(args: argparse.Namespace) -> int:
    from csr_bench.world.build import build_world, is_built, world_dir

    folder = world_dir(args.seed)
    if args.action == "build":
        build_world(args.seed, folder, force=args.force, train=args.train)
    elif not is_built(folder):
        raise CsrBenchError(f"the world of seed {args.seed} is not built yet (csr-bench world build); it goes to {folder}")
    print(folder)
    return 0
