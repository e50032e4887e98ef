"""``python -m csr_bench.interop.lmms_eval export|run|compare ...``: the lmms-eval interop's command line."""

from __future__ import annotations

import json
import sys

from csr_bench.errors import CsrBenchError
from csr_bench.interop.lmms_eval import compare_pope, format_comparison, run_lmms_eval, write_lmms_eval_results


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
