"""The AMBER data folder from a clone of the AMBER repository and its image download: one row per
query of data/query/query_all.json (id, image, query, and the type, part and dimension of its
annotation), the images, and AMBER's three annotation files unchanged. Details (input, output):
docs/benchmarks.md, "csr_bench/builders/amber.py".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from csr_bench.builders.output import place_image, write_jsonl
from csr_bench.errors import CsrBenchError
from csr_bench.scorers.amber import FILES, GROUP_OF_TYPE, dimension_of, part_of

QUERIES = "data/query/query_all.json"


def _load(path: Path) -> object:
    if not path.is_file():
        raise CsrBenchError(f"amber: {path} not found (is --amber-repo a clone of junyangwang0410/AMBER?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CsrBenchError(f"amber: {path} is not JSON ({exc})") from None


def build_amber(amber_repo: Path, images: Path, out: Path, *, link: bool = False) -> dict[str, int]:
    """Write OUT/amber.jsonl, OUT/images/ and OUT/annotations/; returns the number of queries and images."""
    amber_repo, images, out = Path(amber_repo), Path(images), Path(out)
    queries = _load(amber_repo / QUERIES)
    annotations = _load(amber_repo / "data" / "annotations.json")
    for name in FILES[1:]:
        if not (amber_repo / "data" / name).is_file():
            raise CsrBenchError(f"amber: {amber_repo / 'data' / name} not found (is --amber-repo a clone of "
                                "junyangwang0410/AMBER?)")
    if not isinstance(queries, list) or not isinstance(annotations, list):
        raise CsrBenchError(f"amber: {QUERIES} and data/annotations.json must be JSON lists")
    if not images.is_dir():
        raise CsrBenchError(f"amber: image folder not found: {images} (AMBER's download, AMBER_*.jpg)")
    kinds = {entry.get("id"): entry.get("type") for entry in annotations if isinstance(entry, dict)}
    rows, placed = [], set()
    for number, query in enumerate(queries, 1):
        if not isinstance(query, dict) or not {"id", "image", "query"} <= set(query):
            raise CsrBenchError(f"amber: {QUERIES}: entry {number} lacks id, image or query")
        kind = kinds.get(query["id"])
        if kind is None:
            raise CsrBenchError(f"amber: query id {query['id']} is not in data/annotations.json")
        if kind not in GROUP_OF_TYPE:
            raise CsrBenchError(f"amber: annotation id {query['id']} has unknown type {kind!r}")
        file_name = str(query["image"])
        if file_name not in placed:
            if not (images / file_name).is_file():
                raise CsrBenchError(f"amber: image {file_name} (query id {query['id']}) not found in {images}")
            place_image(images / file_name, out / "images" / file_name, link=link)
            placed.add(file_name)
        rows.append({"id": query["id"], "image": f"images/{file_name}", "query": query["query"], "type": kind,
                     "part": part_of(kind), "dimension": dimension_of(kind)})
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for name in FILES:  # unchanged, as the scorer reads them
        shutil.copyfile(amber_repo / "data" / name, out / "annotations" / name)
    write_jsonl(out / "amber.jsonl", rows)
    return {"queries": len(rows), "images": len(placed)}
