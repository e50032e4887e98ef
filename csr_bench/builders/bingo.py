"""The bingo tasks' data from either of Bingo's two releases, in one layout:
OUT/bingo.jsonl (id, subset, subcategory, path, question, reference, image) and OUT/images/.

- GitHub (gzcch/Bingo @ 05e4a84, annotation.jsonl: 586 lines of ``path`` ("/t2i/cor/0.png"),
  ``question`` and ``"ground truth"``, the key with a space) with the images of the Google-Drive
  download its README links, laid out as the paths say (IMAGES/t2i/cor/0.png). The subset and
  subcategory come from the path as the official scorer takes them (``_, main_category, subcategory,
  _ = path.split('/')``). Lines without a ground truth (58: OCR 56, factual 2) are dropped, as the
  official scorer skips them; so are lines whose image is missing (it skips those too). Each is counted.
- Hub (PahaII/Bingo, the files HELM's bingo_scenario.py reads: T2I.json, I2I.json, OCR.json,
  Factual.json, Region.json with ``image_path``, ``question``, ``answer``, and images/<image_path>).
  The subset is the file's (written as the GitHub paths spell it: t2i, i2i, OCR, factual, Region); the
  subcategory is the image path's folder below it where it has one, else "all" (said in the counts).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from csr_bench.builders.output import place_image, write_jsonl
from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import read_jsonl_objects

# HELM's subjects (BingoScenario.SUBJECTS, the hub's file names) -> the GitHub paths' main_category
HUB_SUBSETS = {"T2I": "t2i", "I2I": "i2i", "OCR": "OCR", "Factual": "factual", "Region": "Region"}
NO_SUBCATEGORY = "all"
GROUND_TRUTH = ("ground truth", "ground_truth")  # GitHub's key; a parquet copy's spelling


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def github_rows(annotations: Path, images: Path, counts: Counter) -> list[dict[str, Any]]:
    """The rows of annotation.jsonl that the official scorer would score (a reference and an image)."""
    rows = []
    for line, item in read_jsonl_objects(Path(annotations), "Bingo annotations"):
        path = item.get("path")
        parts = path.split("/") if isinstance(path, str) else []
        if len(parts) != 4 or parts[0] or not all(parts[1:]):
            raise CsrBenchError(f"{annotations}:{line}: path must look like /main_category/subcategory/file, "
                                f"got {path!r}")
        _, subset, subcategory, _ = parts
        question = _text(item.get("question"))
        reference = next((_text(item.get(k)) for k in GROUND_TRUTH if _text(item.get(k))), None)
        if question is None or reference is None:
            counts[f"dropped (no {'question' if question is None else 'ground truth'}): {subset}/{subcategory}"] += 1
            continue
        source = Path(images) / path.lstrip("/")
        if not source.is_file():
            counts["dropped (image missing)"] += 1
            continue
        rows.append({"id": f"annotation.jsonl:{line}", "subset": subset, "subcategory": subcategory, "path": path,
                     "question": question, "reference": reference, "_source": source,
                     "image": "images" + path})
    return rows


def _hub_items(path: Path) -> list[tuple[int, dict]]:
    """(row number, item) of a hub file: a JSON list (or {"...": [...]}) or JSON Lines."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        return [(line, item) for line, item in read_jsonl_objects(path, "Bingo hub file")]
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise CsrBenchError(f"{path}: expected a JSON list of objects (image_path, question, answer)")
    return list(enumerate(data, start=1))


def _hub_subcategory(image_path: str, subset: str) -> str:
    folders = [p for p in PurePosixPath(image_path.lstrip("/")).parts[:-1]]
    if folders and folders[0] == "images":
        folders = folders[1:]
    if folders and folders[0].lower() == subset.lower():
        folders = folders[1:]
    return folders[0] if folders else NO_SUBCATEGORY


def hub_rows(hub: Path, counts: Counter) -> list[dict[str, Any]]:
    hub = Path(hub)
    files = [(hub / f"{name}.json", subset) for name, subset in HUB_SUBSETS.items() if (hub / f"{name}.json").is_file()]
    if not files:
        raise CsrBenchError(f"{hub}: none of {', '.join(n + '.json' for n in HUB_SUBSETS)} (a PahaII/Bingo snapshot)")
    rows = []
    for file, subset in files:
        for number, item in _hub_items(file):
            image_path = _text(item.get("image_path"))
            if image_path is None:
                raise CsrBenchError(f"{file}: item {number} has no image_path")
            question, reference = _text(item.get("question")), _text(item.get("answer"))
            subcategory = _hub_subcategory(image_path, subset)
            if question is None or reference is None:
                counts[f"dropped (no {'question' if question is None else 'answer'}): {subset}/{subcategory}"] += 1
                continue
            relative = image_path.lstrip("/")
            source = next((p for p in (hub / "images" / relative, hub / relative) if p.is_file()), None)
            if source is None:
                counts["dropped (image missing)"] += 1
                continue
            if subcategory == NO_SUBCATEGORY:
                counts[f"no subcategory in the image path: {subset}"] += 1
            rows.append({"id": f"{file.name}:{number}", "subset": subset, "subcategory": subcategory,
                         "path": image_path, "question": question, "reference": reference, "_source": source,
                         "image": "images/" + relative.removeprefix("images/")})
    return rows


def build_bingo(out: Path, *, github_annotations: Path | None = None, images: Path | None = None,
                hub: Path | None = None, link: bool = False) -> Counter:
    """Write OUT/bingo.jsonl and OUT/images/ from one source; returns the counts (rows per
    subset/subcategory, and each reason a row was dropped)."""
    if (github_annotations is None) == (hub is None):
        raise CsrBenchError("give either the GitHub annotations (with their images) or a hub snapshot")
    counts: Counter = Counter()
    if github_annotations is not None:
        if images is None:
            raise CsrBenchError("the GitHub annotations need --images (the folder holding t2i/, i2i/, OCR/, ...)")
        rows = github_rows(github_annotations, images, counts)
    else:
        rows = hub_rows(hub, counts)
    if not rows:
        raise CsrBenchError("no Bingo item has a reference and an image")
    out = Path(out)
    placed: set[str] = set()
    for row in rows:
        source = row.pop("_source")
        if row["image"] not in placed:
            place_image(source, out / row["image"], link=link)
            placed.add(row["image"])
        counts[f"{row['subset']}/{row['subcategory']}"] += 1
    write_jsonl(out / "bingo.jsonl", rows)
    counts["rows"] = len(rows)
    counts["images"] = len(placed)
    return counts


__all__ = ["HUB_SUBSETS", "build_bingo", "github_rows", "hub_rows"]
