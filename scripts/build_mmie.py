"""Build the MMIE data folder from a local copy of its gated release.

    python scripts/build_mmie.py --source MMIE/data.json --out DATA_ROOT/mmie [--images-root DIR]

SOURCE is a JSON list of items in the README's evaluation format (Lillianwei-h/MMIE, "Dataset
Preparation") or the hub's rows (MMIE/MMIE, ``conversations``), with the image paths relative to
--images-root (default: SOURCE's folder, where the hub's images.tar.gz unpacks). Writes OUT/mmie.jsonl
and OUT/images/ (each item's question images side by side) and prints the items kept and dropped
(more than 4 images, as MMIE's dataset.py) per category; see csr_bench/builders/mmie.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csr_bench.builders.mmie import build_mmie
from csr_bench.errors import CsrBenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_mmie", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, type=Path, help="the release's JSON list of items")
    parser.add_argument("--out", required=True, type=Path, help="output folder (DATA_ROOT/mmie for the mmie task)")
    parser.add_argument("--images-root", type=Path, default=None,
                        help="the folder image paths are relative to (default: the source's folder)")
    args = parser.parse_args(argv)
    try:
        counts = build_mmie(args.source, args.out, args.images_root)
    except CsrBenchError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    kept, dropped = counts["kept"], counts["dropped_over_4_images"]
    print(f"wrote {sum(kept.values())} items to {args.out} ("
          + ", ".join(f"{c} {n}" for c, n in kept.items()) + "); dropped with more than 4 images: "
          + ", ".join(f"{c} {n}" for c, n in dropped.items())
          + f"; image files not found (left out, as dataset.py does): {counts['image_files_missing']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
