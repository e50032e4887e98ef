"""Build Unicorn's local layout under a data root (the unicorn_* tasks read it with --data-root).

    python scripts/build_unicorn.py --helm PahaII_unicorn_snapshot --out DATA_ROOT
    python scripts/build_unicorn.py --misleading DATA_ROOT/redteaming/misleading_attack --out DATA_ROOT \\
        [--attack mixattack_eps64 ...]

The release zip (PahaII/vllm_safety_evaluation) unpacked under DATA_ROOT already has the OODCV and
Sketchy layout; --helm converts HELM's copy PahaII/unicorn (pin revision 9b39693c626babb0089e2ea3e830ae21acc05198)
instead. --misleading writes the misleading attack's documents (four description prompts per shipped
adversarial image, with annotation.json's objects); see csr_bench/builders/unicorn.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.unicorn import build_from_helm, build_misleading
from csr_bench.errors import CsrBenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_unicorn", description=__doc__.splitlines()[0])
    parser.add_argument("--helm", type=Path, help="a PahaII/unicorn snapshot (the four JSON files and images/)")
    parser.add_argument("--misleading", type=Path,
                        help="the release's redteaming/misleading_attack folder (annotation.json, <attack>/<n>.png)")
    parser.add_argument("--attack", action="append", help="an attack folder to include (default: all)")
    parser.add_argument("--out", required=True, type=Path, help="the data root")
    args = parser.parse_args(argv)
    if not args.helm and not args.misleading:
        parser.error("give --helm and/or --misleading")
    try:
        if args.helm:
            counts = build_from_helm(args.helm, args.out)
            print("wrote " + ", ".join(f"{name}: {n} questions" for name, n in counts.items()) + f" under {args.out}")
        if args.misleading:
            counts = build_misleading(args.misleading, args.out, args.attack)
            print(f"wrote {counts['documents']} documents on {counts['images']} adversarial images under {args.out}")
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
