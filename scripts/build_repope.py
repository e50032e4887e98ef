"""Build the repope task's data: POPE-COCO with RePOPE's corrected labels, ambiguous questions removed.

    python scripts/build_repope.py --repope RePOPE/annotations --pope DATA_ROOT/pope --out DATA_ROOT/repope
    python scripts/build_repope.py --repope RePOPE/annotations --coco-images val2014 --out DATA_ROOT/repope [--link]

--repope: the folder holding RePOPE's coco_repope_{random,popular,adversarial}.json (github YanNeu/RePOPE,
annotations/). --pope: a POPE copy in the pope task's schema (lmms-lab/POPE parquet files, a save_to_disk
folder, or JSONL); or --coco-images: COCO val2014 images, building from RePOPE's files alone. Writes
OUT/repope.jsonl and OUT/images/ and prints, per split, the questions kept, the labels flipped yes->no and
no->yes, and the questions dropped; see csr_bench/builders/repope.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.repope import build_from_files, build_from_pope
from csr_bench.errors import CsrBenchError


def describe(counts: dict[str, dict[str, int]]) -> list[str]:
    lines = []
    for split, count in counts.items():
        if set(count) == {"kept"}:
            lines.append(f"{split}: {count['kept']} kept (no POPE labels beside RePOPE's to compare with)")
        else:
            lines.append(f"{split}: {count['kept']} kept, {count['yes_to_no']} yes->no, "
                         f"{count['no_to_yes']} no->yes, {count['dropped']} dropped")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_repope", description=__doc__.splitlines()[0])
    parser.add_argument("--repope", required=True, type=Path, help="RePOPE's annotations folder")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pope", type=Path, help="a POPE copy in the pope task's schema (file or folder)")
    source.add_argument("--coco-images", type=Path, help="COCO val2014 images (build from RePOPE's files alone)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (DATA_ROOT/repope for the repope task)")
    parser.add_argument("--link", action="store_true", help="symlink image files instead of copying them")
    args = parser.parse_args(argv)
    try:
        if args.pope is not None:
            counts = build_from_pope(args.repope, args.pope, args.out, link=args.link)
        else:
            counts = build_from_files(args.repope, args.coco_images, args.out, link=args.link)
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    for line in describe(counts):
        print(line)
    print(f"wrote {sum(c['kept'] for c in counts.values())} questions to {args.out / 'repope.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
