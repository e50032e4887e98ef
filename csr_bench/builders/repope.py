"""RePOPE (Neuhaus & Hein, 2025; github YanNeu/RePOPE): POPE-COCO with its labels corrected and its
ambiguous questions removed, written in the pope task's schema for the `repope` task.

RePOPE's files (``annotations/coco_repope_{random,popular,adversarial}.json``) are JSON lines in
POPE's own format: ``question_id`` (1-3000 within a split), ``image`` (``COCO_val2014_*.jpg``),
``text`` (the question) and ``label`` ("yes"/"no"). A corrected label is a changed ``label``; an
ambiguous question is one left out of the file (its evaluate.py scores exactly the items listed).
Two ways to build:

- ``relabel``: from a POPE copy in the pope task's schema (lmms-lab/POPE: parquet files, a
  save_to_disk folder or JSONL; ``category`` names the split, ``image_source`` the COCO file): each
  RePOPE item is matched to the POPE row of its split with the same image and question, its
  ``answer`` set to RePOPE's label; POPE rows that RePOPE does not list are dropped.
- ``from_files``: from RePOPE's files alone and a COCO val2014 image folder (they hold every field).

Details: docs/benchmarks.md, "RePOPE".
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from csr_bench.builders.output import place_image, write_jsonl
from csr_bench.builders.pope import SPLITS
from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_bytes, read_jsonl_objects

LABEL_FILE = "coco_{kind}_{split}.json"  # kind: repope (corrected) or pope (the original, shipped beside it)
LABEL_FIELDS = ("question_id", "image", "text", "label")


def _label_file(folder: Path, kind: str, split: str) -> Path | None:
    """RePOPE's ``coco_<kind>_<split>.json`` in ``folder`` or its ``annotations/`` (the repository root)."""
    for base in (folder, folder / "annotations"):
        path = base / LABEL_FILE.format(kind=kind, split=split)
        if path.is_file():
            return path
    return None


def read_label_file(path: Path) -> list[dict[str, Any]]:
    """The items of one RePOPE/POPE label file (JSON lines), each checked: one-line errors name file:line."""
    items, seen = [], set()
    for line, item in read_jsonl_objects(path, "RePOPE labels"):
        missing = [f for f in LABEL_FIELDS if f not in item]
        if missing:
            raise CsrBenchError(f"{path}:{line}: lacks {', '.join(missing)}")
        if item["label"] not in ("yes", "no"):
            raise CsrBenchError(f"{path}:{line}: label must be 'yes' or 'no', got {item['label']!r}")
        if item["question_id"] in seen:
            raise CsrBenchError(f"{path}:{line}: duplicate question_id {item['question_id']!r}")
        seen.add(item["question_id"])
        items.append(item)
    if not items:
        raise CsrBenchError(f"{path}: holds no items")
    return items


def read_labels(folder: Path, kind: str = "repope", required: bool = True) -> dict[str, list[dict[str, Any]]]:
    """split -> items of RePOPE's (``kind="repope"``) or POPE's (``"pope"``) label files in ``folder``."""
    folder = Path(folder)
    found = {split: _label_file(folder, kind, split) for split in SPLITS}
    missing = [LABEL_FILE.format(kind=kind, split=s) for s, p in found.items() if p is None]
    if missing and required:
        raise CsrBenchError(f"{folder}: no {', '.join(missing)} (RePOPE's annotations folder holds them)")
    return {split: read_label_file(path) for split, path in found.items() if path is not None}


def _key(image: Any, question: Any) -> tuple[str, str]:
    """An item's identity within a split: its COCO image (the number ending the file's stem, so
    "COCO_val2014_000000310196.jpg", "COCO_val2014_000000310196" and "310196" agree; else the stem)
    and its question, spaces normalised."""
    stem = Path(str(image)).stem
    number = re.search(r"(\d+)$", stem)
    return (str(int(number.group(1))) if number else stem), " ".join(str(question).split())


def _count(counts: Counter, old: str, new: str) -> None:
    counts["kept"] += 1
    if old == "yes" and new == "no":
        counts["yes_to_no"] += 1
    elif old == "no" and new == "yes":
        counts["no_to_yes"] += 1


def relabel(pope_rows: list[dict[str, Any]], repope: dict[str, list[dict[str, Any]]],
            where: str = "POPE copy") -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """The POPE rows RePOPE keeps, with its labels as ``answer`` (POPE's as ``pope_answer``), in the
    copy's order; and per split the counts kept, yes_to_no, no_to_yes and dropped."""
    index: dict[tuple[str, tuple[str, str]], int] = {}
    for position, row in enumerate(pope_rows):
        for field in ("category", "question", "answer", "image_source"):
            if field not in row:
                raise CsrBenchError(f"{where}: row {position} lacks '{field}' (the pope task's schema)")
        if row["category"] not in SPLITS:
            raise CsrBenchError(f"{where}: row {position} has category {row['category']!r}, not one of "
                                f"{', '.join(SPLITS)} (RePOPE relabels POPE-COCO only)")
        key = (row["category"], _key(row["image_source"], row["question"]))
        if key in index:
            raise CsrBenchError(f"{where}: rows {index[key]} and {position} ask the same question "
                                f"({key[1][1]!r} on {key[1][0]}, {key[0]})")
        index[key] = position
    corrected: dict[int, str] = {}
    for split, items in repope.items():
        for item in items:
            key = (split, _key(item["image"], item["text"]))
            if key not in index:
                raise CsrBenchError(f"RePOPE {split} question_id {item['question_id']} ({item['text']!r} on "
                                    f"{item['image']}) is not in the {where}")
            corrected[index[key]] = item["label"]
    counts = {split: Counter() for split in repope}
    rows = []
    for position, row in enumerate(pope_rows):
        split = row["category"]
        if split not in repope:
            raise CsrBenchError(f"{where}: has {split} rows but no RePOPE labels for {split} were given")
        if position not in corrected:
            counts[split]["dropped"] += 1
            continue
        old = str(row["answer"]).strip().lower()
        _count(counts[split], old, corrected[position])
        rows.append({**row, "answer": corrected[position], "pope_answer": old})
    return rows, {split: {k: counts[split][k] for k in ("kept", "yes_to_no", "no_to_yes", "dropped")}
                  for split in repope}


def read_pope_copy(path: Path) -> list[dict[str, Any]]:
    """The rows of a POPE copy in the pope task's schema, images left as the copy holds them (bytes
    or a path): a save_to_disk folder, a folder of parquet or JSONL files, or one such file."""
    path = Path(path)
    if not path.exists():
        raise CsrBenchError(f"POPE copy not found: {path}")
    try:
        if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
            import datasets

            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                loaded = loaded["test"] if "test" in loaded else next(iter(loaded.values()))
            if isinstance(loaded.features.get("image"), datasets.Image):
                loaded = loaded.cast_column("image", datasets.Image(decode=False))
            return loaded.to_list()
        files = [path] if path.is_file() else (sorted(path.rglob("*.parquet")) or sorted(path.rglob("*.jsonl")))
        if not files:
            raise CsrBenchError(f"{path}: holds no .parquet or .jsonl files (a POPE copy)")
        rows: list[dict[str, Any]] = []
        for file in files:
            if file.suffix == ".parquet":
                import pyarrow.parquet as pq

                rows += pq.read_table(file).to_pylist()
            elif file.suffix in (".jsonl", ".json"):
                rows += [record for _, record in read_jsonl_objects(file, "POPE rows")]
            else:
                raise CsrBenchError(f"{file}: unsupported file type (a POPE copy is .parquet or .jsonl)")
    except CsrBenchError:
        raise
    except Exception as exc:  # pyarrow / datasets raise many kinds
        raise CsrBenchError(f"{path}: cannot read the POPE copy ({type(exc).__name__}: "
                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    if not rows:
        raise CsrBenchError(f"{path}: the POPE copy holds no rows")
    return rows


def _write_image(value: Any, base: Path, out: Path, stem: str, link: bool, where: str) -> str:
    """Put a row's image under OUT/images/ and return its path relative to OUT."""
    if isinstance(value, dict) and value.get("bytes"):
        name = f"images/{stem}{Path(str(value.get('path') or '')).suffix or '.jpg'}"
        if not (out / name).exists():
            atomic_write_bytes(out / name, value["bytes"])
        return name
    raw = value.get("path") if isinstance(value, dict) else value
    if not raw:
        raise CsrBenchError(f"{where}: no image")
    source = Path(str(raw)) if Path(str(raw)).is_absolute() else base / str(raw)
    name = f"images/{source.name}"
    if not (out / name).exists():
        place_image(source, out / name, link=link)
    return name


def build_from_pope(repope_dir: Path, pope: Path, out: Path, *, link: bool = False) -> dict[str, dict[str, int]]:
    """OUT/repope.jsonl (+ OUT/images/) from a POPE copy relabelled by RePOPE's files; per-split counts."""
    repope = read_labels(repope_dir)
    pope, out = Path(pope), Path(out)
    rows, counts = relabel(read_pope_copy(pope), repope, where=f"POPE copy {pope}")
    base = pope if pope.is_dir() else pope.parent
    for row in rows:
        row["image"] = _write_image(row["image"], base, out, Path(str(row["image_source"])).stem, link,
                                    f"POPE copy {pope}: question_id {row.get('question_id')!r}")
    write_jsonl(out / "repope.jsonl", rows)
    return counts


def build_from_files(repope_dir: Path, coco_images: Path, out: Path, *, link: bool = False) -> dict[str, dict[str, int]]:
    """OUT/repope.jsonl + OUT/images/ from RePOPE's files and COCO val2014 images alone, rows in
    lmms-lab/POPE's split order with ids numbered across the splits (RePOPE's restart per split).
    The counts compare with POPE's labels where its coco_pope_*.json files lie beside RePOPE's."""
    repope = read_labels(repope_dir)
    original = read_labels(repope_dir, "pope", required=False)
    out, rows = Path(out), []
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        pope_label = {item["question_id"]: item["label"] for item in original.get(split, [])}
        tally: Counter = Counter()
        for item in repope[split]:
            if pope_label and item["question_id"] not in pope_label:
                raise CsrBenchError(f"RePOPE {split} question_id {item['question_id']} is not in "
                                    f"{LABEL_FILE.format(kind='pope', split=split)}")
            _count(tally, pope_label.get(item["question_id"], item["label"]), item["label"])
            file_name = Path(str(item["image"])).name
            if not (out / "images" / file_name).exists():
                place_image(Path(coco_images) / file_name, out / "images" / file_name, link=link)
            rows.append({"id": str(len(rows)), "question_id": len(rows) + 1, "question": item["text"],
                         "answer": item["label"], "image_source": Path(file_name).stem,
                         "image": f"images/{file_name}", "category": split,
                         "repope_question_id": item["question_id"],
                         **({"pope_answer": pope_label[item["question_id"]]} if pope_label else {})})
        tally["dropped"] = len(pope_label) - tally["kept"] if pope_label else 0
        counts[split] = {k: tally[k] for k in ("kept", "yes_to_no", "no_to_yes", "dropped")}
        if not pope_label:
            counts[split] = {"kept": tally["kept"]}
    write_jsonl(out / "repope.jsonl", rows)
    return counts
