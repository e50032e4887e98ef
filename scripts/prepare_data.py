"""Download the benchmarks from the Hugging Face hub into a local data root (needs the network).

    python scripts/prepare_data.py --data-root data/ [--tasks pope,mme,...]
    csr-bench eval --model llava15 --tasks pope --data-root data/     # later, offline

Each task is saved with `save_to_disk` where its YAML's `local` path says; row counts are
checked against the published sizes (exit status 1 on a mismatch). CHAIR is built from COCO
instead: see scripts/build_chair_set.py. MJ-Bench's reward-pair tasks are saved only when named in
--tasks: their hub set is gated and its name now holds a newer version (docs/benchmarks.md, "MJ-Bench").
"""

import argparse
import sys

from csr_bench.errors import CsrBenchError
from csr_bench.tasks.prepare import prepare_task
from csr_bench.tasks.registry import get_tasks, load_registry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--tasks", help="comma-separated (default: every task with a hub dataset)")
    args = parser.parse_args()
    try:
        tasks = (get_tasks(args.tasks, kind=None) if args.tasks
                 else [t for t in load_registry().values() if t.dataset.hub is not None and t.kind == "generate"])
        failed = 0
        for task in tasks:
            report = prepare_task(task, args.data_root)
            expected = f" (expected {report['expected']})" if report["expected"] is not None else ""
            print(f"{'ok  ' if report['ok'] else 'BAD '} {task.name}: {report['rows']} rows{expected} -> {report['path']}")
            failed += not report["ok"]
        return 1 if failed else 0
    except CsrBenchError as exc:
        print(f"prepare_data: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
