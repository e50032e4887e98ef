"""The objhal task's data from Object HalBench's own file (RLHF-V's eval/data/obj_halbench_300_with_image.jsonl:
one JSON object per line with ``image_id`` (a COCO id), ``question`` (the prompt) and ``image`` (the
image, base64; or ``image_path``)) and a COCO 2014 download (annotations/, and val2014/ or train2014/
for items without an embedded image). Writes OUT/objhal.jsonl (image_id, image, question), OUT/images/
and OUT/annotations/ (the COCO instances and captions of just those images: all the ground truth reads;
the reference reads train2014's and val2014's together, so both are used where present).
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

from csr_bench.builders.output import annotations_of, place_image, write_jsonl
from csr_bench.coco import load_coco
from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_bytes, atomic_write_text, read_jsonl_objects

SPLITS = ("val2014", "train2014")


def read_items(path: Path) -> list[tuple[int, dict]]:
    """(line, item) of the reference file, each with an integer image_id and a question."""
    items, seen = [], {}
    for line, item in read_jsonl_objects(Path(path), "Object HalBench items"):
        image_id, question = item.get("image_id"), item.get("question", item.get("prompt"))
        if isinstance(image_id, str) and image_id.strip().isdigit():
            image_id = int(image_id)
        if not isinstance(image_id, int) or isinstance(image_id, bool):
            raise CsrBenchError(f"{path}:{line}: image_id must be a COCO image id, got {item.get('image_id')!r}")
        if not isinstance(question, str) or not question.strip():
            raise CsrBenchError(f"{path}:{line}: no question (or prompt)")
        if image_id in seen:
            raise CsrBenchError(f"{path}:{line}: image_id {image_id} again (first on line {seen[image_id]})")
        seen[image_id] = line
        items.append((line, {**item, "image_id": image_id, "question": question}))
    if not items:
        raise CsrBenchError(f"{path}: holds no items")
    return items


def build_objhal(items_file: Path, coco_dir: Path, out: Path, *, link: bool = False) -> dict[str, int]:
    """Write OUT/objhal.jsonl, OUT/images/ and OUT/annotations/; returns the number of items."""
    items_file, coco_dir, out = Path(items_file), Path(coco_dir), Path(out)
    items = read_items(items_file)
    wanted = {item["image_id"] for _, item in items}
    annotations: dict[str, list] = {"instances": [], "captions": []}
    file_names: dict[int, tuple[str, str]] = {}
    for split in SPLITS:
        for kind in annotations:
            path = coco_dir / "annotations" / f"{kind}_{split}.json"
            if path.is_file():
                coco = load_coco(path)
                annotations[kind].append((path.name, coco))
                file_names.update({i: (split, coco.imgs[i]["file_name"]) for i in wanted & set(coco.imgs)})
    for kind, found in annotations.items():
        if not found:
            raise CsrBenchError(f"{coco_dir / 'annotations'}: no {kind}_val2014.json or {kind}_train2014.json")
    missing = sorted(wanted - set(file_names))
    if missing:
        raise CsrBenchError(f"image_id {missing[0]} ({items_file}) is in no COCO 2014 annotation file under "
                            f"{coco_dir / 'annotations'}" + (f" ({len(missing)} such ids)" if len(missing) > 1 else ""))
    rows = []
    for line, item in items:
        split, file_name = file_names[item["image_id"]]
        target = out / "images" / file_name
        if isinstance(item.get("image"), str) and item["image"]:
            try:
                data = base64.b64decode(item["image"], validate=True)
            except (binascii.Error, ValueError):
                raise CsrBenchError(f"{items_file}:{line}: image is not base64") from None
            atomic_write_bytes(target, data)
        else:
            source = Path(item["image_path"]) if item.get("image_path") else coco_dir / split / file_name
            place_image(source, target, link=link)
        rows.append({"image_id": item["image_id"], "image": f"images/{file_name}", "question": item["question"]})
    for kind, found in annotations.items():
        for name, coco in found:
            atomic_write_text(out / "annotations" / name, json.dumps(annotations_of(coco.dataset, wanted)))
    write_jsonl(out / "objhal.jsonl", rows)
    return {"items": len(rows)}
