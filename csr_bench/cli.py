"""The ``csr-bench`` command.

Only argparse and light modules are imported at start-up: ``tasks``, ``models``, ``score``,
``table``, ``check``, ``plot``, ``report`` and ``--help`` never import torch or transformers; the
commands that run a model import them when they start.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from csr_bench import __version__
from csr_bench.errors import CsrBenchError

PROG = "csr-bench"


def _task_list(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of task names")
    return names


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _max_drop(value: str) -> tuple[str, float]:
    metric, sep, number = value.partition("=")
    try:
        allowed = float(number)
    except ValueError:
        allowed = -1.0
    if not sep or not metric or allowed < 0:
        raise argparse.ArgumentTypeError(f"expected METRIC=VALUE with VALUE >= 0, e.g. pope.*_f1=0.5 (got {value!r})")
    return metric, allowed


def _add_evaluation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=_positive, help="evaluate only N documents of each task: spread over "
                        "the task's strata (POPE's splits, MME's subtasks), else the first N; results say so")
    parser.add_argument("--batch-size", type=_positive,
                        help="generation batch size; predictions are the same for any value (default 8; 32 for "
                        "the world's tiny model)")
    parser.add_argument("--num-workers", type=int, default=1, metavar="N",
                        help="DataLoader processes decoding images ahead of the model (default 1; 0: none)")
    parser.add_argument("--output", default="results", help="output folder (default results/)")
    parser.add_argument("--run-name", help="run folder name under --output (default: from the model name)")
    parser.add_argument("--data-root", help="folder with local copies of the task data, or 'bundled' for the "
                        "small data shipped with csr-bench (default: the hub dataset; the world's own data for "
                        "world, bundled for tiny-llava)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", help="cuda, cuda:1, cpu, ... (default: cuda when available)")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"],
                        help="weights dtype (default: bf16/fp16 on GPU, fp32 on CPU)")
    parser.add_argument("--max-new-tokens", type=_positive,
                        help="override every task's generation length (smoke tests; not the official protocol)")
    parser.add_argument("--include-tasks", action="append", default=[], metavar="DIR",
                        help="also load task YAMLs from DIR (repeatable)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo instead of resuming: eval discards the iteration's results and samples, run "
                        "the whole run folder (the way to rerun with settings other than the finished work's)")
    _add_scoring_options(parser)
    _add_loading_options(parser)


def _add_loading_options(parser: argparse.ArgumentParser) -> None:
    """What may be loaded (csr_bench/safety.py; docs/safety-and-determinism.md)."""
    group = parser.add_argument_group("loading safety")
    group.add_argument("--allow-pickle", action="store_true",
                       help="also load weights stored as pickles (pytorch_model.bin, CLIP .pt/.bin/.pth), through "
                       "torch.load(weights_only=True); by default only .safetensors weights are read")
    group.add_argument("--trust-remote-code", action="store_true",
                       help="let transformers run Python code shipped with a checkpoint (config auto_map); "
                       "off by default")


def _add_csr_options(parser: argparse.ArgumentParser) -> None:
    """Flags of the alignment method (CSR); names match CsrConfig, SearchConfig and DpoLoraConfig fields."""
    group = parser.add_argument_group("alignment method (CSR)")
    group.add_argument("--method", default="csr", help="alignment method (default csr)")
    group.add_argument("--prompts", type=_positive, help="prompts per iteration (default: all; 512 for world)")
    group.add_argument("--prompt-source", help="image folder, or the reference's CSR-Prompt-Dataset JSON "
                       "(default: the world's training images for world, bundled images for tiny-llava)")
    group.add_argument("--prompt-images", help="image folder of --prompt-source JSON (e.g. COCO train2014)")
    group.add_argument("--prompt-seed", type=int, help="seed of the prompt sample (default 0)")
    group.add_argument("--calibration", choices=["reference", "paper"],
                       help="reward calibration: the reference code's rank-based one (default) or the paper's equation")
    group.add_argument("--lambda", dest="lam", type=float, help="weight of R_I (default 0.9; 0: only R_T, 1: only R_I)")
    group.add_argument("--clip-model", help="open_clip model for R_I (default: the VLM's tower, ViT-L-14-336-quickgelu)")
    group.add_argument("--clip-pretrained", help="open_clip weights name or local file (default openai)")
    group.add_argument("--num-beams", type=_positive, help="candidate sentences per step (default 5)")
    group.add_argument("--diversity-penalty", type=float, help="group beam search diversity penalty (default 3.0)")
    group.add_argument("--sentence-max-new-tokens", type=_positive, help="tokens per sentence (default 70)")
    group.add_argument("--max-sentences", type=_positive, help="cap on sentences per response (default: none)")
    group.add_argument("--keep-top", type=int, help="best unfinished sentences kept per step (default 1)")
    group.add_argument("--keep-bottom", type=int, help="worst unfinished sentences kept per step (default 2)")
    group.add_argument("--prompts-per-batch", type=_positive,
                       help="prompts searched together, and saved together for resume (default 8; 16 for world)")
    group.add_argument("--search-batch-tokens", dest="batch_tokens", type=_positive,
                       help="KV-cache positions per forward pass of the CSR search (beam rows x sequence length; "
                       "default 65536): lower it when the search runs out of GPU memory")
    group.add_argument("--search-image", dest="image", choices=["crop", "pad"],
                       help="the image the generator sees in the CSR search: the processor's centre crop, as the "
                       "reference (default crop), or LLaVA-1.5's pad to square, as evaluation and DPO (pad)")
    group.add_argument("--max-length", type=_positive,
                       help="characters (prompt + response) at which a response ends (default 1024)")
    group.add_argument("--beta", type=float, help="DPO beta (default 0.1)")
    group.add_argument("--loss-type", help="trl DPO loss, or several combined with equal weights (default sigmoid; "
                       "'sigmoid,sft' adds the NLL of the chosen responses, RPO)")
    group.add_argument("--learning-rate", type=float, help="DPO learning rate (default 1e-7; 1e-4 for world)")
    group.add_argument("--num-epochs", type=float, help="DPO epochs (default 1)")
    group.add_argument("--dpo-batch-size", type=_positive, help="DPO batch size per device (default 1)")
    group.add_argument("--gradient-accumulation-steps", type=_positive, metavar="N",
                       help="DPO gradient accumulation (default 1, as the reference); effective batch = "
                       "batch x N x processes; the reference's was its GPU count (4 in step1.sh)")
    group.add_argument("--merge-dtype", choices=["float32", "float16", "bfloat16"],
                       help="dtype of the saved merged model (default float32: keeps the whole LoRA update; "
                       "the merge itself is always fp32; model/merge_check.json says what each dtype keeps)")
    group.add_argument("--dpo-prompt", choices=["clean", "reference"],
                       help="DPO prompt: clean = the evaluation prompt (default); reference = the reference's, "
                       "system message twice and 'ASSISTANT: ASSISTANT:'")
    group.add_argument("--lora-r", type=_positive, help="LoRA rank (default 128; 16 for world)")
    group.add_argument("--lora-alpha", type=_positive, help="LoRA alpha (default 256; 32 for world)")
    group.add_argument("--lora-dropout", type=float, help="LoRA dropout (default 0.05)")
    group.add_argument("--lora-targets", type=_task_list, metavar="NAMES",
                       help="comma-separated module names for LoRA (default: every linear layer of the language model)")
    group.add_argument("--save-steps", type=_positive,
                       help="DPO checkpoint interval in optimizer steps, for resume after a crash (default 100)")


def _csr_config_from_args(args: argparse.Namespace):
    """The model's CSR defaults (``default_csr_config``) with every CSR flag given on top."""
    from csr_bench.csr.search import SearchConfig
    from csr_bench.csr.training import DpoLoraConfig
    from csr_bench.models.registry import DEFAULT_MODEL
    from csr_bench.run import default_csr_config

    values = vars(args).copy()
    values["batch_size"] = values.pop("dpo_batch_size", None)  # --batch-size is the evaluation's
    namespace = argparse.Namespace(**values)
    if namespace.num_beams is not None:  # one beam per group, as the reference, unless told otherwise
        namespace.num_beam_groups = namespace.num_beams
    base = default_csr_config(getattr(args, "model", None) or DEFAULT_MODEL)
    return replace(base, **_given(base, namespace), search=replace(base.search, **_given(SearchConfig, namespace)),
                   training=replace(base.training, **_given(DpoLoraConfig, namespace)))


def _add_scoring_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotations", metavar="DIR",
                        help="COCO-format instances_*.json and captions_*.json (CHAIR)")
    parser.add_argument("--judge-url", help="OpenAI-compatible judge endpoint (default $CSR_BENCH_JUDGE_URL); "
                        "the key is read from $CSR_BENCH_JUDGE_API_KEY only")
    parser.add_argument("--judge-model", help="judge model name (default $CSR_BENCH_JUDGE_MODEL)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Calibrated Self-Rewarding for vision-language models, scored on official protocols.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--quiet", action="store_true", help="log lines only, no progress bars")
    # --quiet is accepted after the command too; SUPPRESS keeps the top-level value when absent there.
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="log lines only, no progress bars")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser("run", parents=[quiet], help="the main job: evaluate, then CSR iterations, on one model",
                              description="Evaluate the model (iteration 0) and run CSR iterations. With no "
                              "--model it runs offline on the embedded world: its tiny VLM (built on first use), "
                              "its CLIP and the world benchmarks it does better than chance on "
                              "(docs/world-benchmarks.md).")
    run.add_argument("--model", default=None, help="model name or checkpoint folder (default: world)")
    run.add_argument("--iterations", type=int, default=None,
                     help="CSR iterations after iteration 0 (default 3; 0: evaluate only)")
    run.add_argument("--tasks", type=_task_list, default=None,
                     help="comma-separated tasks (default for the world: the world benchmarks its VLM is above "
                          "chance on, docs/world-benchmarks.md; else pope)")
    _add_evaluation_options(run)
    _add_csr_options(run)

    ev = commands.add_parser("eval", parents=[quiet], help="evaluate one model on some tasks (no training)",
                             description="Evaluate one model on tasks; rerun the same command to resume.")
    ev.add_argument("--model", required=True, help="model name (see `csr-bench models`) or checkpoint folder")
    ev.add_argument("--tasks", type=_task_list, required=True, help="comma-separated tasks, e.g. pope")
    _add_evaluation_options(ev)

    score = commands.add_parser(
        "score", parents=[quiet], help="re-score a predictions file without a model",
        description="Re-score a predictions JSONL (the task's fields plus 'prediction'; a samples.jsonl works).")
    score.add_argument("task", help="task name, e.g. pope")
    score.add_argument("predictions", help="predictions JSONL file")
    score.add_argument("--json", action="store_true", help='print {"task", "n", "metrics"} as one JSON object')
    score.add_argument("--include-tasks", action="append", default=[], metavar="DIR",
                       help="also load task YAMLs from DIR (repeatable)")
    _add_scoring_options(score)

    export = commands.add_parser(
        "export", parents=[quiet], help="write an iteration's results in another harness's layout",
        description="Write ITERATION_DIR/results.json in lmms-eval 0.7's results layout (docs/lmms-eval.md).")
    export.add_argument("iteration_dir", help="a run's iter_<k> folder")
    export.add_argument("--format", choices=["lmms-eval"], default="lmms-eval")
    export.add_argument("--output", help="lmms-eval style output folder (default: ITERATION_DIR/lmms_eval)")

    world = commands.add_parser("world", parents=[quiet], help="the embedded offline world (build, locate)",
                                description="Build the embedded world: its benchmarks, its tiny VLM and its CLIP, "
                                "cached under $CSR_BENCH_HOME (default ~/.cache/csr-bench).")
    world.add_argument("action", choices=["build", "path"], help="build it (once), or print where it is")
    world.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    world.add_argument("--force", action="store_true", help="rebuild even if already built")
    world.add_argument("--train", action="store_true",
                       help="train the VLM and CLIP here instead of copying the shipped checkpoints (seed 0)")

    table = commands.add_parser(
        "table", parents=[quiet], help="paper-style tables of runs (Table 1, iterations, lambda ablation)",
        description="Print Table 1 in the CSR paper's layout (one row per iteration of each run, baseline rows, "
        "best values marked, the paper's average score), the iteration table, and the lambda ablation when the "
        "runs differ only in lambda.")
    table.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (results/<run-name>)")
    table.add_argument("--format", choices=["markdown", "latex", "csv", "html"], default="markdown")
    table.add_argument("--baselines", type=_task_list, default=[], metavar="NAME[,NAME]",
                       help="published rows to add: names in results/baselines/ (llava15-7b, llava15-13b) or YAML paths")
    table.add_argument("--no-ci", action="store_true",
                       help="hide each cell's 95%% bootstrap interval (the † marks of significant change stay)")

    plot = commands.add_parser("plot", parents=[quiet], help="plots of a run (radar, metric curves, rewards)",
                               description="Write RUN_DIR/plots/: the radar chart of the benchmarks, metric curves "
                               "over iterations and the reward trend, as PNG and SVG.")
    plot.add_argument("run_dir", metavar="RUN_DIR")
    plot.add_argument("--output", help="folder for the plots (default RUN_DIR/plots)")

    report = commands.add_parser("report", parents=[quiet], help="one self-contained HTML page of a run",
                                 description="Write RUN_DIR/report.html: tables, plots and a sample browser "
                                 "(answers per iteration, CHAIR hallucinations highlighted, POPE mistakes, "
                                 "preference pairs). Static: no server, no network.")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--output", help="HTML file to write (default RUN_DIR/report.html)")
    report.add_argument("--max-samples", type=_positive, default=50, metavar="N",
                        help="documents per task and pairs per iteration shown (default 50)")

    check = commands.add_parser(
        "check", parents=[quiet], help="fail when a run's hallucination metrics are worse than a baseline",
        description="Compare a run's last (or --iteration) iteration with a baseline on POPE F1 and accuracy per "
        "split, CHAIR_S and CHAIR_I (and --metrics), recomputed from the per-sample records by the official rules, "
        "with bootstrap confidence intervals. Exit status 1 when a metric is worse than its allowed drop.")
    check.add_argument("run_dir", metavar="RUN_DIR", help="run folder, iteration folder or results.json")
    check.add_argument("--baseline", required=True, metavar="FILE",
                       help="baseline file (written by --update-baseline), or another run / iteration folder")
    check.add_argument("--iteration", type=int, help="iteration of RUN_DIR to check (default: the last)")
    check.add_argument("--max-drop", action="append", default=[], type=_max_drop, metavar="METRIC=VALUE",
                       help="allowed worsening in points (METRIC: task.metric, a glob such as 'pope.*', or 'all'; "
                       "default 0; repeatable, the last match wins)")
    check.add_argument("--metrics", type=_task_list, default=[], metavar="M[,M]",
                       help="more metrics to gate, e.g. chair.recall,pope.f1,seed.accuracy (globs allowed)")
    check.add_argument("--gate", choices=["point", "ci"], default="point",
                       help="point: fail on the point difference (default); ci: only when the whole confidence "
                       "interval is worse than the allowed drop")
    check.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap rounds (default 1000; 0: none)")
    check.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    check.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    check.add_argument("--allow-missing", action="store_true",
                       help="pass when a gated metric of the baseline is missing from the run (a task not "
                       "evaluated, a POPE split left out); by default that fails the gate")
    check.add_argument("--fail-on-change", action="store_true",
                       help="fail on any difference, better or worse (a CI that pins the numbers exactly)")
    check.add_argument("--update-baseline", action="store_true",
                       help="write RUN_DIR's iteration as the baseline FILE instead of checking (on purpose)")

    tasks = commands.add_parser("tasks", parents=[quiet], help="list registered tasks", description="List registered tasks.")
    tasks.add_argument("--include-tasks", action="append", default=[], metavar="DIR",
                       help="also load task YAMLs from DIR (repeatable)")
    commands.add_parser("models", parents=[quiet], help="list registered models",
                        description="List registered models.")
    return parser


def _given(config_class, args: argparse.Namespace) -> dict:
    """The flags that were given (not None) among ``config_class``'s fields of the same names."""
    from dataclasses import fields

    return {f.name: getattr(args, f.name) for f in fields(config_class) if getattr(args, f.name, None) is not None}


def _config_from_args(config_class, args: argparse.Namespace):
    """Build an EvalConfig/RunConfig from the parsed flags of the same names; unset flags keep
    the dataclass defaults (so `run` with no --model gets the embedded default)."""
    return config_class(**_given(config_class, args))


def _print_summary(results: dict) -> None:
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


def cmd_score(args: argparse.Namespace) -> int:
    import json

    from csr_bench.evaluation.rescore import rescore

    outcome = rescore(args.task, args.predictions, annotations=args.annotations, judge_url=args.judge_url,
                      judge_model=args.judge_model, include_tasks=args.include_tasks)
    if args.json:
        print(json.dumps(outcome))
        return 0
    print(f"{outcome['task']}  n={outcome['n']}")
    if "skipped" in outcome:
        print(f"  skipped: {outcome['skipped']}")
    width = max((len(k) for k in outcome["metrics"]), default=0)
    intervals = outcome.get("intervals", {})
    for key, value in outcome["metrics"].items():
        interval = f"  [{intervals[key][0]:.2f}, {intervals[key][1]:.2f}]" if key in intervals else ""
        print(f"  {key:<{width}}  {value:.2f}{interval}")
    if intervals:
        method = outcome["interval_method"]
        print(f"  [ ]: {method['confidence']:.0%} percentile bootstrap over {method['n_units']} {method['unit']}s, "
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


def cmd_tasks(args: argparse.Namespace) -> int:
    from csr_bench.tasks.registry import load_registry

    registry = load_registry(args.include_tasks)
    width = max(len(name) for name in registry)
    for name, task in sorted(registry.items()):
        print(f"{name:<{width}}  {task.description}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from csr_bench.models.registry import MODELS

    width = max(len(name) for name in MODELS)
    for name, spec in MODELS.items():
        print(f"{name:<{width}}  {spec.description}")
    print(f"{'DIR':<{width}}  any folder with a llava-hf format checkpoint (save_pretrained, safetensors)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from csr_bench.evaluation import EvalConfig, evaluate

    from csr_bench.distributed import is_main, shutdown

    results = evaluate(_config_from_args(EvalConfig, args))
    if is_main():  # one summary for a data-parallel run
        _print_summary(results)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from csr_bench.run import RunConfig, run

    config = _config_from_args(RunConfig, args)
    if config.iterations and config.method == "csr":
        config.method_config = _csr_config_from_args(args)
    from csr_bench.distributed import is_main, shutdown

    outcome = run(config)
    if not is_main():  # one summary for a data-parallel run
        return 0
    for results in outcome["iterations"]:
        _print_summary(results)
    print(f"\n{outcome['iteration_table']}")
    written = [*outcome["tables"].values(), *outcome.get("plots", []), outcome.get("report"),
               *outcome.get("training_logs", [])]
    print("written:\n" + "\n".join(f"  {path}" for path in written if path))
    if outcome.get("significance"):  # last, for a script to read: base -> last iteration, Δ, paired interval
        print("\n" + "\n".join(outcome["significance"]))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from csr_bench.reporting.tables import render_run_tables

    print(render_run_tables(args.run_dirs, args.format, args.baselines, ci=not args.no_ci), end="")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from csr_bench.reporting.plots import write_plots

    for path in write_plots(args.run_dir, args.output):
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from csr_bench.reporting.html_report import write_report

    print(write_report(args.run_dir, args.output, max_samples=args.max_samples))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from csr_bench.reporting import regression_check as check

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


COMMANDS = {"run": cmd_run, "eval": cmd_eval, "score": cmd_score, "export": cmd_export, "world": cmd_world,
            "tasks": cmd_tasks, "models": cmd_models, "table": cmd_table, "plot": cmd_plot, "report": cmd_report,
            "check": cmd_check}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from csr_bench.progress import set_quiet

    from csr_bench.distributed import is_main, shutdown

    set_quiet(args.quiet or not is_main())  # in a data-parallel run the main process reports for all
    logging.basicConfig(level=logging.INFO if is_main() else logging.WARNING, format=f"{PROG}: %(message)s", stream=sys.stderr)
    from csr_bench.redaction import install_log_redaction, redact_text
    from csr_bench.safety import set_loading_policy

    install_log_redaction()  # no judge key or hub token in a log line, whoever logs it
    set_loading_policy(allow_pickle=getattr(args, "allow_pickle", False),
                       trust_remote_code=getattr(args, "trust_remote_code", False))
    try:
        return COMMANDS[args.command](args)
    except CsrBenchError as exc:
        print(f"{PROG}: error: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk outside csr_bench.io (a checkpoint, a plot): one line, not a traceback
        from csr_bench.disk_errors import one_line

        message = one_line(exc)
        if message is None:
            raise
        print(f"{PROG}: error: {redact_text(message)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished samples are saved, rerun the same command to resume",
              file=sys.stderr)
        return 130
    finally:
        shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
