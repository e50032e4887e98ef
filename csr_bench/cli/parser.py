"""The ``csr-bench`` argument parser. Light: building it imports no torch or transformers; a
method's flags are made from its Config dataclass (cli/config_flags.py)."""

from __future__ import annotations

import argparse
import sys

from csr_bench import __version__
from csr_bench.cli.config_flags import add_config_flags, at_least, comma_list
from csr_bench.cli.preference_commands import add_inject_parser
from csr_bench.cli.reward_commands import add_grade_reward_parser

PROG = "csr-bench"
task_list = comma_list("task names")
positive = at_least(1)


def max_drop(value: str) -> tuple[str, float]:
    metric, sep, number = value.partition("=")
    try:
        allowed = float(number)
    except ValueError:
        allowed = -1.0
    if not sep or not metric or allowed < 0:
        raise argparse.ArgumentTypeError(f"expected METRIC=VALUE with VALUE >= 0, e.g. pope.*_f1=0.5 (got {value!r})")
    return metric, allowed


def add_evaluation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=positive, help="evaluate only N documents of each task: spread over "
                        "the task's strata (POPE's splits, MME's subtasks), else the first N; results say so")
    parser.add_argument("--batch-size", type=positive,
                        help="generation batch size; predictions are the same for any value (default 8; 32 for "
                        "the world's tiny model)")
    parser.add_argument("--num-workers", type=int, default=1, metavar="N",
                        help="DataLoader processes decoding images ahead of the model (default 1; 0: none)")
    parser.add_argument("--output", default="results", help="output folder (default results/)")
    parser.add_argument("--run-name", help="run folder name under --output (default: from the model name; <model>-<method> for a "
                        "method other than CSR, e.g. world-dpo)")
    parser.add_argument("--data-root", help="folder with local copies of the task data, or 'bundled' for the "
                        "small data shipped with csr-bench (default: the hub dataset; the world's own data for "
                        "world, bundled for tiny-llava)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", help="cuda, cuda:1, cpu, ... (default: cuda when available)")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"],
                        help="weights dtype (default: bf16/fp16 on GPU, fp32 on CPU)")
    parser.add_argument("--max-new-tokens", type=positive,
                        help="override every task's generation length (smoke tests; not the official protocol)")
    parser.add_argument("--include-tasks", action="append", default=[], metavar="DIR",
                        help="also load task YAMLs from DIR (repeatable)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo instead of resuming: eval discards the iteration's results and samples, run "
                        "the whole run folder (the way to rerun with settings other than the finished work's)")
    add_scoring_options(parser)
    add_loading_options(parser)
    add_lmms_options(parser)


def add_lmms_options(parser: argparse.ArgumentParser) -> None:
    """The lmms-eval bridge's (--tasks lmms:<task>; docs/lmms-eval.md, "The bridge")."""
    group = parser.add_argument_group("lmms-eval tasks (--tasks lmms:<task>, scored by lmms-eval's rule)")
    group.add_argument("--lmms-python", metavar="PATH",
                       help="the Python interpreter with lmms-eval that runs lmms: tasks (default $CSR_BENCH_LMMS_PYTHON, "
                       "else this one if it has lmms_eval, else the checkout's .venv-lmms/bin/python)")
    group.add_argument("--lmms-include", metavar="DIR",
                       help="a folder of your own lmms-eval task YAMLs for lmms: tasks (lmms-eval's --include_path)")


def add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="import the scorer code that a run's results.json names in a task folder (a benchmark "
                        "added with --include-tasks), for its metric directions and intervals; off by default: "
                        "a run folder from elsewhere may name any file")


def add_loading_options(parser: argparse.ArgumentParser) -> None:
    """What may be loaded (csr_bench/safety.py; docs/safety-and-determinism.md)."""
    group = parser.add_argument_group("loading safety")
    group.add_argument("--allow-pickle", action="store_true",
                       help="also load weights stored as pickles (pytorch_model.bin, CLIP .pt/.bin/.pth), through "
                       "torch.load(weights_only=True); by default only .safetensors weights are read")
    group.add_argument("--trust-remote-code", action="store_true",
                       help="let transformers run Python code shipped with a checkpoint (config auto_map); "
                       "off by default")


def method_named(argv: list[str]) -> str:
    """The --method of a command line (the default when absent): it decides which flags ``run`` has."""
    from csr_bench.methods.registry import DEFAULT_METHOD

    for i, arg in enumerate(argv):
        if arg == "--method" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--method="):
            return arg.partition("=")[2]
    return DEFAULT_METHOD


def add_method_options(parser: argparse.ArgumentParser, method: str) -> None:
    """--method, and the flags of that method's Config (its fields; each help names the default and
    the registered models' presets)."""
    from csr_bench.methods.registry import DEFAULT_METHOD, known_methods, method_class
    from csr_bench.models.registry import MODELS

    config_class = method_class(method).config_class  # an unknown or broken method: one line, naming the known
    group = parser.add_argument_group(f"alignment method ({method}); `run --method NAME --help` lists another's flags")
    group.add_argument("--method", default=DEFAULT_METHOD,
                       help=f"alignment method: {', '.join(sorted(known_methods()))} (default {DEFAULT_METHOD})")
    presets = {name: spec.method_presets[method] for name, spec in MODELS.items() if method in spec.method_presets}
    add_config_flags(group, config_class, presets)


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotations", metavar="DIR",
                        help="COCO-format instances_*.json and captions_*.json (CHAIR)")
    parser.add_argument("--judge-url", help="OpenAI-compatible judge endpoint (default $CSR_BENCH_JUDGE_URL); "
                        "the key is read from $CSR_BENCH_JUDGE_API_KEY only")
    parser.add_argument("--judge-model", help="judge model name (default $CSR_BENCH_JUDGE_MODEL)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """``argv``: the command line to be parsed (default sys.argv), for the method whose flags ``run`` takes."""
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

    run = commands.add_parser("run", parents=[quiet], help="the main job: evaluate, then alignment iterations (CSR by default), on one model",
                              description="Evaluate the model (iteration 0) and run alignment iterations (--method, CSR by default). With no "
                              "--model it runs offline on the embedded world: its tiny VLM (built on first use), "
                              "its CLIP and the world benchmarks it does better than chance on "
                              "(docs/world-benchmarks.md).")
    run.add_argument("--model", default=None, help="model name or checkpoint folder (default: world)")
    run.add_argument("--iterations", type=int, default=None,
                     help="alignment iterations after iteration 0 (default: the method's own, 3 for CSR as in the paper, 1 for "
                          "methods that train once on a fixed set; 0: evaluate only)")
    run.add_argument("--tasks", type=task_list, default=None,
                     help="comma-separated tasks (default for the world: the world benchmarks its VLM is above "
                          "chance on, docs/world-benchmarks.md; else pope); lmms:NAME runs lmms-eval's task NAME, scored "
                          "by its rule")
    add_evaluation_options(run)
    add_method_options(run, method_named(sys.argv[1:] if argv is None else argv))

    ev = commands.add_parser("eval", parents=[quiet], help="evaluate one model on some tasks (no training)",
                             description="Evaluate one model on tasks; rerun the same command to resume.")
    ev.add_argument("--model", required=True, help="model name (see `csr-bench models`) or checkpoint folder")
    ev.add_argument("--tasks", type=task_list, required=True,
                    help="comma-separated tasks, e.g. pope; lmms:NAME runs lmms-eval's task NAME, scored by its rule")
    add_evaluation_options(ev)

    score = commands.add_parser(
        "score", parents=[quiet], help="re-score a predictions file without a model",
        description="Re-score a predictions JSONL (the task's fields plus 'prediction'; a samples.jsonl works).")
    score.add_argument("task", help="task name, e.g. pope")
    score.add_argument("predictions", help="predictions JSONL file")
    score.add_argument("--json", action="store_true", help='print {"task", "n", "metrics"} as one JSON object')
    score.add_argument("--include-tasks", action="append", default=[], metavar="DIR",
                       help="also load task YAMLs from DIR (repeatable)")
    score.add_argument("--data-root", help="the task's data, for the document images a vision judge looks at (Bingo)")
    add_scoring_options(score)

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
        "table", parents=[quiet], help="paper-style tables of runs (Table 1, other benchmarks, iterations, lambda ablation)",
        description="Print Table 1 in the CSR paper's layout (one row per iteration of each run, baseline rows, "
        "best values marked, the paper's average score), the other benchmarks' headline metrics, the iteration "
        "table, and the lambda ablation when the runs differ only in lambda.")
    table.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (results/<run-name>)")
    table.add_argument("--format", choices=["markdown", "latex", "csv", "html"], default="markdown")
    table.add_argument("--baselines", type=task_list, default=[], metavar="NAME[,NAME]",
                       help="published rows to add: names in results/baselines/ (llava15-7b, llava15-13b) or YAML paths")
    table.add_argument("--no-ci", action="store_true",
                       help="hide each cell's 95%% bootstrap interval (the † marks of significant change stay)")
    table.add_argument("--by-aspect", action="store_true",
                       help="instead, one row per aspect (the tasks' aspects: tags): VHELM's mean win rate of the "
                       "runs (or of one run's iterations), or, for a single column, the mean normalised main metric")

    compare = commands.add_parser(
        "compare", parents=[quiet], help="the methods table: runs of several methods side by side (paper Table 1)",
        description="One row per method run at its final iteration, after the base row they all started from (the "
        "first run's iteration 0), in the CSR paper's Table 1 layout: intervals, † where the paired difference from "
        "the base row excludes 0, the paper's average score and the pair accuracy of the final iteration's pairs. "
        "CSR runs that differ from the first CSR run only in lambda are its ablation rows.")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                         help="finished run folders started from one base model; the first gives the base row")
    compare.add_argument("--baseline", action="append", type=task_list, default=[], metavar="NAME",
                         help="published rows to add, marked as such (repeatable or comma-separated): names in "
                         "results/baselines/ (llava15-7b, llava15-13b) or YAML paths")
    compare.add_argument("--format", choices=["markdown", "latex", "csv", "html"], default="markdown")
    compare.add_argument("--no-ci", action="store_true",
                         help="hide each cell's interval (the † marks of significant change stay)")

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
    report.add_argument("--max-samples", type=positive, default=50, metavar="N",
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
    check.add_argument("--max-drop", action="append", default=[], type=max_drop, metavar="METRIC=VALUE",
                       help="allowed worsening in points (METRIC: task.metric, a glob such as 'pope.*', or 'all'; "
                       "default 0; repeatable, the last match wins)")
    check.add_argument("--metrics", type=task_list, default=[], metavar="M[,M]",
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

    add_inject_parser(commands, [quiet])
    add_grade_reward_parser(commands, [quiet])

    tasks = commands.add_parser("tasks", parents=[quiet], help="list registered tasks", description="List registered tasks.")
    tasks.add_argument("--include-tasks", action="append", default=[], metavar="DIR",
                       help="also load task YAMLs from DIR (repeatable)")
    commands.add_parser("models", parents=[quiet], help="list registered models",
                        description="List registered models.")
    for reader in (table, compare, plot, report, check):
        add_trust_option(reader)
    return parser
