"""Build a CARES data folder from a clone of the CARES repository and the set's images.

    python scripts/build_cares.py --cares-repo CARES --set iuxray --images IMAGES --out DATA_ROOT/cares [--link]

CARES is a clone of https://github.com/richard-peng-xia/CARES (data/<set>/<file>.jsonl); IMAGES the folder
the file's image paths are relative to, obtained from the set's owner (OL3I and Harvard-FairVLMed only after
an access application; never downloaded here). Sets: iuxray, ham10000, ol3i, fundus. Writes
OUT/<set>/<set>.jsonl and OUT/<set>/images/, which the cares_* tasks read under --data-root (see
csr_bench/builders/cares.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.cares import build_cares
from csr_bench.errors import CsrBenchError
from csr_bench.scorers.cares import SCHEMAS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_cares", description=__doc__.splitlines()[0])
    parser.add_argument("--cares-repo", required=True, type=Path, help="clone of richard-peng-xia/CARES (holds data/)")
    parser.add_argument("--set", required=True, choices=sorted(SCHEMAS), dest="dataset", help="which shipped file")
    parser.add_argument("--images", required=True, type=Path,
                        help="folder holding the images under the paths the file names")
    parser.add_argument("--out", required=True, type=Path, help="output folder (DATA_ROOT/cares for the cares tasks)")
    parser.add_argument("--link", action="store_true", help="symlink the images instead of copying them")
    args = parser.parse_args(argv)
    try:
        counts = build_cares(args.cares_repo, args.dataset, args.images, args.out, link=args.link)
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {counts['rows']} rows on {counts['images']} images to {args.out / args.dataset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
