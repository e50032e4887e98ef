#!/usr/bin/env python
"""The measurement behind the world's default task set (docs/world-benchmarks.md).

    csr-bench eval --model world --tasks pope,chair,mme,seed,mmbench,scienceqa,vizwiz,gqa --output OUT
    scripts/world_benchmarks.py OUT/world/iter_0 [--data-root world]

prints, per Table 1 column, the world VLM's value, its 95% bootstrap interval (results.json), the
task's chance level from its scoring rule and the world data (csr_bench.world.chance) and the
verdict: above chance when the interval's lower bound is above it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from csr_bench.world.chance import measurement, measurement_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("iteration", type=Path, help="an iteration folder holding results.json")
    parser.add_argument("--data-root", default="world", help="the data the results were evaluated on (default: world)")
    args = parser.parse_args()
    results = json.loads((args.iteration / "results.json").read_text(encoding="utf-8"))["results"]
    print(measurement_table(measurement(results, args.data_root)), end="")


if __name__ == "__main__":
    main()
