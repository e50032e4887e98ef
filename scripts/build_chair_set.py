"""Build the CHAIR image set: N COCO val2014 images drawn by seed, with their annotations.

    python scripts/build_chair_set.py --coco-dir COCO --out DATA_ROOT/chair [--n 500] [--seed 0] [--link]

COCO holds annotations/instances_val2014.json, annotations/captions_val2014.json and val2014/.
Writes OUT/chair.jsonl, OUT/images/ and OUT/annotations/; see csr_bench/builders/chair_set.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.chair_set import build_chair_set
from csr_bench.errors import CsrBenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_chair_set", description=__doc__.splitlines()[0])
    parser.add_argument("--coco-dir", required=True, type=Path, help="COCO folder (annotations/, val2014/)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (DATA_ROOT/chair for the chair task)")
    parser.add_argument("--n", type=int, default=500, help="number of images (paper setting: 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--link", action="store_true", help="symlink the images instead of copying them")
    args = parser.parse_args(argv)
    try:
        counts = build_chair_set(args.coco_dir, args.out, n=args.n, seed=args.seed, link=args.link)
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {counts['images']} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
