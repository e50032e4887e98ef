"""The world's MJ-Bench-like reward pairs (tasks mjbench_world_images, mjbench_world_captions), graded
with ``csr-bench grade-reward``. Both are made from the world's evaluation scenes, each pair differing
in one thing the world can express, its subcategory:

- object: an object of another kind (in captions: named; in images: drawn), the shown object's
  partner where the scene lacks it (the hallucination the world's prior invites), else another;
- attribute: the object's colour;
- count: the number of objects (captions: the count sentence; images: one object removed);
- spatial: the object's place (captions: another place phrase; images: moved to an empty cell).

mjbench_world_captions (CSR's direction: one image, two sentences): the true sentence about one
object (or the count) and its sibling with the one change, as CSR's candidate sentences differ.
mjbench_world_images (MJ-Bench's direction: one caption, two images): the scene's full caption
(count, each object's colour, kind and place) and two images, the scene and the scene changed.
The true side is drawn at random (``label`` is its index), so a reward blind to the pair scores 50.
Their own random stream (seeded by the world seed): writing them changes no other world data.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from csr_bench.storage.files import atomic_write_bytes, atomic_write_jsonl
from csr_bench.world.scenes import CATEGORIES, COLOR_NAMES, GRID, POSITION_PHRASES, Scene, SceneObject, World, png_bytes
from csr_bench.world.text import article, count_phrase

SUBCATEGORIES = ("object", "attribute", "count", "spatial")
IMAGES_TASK, CAPTIONS_TASK = "mjbench_world_images", "mjbench_world_captions"
DATA_FILE = "pairs.jsonl"
DEFAULT_PAIRS = 200  # per task, a quarter per subcategory


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"csr-bench-world-reward-pairs:{seed}:{name}")


def object_sentence(obj: SceneObject) -> str:
    """One object, CSR-style: "There is a red cup in the top left corner." """
    return f"There is {article(f'{obj.color} {obj.word}')} {POSITION_PHRASES[obj.cell]}."


def count_sentence(n: int) -> str:
    return f"The image shows {count_phrase(n)}."


def scene_caption(scene: Scene) -> str:
    """The scene in one caption that names the count and each object's colour, kind and place."""
    parts = [f"{article(f'{o.color} {o.word}')} {POSITION_PHRASES[o.cell]}" for o in scene.objects]
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f"The image shows {count_phrase(len(scene.objects))}: {listed}."


def _other_kind(scene: Scene, obj: SceneObject, rng: random.Random) -> str:
    """A kind the scene lacks: the object's partner when absent (the prior's hallucination), else any."""
    partner = CATEGORIES[obj.category].partner
    if partner not in scene.categories:
        return partner
    return rng.choice([c for c in CATEGORIES if c not in scene.categories])


def _other_colour(obj: SceneObject, rng: random.Random) -> str:
    return rng.choice([c for c in COLOR_NAMES if c != obj.color])


def _free_cell(scene: Scene, rng: random.Random) -> int | None:
    free = [c for c in range(GRID * GRID) if c not in {o.cell for o in scene.objects}]
    return rng.choice(free) if free else None


def _redrawn(scene: Scene, obj: SceneObject, category: str | None = None, color: str | None = None,
             cell: int | None = None) -> SceneObject:
    """``obj`` as another kind, colour or cell (kept at the same offset inside its cell), to be drawn: its
    COCO bbox and area are the original's (a changed scene is only rendered, never annotated)."""
    category, color = category or obj.category, color or obj.color
    x, y, side = obj.box
    if cell is not None:
        cell_side = scene.image_size // GRID
        margin = (scene.image_size - cell_side * GRID) // 2
        dx = x - (margin + obj.column * cell_side)
        dy = y - (margin + obj.row * cell_side)
        x, y = margin + (cell % GRID) * cell_side + dx, margin + (cell // GRID) * cell_side + dy
    else:
        cell = obj.cell
    return replace(obj, category=category, color=color, cell=cell, box=(x, y, side))


def _changed_scene(scene: Scene, kind: str, rng: random.Random) -> Scene | None:
    """The scene with one change of ``kind``; None when the scene cannot show it."""
    objects = list(scene.objects)
    if kind == "count":
        if len(objects) < 2:
            return None
        del objects[rng.randrange(len(objects))]
        return replace(scene, objects=tuple(objects))
    k = rng.randrange(len(objects))
    obj = objects[k]
    if kind == "object":
        objects[k] = _redrawn(scene, obj, category=_other_kind(scene, obj, rng))
    elif kind == "attribute":
        objects[k] = _redrawn(scene, obj, color=_other_colour(obj, rng))
    else:  # spatial
        cell = _free_cell(scene, rng)
        if cell is None:
            return None
        objects[k] = _redrawn(scene, obj, cell=cell)
    return replace(scene, objects=tuple(objects))


def _sentence_pair(scene: Scene, kind: str, rng: random.Random) -> tuple[str, str] | None:
    """(true sentence, its sibling with one change of ``kind``)."""
    if kind == "count":
        n = len(scene.objects)
        wrong = n + 1 if n == 1 or rng.random() < 0.5 else n - 1
        return count_sentence(n), count_sentence(wrong)
    obj = rng.choice(scene.objects)
    if kind == "object":
        other = replace(obj, category=_other_kind(scene, obj, rng))
    elif kind == "attribute":
        other = replace(obj, color=_other_colour(obj, rng))
    else:
        cell = rng.choice([c for c in range(GRID * GRID) if c != obj.cell])
        other = replace(obj, cell=cell)
    return object_sentence(obj), object_sentence(other)


def _plan(scenes: list[Scene], n_pairs: int, rng: random.Random, usable) -> list[tuple[Scene, str, Any]]:
    """``n_pairs`` (scene, subcategory, made) in turn over the subcategories, each scene drawn from a
    shuffled order (reused when the world has fewer scenes than pairs)."""
    order = list(scenes)
    rng.shuffle(order)
    planned, position = [], 0
    for number in range(n_pairs):
        kind = SUBCATEGORIES[number % len(SUBCATEGORIES)]
        for _ in range(len(order)):
            scene = order[position % len(order)]
            position += 1
            made = usable(scene, kind, rng)
            if made is not None:
                planned.append((scene, kind, made))
                break
    return planned


def write_reward_pairs(world: World, folder: Path, seed: int = 0, n_pairs: int = DEFAULT_PAIRS) -> dict[str, int]:
    """Write ``mjbench_world_images/`` and ``mjbench_world_captions/`` under ``folder`` (each a
    pairs.jsonl with images/ beside it); returns the number of pairs of each."""
    folder = Path(folder)
    scenes = [s for s in world.eval if s.objects]
    if not scenes:
        raise ValueError("the world has no evaluation scenes with objects")
    written: dict[str, int] = {}

    rng = _rng(seed, IMAGES_TASK)
    rows = []
    for number, (scene, kind, changed) in enumerate(_plan(scenes, n_pairs, rng, _changed_scene), start=1):
        stem = Path(scene.file_name).stem
        true_name, changed_name = f"images/{scene.file_name}", f"images/{stem}_{number:04d}_{kind}.png"
        target = folder / IMAGES_TASK
        if not (target / true_name).is_file():
            atomic_write_bytes(target / true_name, png_bytes(scene))
        atomic_write_bytes(target / changed_name, png_bytes(changed))
        label = rng.randrange(2)
        images = (true_name, changed_name) if label == 0 else (changed_name, true_name)
        rows.append({"id": f"img-{number:04d}", "caption": scene_caption(scene), "image0": images[0],
                     "image1": images[1], "label": label, "subcategory": kind, "image_id": scene.image_id})
    atomic_write_jsonl(folder / IMAGES_TASK / DATA_FILE, rows)
    written[IMAGES_TASK] = len(rows)

    rng = _rng(seed, CAPTIONS_TASK)
    rows = []
    for number, (scene, kind, (true, wrong)) in enumerate(_plan(scenes, n_pairs, rng, _sentence_pair), start=1):
        name = f"images/{scene.file_name}"
        target = folder / CAPTIONS_TASK
        if not (target / name).is_file():
            atomic_write_bytes(target / name, png_bytes(scene))
        label = rng.randrange(2)
        captions = (true, wrong) if label == 0 else (wrong, true)
        rows.append({"id": f"cap-{number:04d}", "image": name, "caption0": captions[0], "caption1": captions[1],
                     "label": label, "subcategory": kind, "image_id": scene.image_id})
    atomic_write_jsonl(folder / CAPTIONS_TASK / DATA_FILE, rows)
    written[CAPTIONS_TASK] = len(rows)
    return written


__all__ = ["SUBCATEGORIES", "count_sentence", "object_sentence", "scene_caption", "write_reward_pairs"]
