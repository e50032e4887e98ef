"""lmms-eval interop, one entry point: ``python -m csr_bench.interop.lmms_eval export|run|compare``.

- lmms_eval_export.py: our results.json in lmms-eval's results layout (both POPE scorings);
- lmms_eval_run.py: lmms-eval's own POPE on a csr-bench checkpoint, offline (needs the ``lmms`` extra);
- lmms_eval_compare.py: the two side by side.
No torch import here: only the lmms-eval run, a separate process, loads a model.
"""

from __future__ import annotations

import json
import sys

from csr_bench.errors import CsrBenchError
from csr_bench.interop.lmms_eval_compare import compare_pope, format_comparison
from csr_bench.interop.lmms_eval_export import (LMMS_EVAL_FILTER, OFFICIAL_FILTER, export_lmms_eval_results,
                                                lmms_eval_pope_metrics, metrics_of, sanitize_model_name,
                                                write_lmms_eval_results)
from csr_bench.interop.lmms_eval_run import (LOCAL_POPE_TASK, LmmsEvalRun, lmms_eval_command, run_lmms_eval,
                                             write_pope_task)

__all__ = [
    "LMMS_EVAL_FILTER", "LOCAL_POPE_TASK", "OFFICIAL_FILTER", "LmmsEvalRun", "compare_pope",
    "export_lmms_eval_results", "format_comparison", "lmms_eval_command", "lmms_eval_pope_metrics", "main",
    "metrics_of", "run_lmms_eval", "sanitize_model_name", "write_lmms_eval_results", "write_pope_task",
]


def main(argv: list[str] | None = None) -> int:
    """``python -m csr_bench.interop.lmms_eval export|run|compare ...`` (kept out of the csr-bench CLI,
    which must not depend on an optional extra)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m csr_bench.interop.lmms_eval",
                                     description="lmms-eval interop for csr-bench runs")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write an iteration's results.json in lmms-eval's layout")
    export.add_argument("iteration_dir")
    export.add_argument("--output", help="lmms-eval style output folder (default: ITERATION_DIR/lmms_eval)")
    run = sub.add_parser("run", help="run lmms-eval's own POPE on a checkpoint folder, offline")
    run.add_argument("checkpoint")
    run.add_argument("output")
    run.add_argument("--data", default="bundled", help="bundled, a POPE .jsonl/.json/.parquet, or a folder")
    run.add_argument("--limit", type=int)
    run.add_argument("--device", default="cpu")
    compare = sub.add_parser("compare", help="lmms-eval's POPE results next to an iteration's")
    compare.add_argument("iteration_dir")
    compare.add_argument("lmms_results", help="lmms-eval's <date>_results.json")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            print(write_lmms_eval_results(args.iteration_dir, args.output))
        elif args.command == "run":
            result = run_lmms_eval(args.checkpoint, args.output, data=args.data, limit=args.limit, device=args.device)
            print(json.dumps({"results": str(result.results_path), "metrics": result.metrics()}, indent=2))
        else:
            print(format_comparison(compare_pope(args.iteration_dir, args.lmms_results)))
    except CsrBenchError as exc:
        print(f"csr-bench: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
