"""Build the Bingo data folder (tasks bingo and bingo_rules) from either release.

    python scripts/build_bingo.py --github-annotations annotation.jsonl --images IMAGES --out DATA_ROOT/bingo [--link]
    python scripts/build_bingo.py --hub PAHAII_BINGO --out DATA_ROOT/bingo [--link]

annotation.jsonl is gzcch/Bingo's (https://github.com/gzcch/Bingo, @ 05e4a84), IMAGES the folder of
the Google-Drive download its README links, holding the paths the file names (t2i/cor/0.png, ...).
PAHAII_BINGO is a snapshot of the hub dataset HELM reads (huggingface-cli download PahaII/Bingo
--repo-type dataset --revision 861d687 --local-dir PAHAII_BINGO): T2I.json, I2I.json, OCR.json,
Factual.json, Region.json and images/. Writes OUT/bingo.jsonl and OUT/images/; prints the items per
subset/subcategory and the items dropped, and why (see csr_bench/builders/bingo.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.bingo import build_bingo
from csr_bench.errors import CsrBenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_bingo", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--github-annotations", type=Path, help="gzcch/Bingo's annotation.jsonl")
    source.add_argument("--hub", type=Path, help="a snapshot folder of PahaII/Bingo (the five JSON files + images/)")
    parser.add_argument("--images", type=Path, help="with --github-annotations: the folder holding t2i/, i2i/, OCR/, ...")
    parser.add_argument("--out", required=True, type=Path, help="output folder (DATA_ROOT/bingo for the bingo tasks)")
    parser.add_argument("--link", action="store_true", help="symlink the images instead of copying them")
    args = parser.parse_args(argv)
    try:
        counts = build_bingo(args.out, github_annotations=args.github_annotations, images=args.images,
                             hub=args.hub, link=args.link)
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    for key in sorted(k for k in counts if k not in ("rows", "images")):
        print(f"{counts[key]:5d}  {key}")
    print(f"wrote {counts['rows']} items on {counts['images']} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
