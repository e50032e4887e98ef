"""COCO-format annotation files (instances_*.json, captions_*.json), read with pycocotools.

Shared by the CHAIR scorer and the data builders. pycocotools is imported only here, when a file
is read, so commands that never touch COCO files do not pay for it.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from csr_bench.errors import CsrBenchError


def load_coco(path: str | Path):
    """A pycocotools ``COCO`` index of one file, or a one-line error naming it. pycocotools' progress
    prints are kept off stdout, which may be carrying JSON (``csr-bench score --json``)."""
    from pycocotools.coco import COCO

    path = Path(path)
    if not path.is_file():
        raise CsrBenchError(f"COCO annotation file not found: {path}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(path))
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise CsrBenchError(f"{path}: not a COCO-format annotation file ({type(exc).__name__}: {exc})") from None


def image_objects(coco) -> dict[int, list[str]]:
    """Category names present in each image, each once, in the order the annotations list them."""
    objects: dict[int, list[str]] = {image_id: [] for image_id in coco.imgs}
    for ann in coco.dataset.get("annotations", []):
        category = coco.cats.get(ann["category_id"])
        if category is None:
            raise CsrBenchError(f"annotation {ann.get('id')} has unknown category_id {ann['category_id']}")
        names = objects.setdefault(ann["image_id"], [])
        if category["name"] not in names:
            names.append(category["name"])
    return objects
