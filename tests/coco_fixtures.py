"""Tiny COCO-format annotation files in the real schema (as instances_val2014.json and
captions_val2014.json lay it out), with COCO's own category ids, for the CHAIR and builder tests."""

from __future__ import annotations

import json
from pathlib import Path

# (id, name, supercategory) as in COCO 2014.
CATEGORIES = [(1, "person", "person"), (3, "car", "vehicle"), (6, "bus", "vehicle"), (17, "cat", "animal"),
              (18, "dog", "animal"), (47, "cup", "kitchen"), (58, "hot dog", "food"), (62, "chair", "furniture"),
              (63, "couch", "furniture"), (65, "bed", "furniture"), (67, "dining table", "furniture"),
              (70, "toilet", "furniture"), (72, "tv", "electronic")]
CATEGORY_ID = {name: cid for cid, name, _ in CATEGORIES}
INFO = {"description": "test", "version": "1.0", "year": 2014, "contributor": "csr-bench tests",
        "date_created": "2014-01-01 00:00:00"}
LICENSES = [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 1, "name": "Attribution License"}]


def file_name(image_id: int, split: str = "val2014") -> str:
    return f"COCO_{split}_{image_id:012d}.jpg"


def _images(image_ids, split: str) -> list[dict]:
    return [{"license": 1, "file_name": file_name(i, split), "coco_url": "", "height": 6, "width": 8,
             "date_captured": "2013-11-14 16:28:13", "flickr_url": "", "id": i} for i in sorted(image_ids)]


def instances(objects: dict[int, list[str]], split: str = "val2014") -> dict:
    """One annotation per listed object (an object listed twice is two instances)."""
    annotations = []
    for image_id, names in objects.items():
        for name in names:
            annotations.append({"segmentation": [[1.0, 1.0, 4.0, 1.0, 4.0, 4.0]], "area": 4.5, "iscrowd": 0,
                                "image_id": image_id, "bbox": [1.0, 1.0, 3.0, 3.0],
                                "category_id": CATEGORY_ID[name], "id": 1000 + len(annotations)})
    return {"info": INFO, "images": _images(objects, split), "licenses": LICENSES, "annotations": annotations,
            "categories": [{"supercategory": sup, "id": cid, "name": name} for cid, name, sup in CATEGORIES]}


def captions(texts: dict[int, list[str]], split: str = "val2014") -> dict:
    annotations = [{"image_id": image_id, "id": 5000 + n, "caption": text}
                   for n, (image_id, text) in enumerate((i, t) for i, ts in texts.items() for t in ts)]
    return {"info": INFO, "images": _images(texts, split), "licenses": LICENSES, "annotations": annotations}


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_images(folder: Path, image_ids, split: str = "val2014") -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for image_id in image_ids:
        Image.new("RGB", (8, 6), (image_id * 20 % 256, 90, 160)).save(folder / file_name(image_id, split))
