"""POPE questions from any COCO-format instances file, built as POPE's own code builds them
(Li et al., 2023; AoiDragon/POPE), seeded. Details (the draw, differences, output):
docs/benchmarks.md, "csr_bench/builders/pope.py".
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from csr_bench.builders.output import place_image, write_jsonl
from csr_bench.coco import image_objects, load_coco
from csr_bench.errors import CsrBenchError

SPLITS = ("adversarial", "popular", "random")  # the order of lmms-lab/POPE's rows


def question(obj: str) -> str:
    article = "an" if obj[0] in "aeiou" else "a"
    return f"Is there {article} {obj} in the image?"


def _ranked(counts: Counter) -> list[str]:
    """Most counted first; ties keep first-seen order (Python's sort is stable)."""
    return [name for name, _ in sorted(counts.items(), key=lambda item: item[1], reverse=True)]


def pope_questions(objects_of: dict[Any, list[str]], n_images: int, rng: random.Random,
                   per_image: int = 3) -> dict[str, list[tuple[Any, str, str]]]:
    """(image, object, "yes"/"no") per split, for ``n_images`` images drawn from ``objects_of``."""
    eligible = [image for image in sorted(objects_of) if len(objects_of[image]) >= per_image]
    if len(eligible) < n_images:
        raise CsrBenchError(f"POPE needs {n_images} images with at least {per_image} distinct objects; "
                            f"the annotations have {len(eligible)}")
    drawn = rng.sample(eligible, n_images)

    frequency: Counter = Counter()
    together: dict[str, Counter] = defaultdict(Counter)
    for image in drawn:
        frequency.update(objects_of[image])
        for obj in objects_of[image]:
            together[obj].update(other for other in objects_of[image] if other != obj)
    every_object = list(frequency)
    popular = _ranked(frequency)
    co_occurring = {obj: _ranked(counts) for obj, counts in together.items()}

    questions: dict[str, list[tuple[Any, str, str]]] = {}
    for split in SPLITS:
        rows = []
        for image in drawn:
            present = objects_of[image]
            asked: list[str] = []
            for positive in present[:per_image]:
                asked.append(positive)
                rows.append((image, positive, "yes"))
                allowed = [o for o in every_object if o not in asked and o not in present]
                if not allowed:
                    raise CsrBenchError(f"POPE: no absent object left to ask about for image {image}; "
                                        f"the annotations name too few object categories")
                preferred = {"random": [], "popular": popular,
                             "adversarial": co_occurring.get(positive, [])}[split]
                negative = next((o for o in preferred if o in allowed), None) or rng.choice(allowed)
                asked.append(negative)
                rows.append((image, negative, "no"))
        questions[split] = rows
    return questions


def build_pope(instances: Path, images: Path, out: Path, *, images_per_split: int = 500, seed: int = 0,
               link: bool = False) -> dict[str, int]:
    """Write OUT/pope.jsonl and OUT/images/; returns counts of images and questions."""
    coco = load_coco(instances)
    questions = pope_questions(image_objects(coco), images_per_split, random.Random(seed))
    out = Path(out)
    rows, used = [], {}
    for split in SPLITS:
        for image_id, obj, answer in questions[split]:
            file_name = coco.imgs[image_id]["file_name"]
            used[image_id] = file_name
            rows.append({"id": str(len(rows)), "question_id": len(rows) + 1, "question": question(obj),
                         "answer": answer, "image_source": Path(file_name).stem, "image": f"images/{file_name}",
                         "category": split})
    for file_name in used.values():
        place_image(Path(images) / file_name, out / "images" / file_name, link=link)
    write_jsonl(out / "pope.jsonl", rows)
    return {"images": len(used), "questions": len(rows)}
