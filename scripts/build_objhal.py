"""Build the objhal task's data from Object HalBench's item file and a COCO 2014 download.

    python scripts/build_objhal.py --objhal obj_halbench_300_with_image.jsonl --coco-dir COCO \
        --out DATA_ROOT/objhal [--link]

--objhal: RLHF-V's eval/data/obj_halbench_300_with_image.jsonl (github RLHF-V/RLHF-V or RLHF-V/RLAIF-V;
image_id, question, base64 image per line). --coco-dir: holds annotations/ (instances_ and captions_
val2014.json, and train2014's where present) and, for items without an embedded image, val2014/ or
train2014/. Writes OUT/objhal.jsonl, OUT/images/ and OUT/annotations/; see csr_bench/builders/objhal.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.objhal import build_objhal
from csr_bench.errors import CsrBenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_objhal", description=__doc__.splitlines()[0])
    parser.add_argument("--objhal", required=True, type=Path, help="Object HalBench's item file (.jsonl)")
    parser.add_argument("--coco-dir", required=True, type=Path, help="COCO 2014: annotations/ and image folders")
    parser.add_argument("--out", required=True, type=Path, help="output folder (DATA_ROOT/objhal for the objhal task)")
    parser.add_argument("--link", action="store_true", help="symlink COCO images instead of copying them")
    args = parser.parse_args(argv)
    try:
        counts = build_objhal(args.objhal, args.coco_dir, args.out, link=args.link)
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {counts['items']} items to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
