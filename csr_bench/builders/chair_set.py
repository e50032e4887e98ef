"""The CHAIR image set: N COCO val2014 images drawn by seed, the describe prompt, and the COCO
annotations of just those images (all that CHAIR's ground truth reads). Details (input, output,
the draw): docs/benchmarks.md, "csr_bench/builders/chair_set.py".
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from csr_bench.builders.output import annotations_of, place_image, write_jsonl
from csr_bench.coco import load_coco
from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_text
from csr_bench.prompt_text import DETAIL_PROMPT


def build_chair_set(coco_dir: Path, out: Path, *, n: int = 500, seed: int = 0, link: bool = False) -> dict[str, int]:
    """Write OUT/chair.jsonl, OUT/images/ and OUT/annotations/; returns the number of images."""
    coco_dir, out = Path(coco_dir), Path(out)
    instances = load_coco(coco_dir / "annotations" / "instances_val2014.json")
    captions = load_coco(coco_dir / "annotations" / "captions_val2014.json")
    ids = sorted(instances.imgs)
    if not 0 < n <= len(ids):
        raise CsrBenchError(f"cannot draw {n} images from the {len(ids)} of instances_val2014.json")
    drawn = sorted(random.Random(seed).sample(ids, n))

    rows = []
    for image_id in drawn:
        file_name = instances.imgs[image_id]["file_name"]
        place_image(coco_dir / "val2014" / file_name, out / "images" / file_name, link=link)
        rows.append({"image_id": image_id, "image": f"images/{file_name}", "question": DETAIL_PROMPT})
    chosen = set(drawn)
    for name, coco in (("instances_val2014.json", instances), ("captions_val2014.json", captions)):
        atomic_write_text(out / "annotations" / name, json.dumps(annotations_of(coco.dataset, chosen)))
    write_jsonl(out / "chair.jsonl", rows)
    return {"images": len(rows)}
