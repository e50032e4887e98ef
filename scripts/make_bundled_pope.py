"""Build csr-bench's small bundled POPE-format set (csr_bench/bundled/pope/), deterministically.

Images of simple shapes (non-square, so LLaVA's pad-to-square path runs), and POPE questions in
the lmms-lab/POPE schema: for each image and split, up to two present objects ("yes") and two
absent ones ("no"), the absent ones drawn as POPE does: at random, from the most frequent objects
(popular) and from those most often seen with the image's objects (adversarial).

    python scripts/make_bundled_pope.py [--out csr_bench/bundled/pope] [--images 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw

OBJECTS = ["circle", "square", "triangle", "cross", "ring", "bar"]
# Pairs that usually appear together, so "adversarial" negatives differ from "popular" ones.
PARTNERS = {"circle": "ring", "square": "bar", "triangle": "cross"}
COLOURS = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (230, 200, 40), (30, 30, 30)]


def draw(kind: str, canvas: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour) -> None:
    x0, y0, x1, y1 = box
    if kind == "circle":
        canvas.ellipse(box, fill=colour)
    elif kind == "square":
        canvas.rectangle(box, fill=colour)
    elif kind == "triangle":
        canvas.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour)
    elif kind == "cross":
        w = (x1 - x0) // 3
        canvas.rectangle((x0 + w, y0, x1 - w, y1), fill=colour)
        canvas.rectangle((x0, y0 + w, x1, y1 - w), fill=colour)
    elif kind == "ring":
        canvas.ellipse(box, outline=colour, width=4)
    elif kind == "bar":
        canvas.rectangle((x0, (y0 + y1) // 2 - 3, x1, (y0 + y1) // 2 + 3), fill=colour)


def make_scene(rng: random.Random) -> list[str]:
    first = rng.choice(OBJECTS)
    objects = [first]
    if first in PARTNERS and rng.random() < 0.8:
        objects.append(PARTNERS[first])
    while len(objects) < rng.randint(1, 3):
        extra = rng.choice(OBJECTS)
        if extra not in objects:
            objects.append(extra)
    return objects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "csr_bench/bundled/pope"))
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)

    scenes = []
    for index in range(args.images):
        objects = make_scene(rng)
        image = Image.new("RGB", (80, 60), (245, 245, 240))
        canvas = ImageDraw.Draw(image)
        for slot, kind in enumerate(objects):
            x = 4 + slot * 25
            draw(kind, canvas, (x, 18, x + 22, 40), rng.choice(COLOURS))
        name = f"{index:06d}.png"
        image.save(out / "images" / name)
        scenes.append((name, objects))

    frequency = Counter(o for _, objects in scenes for o in objects)
    together = Counter()
    for _, objects in scenes:
        for a, b in itertools.permutations(objects, 2):
            together[a, b] += 1

    def negatives(objects: list[str], split: str) -> list[str]:
        absent = [o for o in OBJECTS if o not in objects]
        if split == "random":
            return rng.sample(absent, min(2, len(absent)))
        if split == "popular":
            return sorted(absent, key=lambda o: (-frequency[o], OBJECTS.index(o)))[:2]
        score = {o: sum(together[p, o] for p in objects) for o in absent}
        return sorted(absent, key=lambda o: (-score[o], OBJECTS.index(o)))[:2]

    rows = []
    for split in ("adversarial", "popular", "random"):
        for name, objects in scenes:
            positives = objects[:2]
            for obj, answer in [(o, "yes") for o in positives] + [(o, "no") for o in negatives(objects, split)]:
                rows.append({"id": str(len(rows)), "question_id": len(rows) + 1,
                             "question": f"Is there a {obj} in the image?", "answer": answer,
                             "image_source": name.removesuffix(".png"), "image": f"images/{name}",
                             "category": split})
    with open(out / "pope.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} questions on {len(scenes)} images to {out}")


if __name__ == "__main__":
    main()
