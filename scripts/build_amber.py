"""Build the AMBER data folder from a clone of the AMBER repository and its images.

    python scripts/build_amber.py --amber-repo AMBER --images IMAGES --out DATA_ROOT/amber [--link]

AMBER is a clone of https://github.com/junyangwang0410/AMBER (data/annotations.json, relation.json,
safe_words.txt, query/query_all.json); IMAGES the folder of AMBER_*.jpg from the Google-Drive download
its README links. Writes OUT/amber.jsonl, OUT/images/ and OUT/annotations/; see csr_bench/builders/amber.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.amber import build_amber
from csr_bench.errors import CsrBenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_amber", description=__doc__.splitlines()[0])
    parser.add_argument("--amber-repo", required=True, type=Path, help="clone of junyangwang0410/AMBER (holds data/)")
    parser.add_argument("--images", required=True, type=Path, help="folder of AMBER_1.jpg ... AMBER_1004.jpg")
    parser.add_argument("--out", required=True, type=Path, help="output folder (DATA_ROOT/amber for the amber tasks)")
    parser.add_argument("--link", action="store_true", help="symlink the images instead of copying them")
    args = parser.parse_args(argv)
    try:
        counts = build_amber(args.amber_repo, args.images, args.out, link=args.link)
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {counts['queries']} queries on {counts['images']} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
