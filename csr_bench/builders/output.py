"""Writing a built data folder: the JSONL rows and the images they name by relative path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_jsonl as write_jsonl  # the builders' data files


def annotations_of(dataset: dict, image_ids: set[int]) -> dict:
    """A COCO annotation file's content for ``image_ids`` only; every other key kept as it is."""
    subset = {key: value for key, value in dataset.items() if key not in ("images", "annotations")}
    subset["images"] = [image for image in dataset.get("images", []) if image["id"] in image_ids]
    subset["annotations"] = [ann for ann in dataset.get("annotations", []) if ann["image_id"] in image_ids]
    return subset


def place_image(source: Path, target: Path, link: bool = False) -> None:
    """Copy ``source`` to ``target``, or symlink it (``link``) to save the space of a second copy."""
    if not source.is_file():
        raise CsrBenchError(f"image not found: {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    if link:
        os.symlink(source.resolve(), target)
    else:
        shutil.copyfile(source, target)


__all__ = ["annotations_of", "place_image", "write_jsonl"]
