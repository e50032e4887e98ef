"""Build POPE questions (random / popular / adversarial splits) from a COCO-format instances file.

    python scripts/build_pope.py --instances annotations/instances_val2014.json --images val2014 \
        --out DATA_ROOT/pope [--images-per-split 500] [--seed 0] [--link]

Writes OUT/pope.jsonl (lmms-lab/POPE schema) and OUT/images/; see csr_bench/builders/pope.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.pope import build_pope
from csr_bench.errors import CsrBenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_pope", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", required=True, type=Path, help="COCO-format instances_*.json")
    parser.add_argument("--images", required=True, type=Path, help="folder holding the images' file_name")
    parser.add_argument("--out", required=True, type=Path, help="output folder (DATA_ROOT/pope for the pope task)")
    parser.add_argument("--images-per-split", type=int, default=500,
                        help="images drawn; the same images serve every split (POPE: 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--link", action="store_true", help="symlink the images instead of copying them")
    args = parser.parse_args(argv)
    try:
        counts = build_pope(args.instances, args.images, args.out, images_per_split=args.images_per_split,
                            seed=args.seed, link=args.link)
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {counts['questions']} questions on {counts['images']} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
