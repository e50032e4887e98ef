"""Procedural scenes of the embedded world: which objects an image holds, where, and how they look,
in co-occurring pairs that give a model a prior to hallucinate from; a function of the seed.
Details: docs/world.md, "csr_bench/world/scenes.py".
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field
from typing import Callable

GRID = 3
DEFAULT_IMAGE_SIZE = 96
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 48, 256

# Position of each grid cell (row-major), as questions and answers name it.
POSITIONS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
# The same, as a phrase in a sentence ("There is a cup in the top left corner.").
POSITION_PHRASES = ("in the top left corner", "at the top", "in the top right corner", "on the left",
                    "in the center", "on the right", "in the bottom left corner", "at the bottom",
                    "in the bottom right corner")

# Colour attribute -> RGB. No colour word is a COCO object word (so "orange" is not one).
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40), "green": (44, 160, 44), "blue": (31, 90, 210),
    "yellow": (240, 200, 20), "purple": (148, 80, 189), "pink": (245, 130, 190)}
COLOR_NAMES = tuple(COLORS)
SIZES = ("tiny", "small", "large")
# Of a grid cell's side. A tiny object is a few pixels across, anywhere in its cell: its colour is
# plain to see, its kind is not (as for COCO's many small objects), and a model that cannot tell
# falls back on what usually comes with the objects it can see.
SIZE_FRACTION = {"tiny": 0.3, "small": 0.56, "large": 0.94}
BACKGROUND = (236, 234, 226)


@dataclass(frozen=True)
class Category:
    """An object kind: a real COCO category (its id and name), the word captions use for it (one
    of CHAIR's synonyms of the category) and the category it usually comes with."""

    name: str
    coco_id: int
    supercategory: str
    word: str
    partner: str


# The pairs of the co-occurrence prior; each category is in exactly one.
PAIRS: tuple[tuple[str, str], ...] = (
    ("fork", "knife"), ("cup", "spoon"), ("dog", "sports ball"), ("laptop", "mouse"),
    ("apple", "banana"), ("car", "traffic light"), ("book", "clock"))
# How often each pair is drawn, relative to the others (the same in every split), as some COCO
# objects are far more common than others: POPE's popular split asks about the most frequent ones.
PAIR_FREQUENCY: dict[tuple[str, str], float] = {
    ("fork", "knife"): 4.0, ("cup", "spoon"): 3.0, ("dog", "sports ball"): 2.0, ("laptop", "mouse"): 1.5,
    ("apple", "banana"): 1.0, ("car", "traffic light"): 1.0, ("book", "clock"): 1.0}

_COCO = {  # name: (COCO 2014 category id, supercategory, caption word)
    "fork": (48, "kitchen", "fork"), "knife": (49, "kitchen", "knife"), "cup": (47, "kitchen", "cup"),
    "spoon": (50, "kitchen", "spoon"), "dog": (18, "animal", "dog"), "sports ball": (37, "sports", "ball"),
    "laptop": (73, "electronic", "laptop"), "mouse": (74, "electronic", "mouse"),
    "apple": (53, "food", "apple"), "banana": (52, "food", "banana"), "car": (3, "vehicle", "car"),
    "traffic light": (10, "outdoor", "traffic light"), "book": (84, "indoor", "book"),
    "clock": (85, "indoor", "clock")}


def _categories() -> dict[str, Category]:
    partner = {a: b for a, b in PAIRS} | {b: a for a, b in PAIRS}
    return {name: Category(name, cid, sup, word, partner[name]) for name, (cid, sup, word) in _COCO.items()}


CATEGORIES: dict[str, Category] = _categories()
CATEGORY_NAMES = tuple(CATEGORIES)


@dataclass(frozen=True)
class SamplerConfig:
    """How scenes of a split are drawn: P(number of pairs = k) for k = 1, 2, ..., the partner rate
    wanted, and the most objects an image holds (pairs beyond it show one member only).
    ``singles_first`` lists the objects without their partner first (captions and annotations):
    POPE's builder asks about an image's first three objects, so its adversarial split then asks
    about the partners a prior-driven model hallucinates. Training keeps a random order, so the
    place of an object in a caption says nothing about whether its partner follows."""

    pair_weights: tuple[float, ...]
    partner_rate: float
    max_objects: int = 4
    singles_first: bool = False

    @property
    def p_full(self) -> float:
        """P(a drawn pair shows both members), from partner rate r = 2p / (1 + p)."""
        return self.partner_rate / (2 - self.partner_rate)


TRAIN_SAMPLER = SamplerConfig(pair_weights=(0.35, 0.65), partner_rate=0.85)
# Evaluation: more objects per image (POPE needs images with 3+), more prior-breaking pairs (about 9
# scenes in 10 show an object without its partner), yet partners still co-occur more than other
# objects do, which POPE's adversarial split measures on the drawn images.
EVAL_SAMPLER = SamplerConfig(pair_weights=(0.1, 0.4, 0.5), partner_rate=0.6, singles_first=True)
# "prompt": unlabelled images for CSR's self-rewarding, drawn like the evaluation scenes but
# distinct from them, as the paper's COCO train2014 prompts come from the distribution COCO val2014
# is evaluated on (no caption, answer or annotation of them is used anywhere).
SAMPLERS = {"train": TRAIN_SAMPLER, "eval": EVAL_SAMPLER, "prompt": EVAL_SAMPLER}
ID_BASE = {"train": 1, "eval": 500_001, "prompt": 700_001}  # COCO image ids: unique over the splits
COCO_SPLIT = {"train": "train2014", "eval": "val2014", "prompt": "unlabeled2017"}  # the builders read val2014


@dataclass(frozen=True)
class SceneObject:
    category: str
    color: str
    size: str
    cell: int  # 0..8, row-major in the 3x3 grid
    box: tuple[int, int, int]  # drawing square: x, y, side (pixels)
    bbox: tuple[int, int, int, int]  # tight bounding box of the drawn pixels: x, y, width, height (COCO)
    area: int  # drawn pixels

    @property
    def position(self) -> str:
        return POSITIONS[self.cell]

    @property
    def row(self) -> int:
        return self.cell // GRID

    @property
    def column(self) -> int:
        return self.cell % GRID

    @property
    def word(self) -> str:
        return CATEGORIES[self.category].word


@dataclass(frozen=True)
class Scene:
    image_id: int
    split: str
    index: int
    image_size: int
    background: tuple[int, int, int]
    objects: tuple[SceneObject, ...]  # pair members next to each other, in caption order

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(o.category for o in self.objects)

    @property
    def file_name(self) -> str:
        return f"WORLD_{COCO_SPLIT[self.split]}_{self.image_id:012d}.png"

    def has(self, category: str) -> bool:
        return category in self.categories

    def object(self, category: str) -> SceneObject:
        return next(o for o in self.objects if o.category == category)

    @property
    def absent_partners(self) -> tuple[str, ...]:
        """Partners of the objects shown that the image lacks: what a prior-driven model hallucinates."""
        return tuple(CATEGORIES[c].partner for c in self.categories if CATEGORIES[c].partner not in self.categories)

    @property
    def breaks_prior(self) -> bool:
        return bool(self.absent_partners)

    def absent(self) -> tuple[str, ...]:
        return tuple(c for c in CATEGORY_NAMES if c not in self.categories)


@dataclass
class World:
    seed: int
    image_size: int
    train: list[Scene]
    eval: list[Scene]
    prompt: list[Scene] = field(default_factory=list)

    def split(self, name: str) -> list[Scene]:
        if name not in SAMPLERS:
            raise ValueError(f"unknown split {name!r} (expected one of {', '.join(SAMPLERS)})")
        return getattr(self, name)

    def scene(self, image_id: int) -> Scene:
        for scenes in (self.train, self.eval):
            for scene in scenes:
                if scene.image_id == image_id:
                    return scene
        raise KeyError(image_id)


def partner_rate(scenes: list[Scene]) -> float:
    """Share of the objects shown whose partner is in the same image."""
    objects = [(scene, c) for scene in scenes for c in scene.categories]
    if not objects:
        return 0.0
    return sum(CATEGORIES[c].partner in scene.categories for scene, c in objects) / len(objects)


def cooccurrence(scenes: list[Scene]) -> dict[str, dict[str, float]]:
    """P(other in image | category in image), over the images holding the category."""
    table: dict[str, dict[str, float]] = {}
    for category in CATEGORY_NAMES:
        holding = [s for s in scenes if s.has(category)]
        if holding:
            table[category] = {other: sum(s.has(other) for s in holding) / len(holding)
                               for other in CATEGORY_NAMES if other != category}
    return table


# ---------------------------------------------------------------------------------------------
# Drawing. Each category is drawn inside a square (x, y, side) from a few PIL primitives; ``Ink``
# gives the colours, or 255 everywhere when the drawing is a mask (for the tight bounding box).


class Ink:
    def __init__(self, rgb: tuple[int, int, int] | None):
        self.mask = rgb is None
        self.main = 255 if self.mask else rgb
        self.dark = 255 if self.mask else tuple(int(v * 0.55) for v in rgb)
        self.light = 255 if self.mask else tuple(min(255, int(v + (255 - v) * 0.6)) for v in rgb)

    def fixed(self, rgb: tuple[int, int, int]):
        return 255 if self.mask else rgb


def _at(x: int, y: int, s: int) -> Callable[[float, float], tuple[int, int]]:
    return lambda rx, ry: (x + round(rx * (s - 1)), y + round(ry * (s - 1)))


def _fork(d, x, y, s, ink):
    p = _at(x, y, s)
    d.rectangle([p(0.43, 0.42), p(0.57, 1.0)], fill=ink.main, outline=ink.dark)
    d.rectangle([p(0.24, 0.32), p(0.76, 0.46)], fill=ink.main, outline=ink.dark)
    for rx in (0.24, 0.44, 0.64):
        d.rectangle([p(rx, 0.0), p(rx + 0.12, 0.36)], fill=ink.main)


def _knife(d, x, y, s, ink):
    p = _at(x, y, s)
    d.rectangle([p(0.40, 0.62), p(0.60, 1.0)], fill=ink.dark)
    d.polygon([p(0.40, 0.64), p(0.40, 0.10), p(0.50, 0.0), p(0.62, 0.22), p(0.62, 0.64)],
              fill=ink.main, outline=ink.dark)


def _spoon(d, x, y, s, ink):
    p = _at(x, y, s)
    d.rectangle([p(0.44, 0.42), p(0.56, 1.0)], fill=ink.main, outline=ink.dark)
    d.ellipse([p(0.26, 0.0), p(0.74, 0.52)], fill=ink.main, outline=ink.dark)


def _cup(d, x, y, s, ink):
    p = _at(x, y, s)
    d.ellipse([p(0.54, 0.34), p(0.98, 0.78)], outline=ink.main, width=max(2, s // 8))
    d.polygon([p(0.06, 0.18), p(0.72, 0.18), p(0.64, 1.0), p(0.14, 1.0)], fill=ink.main, outline=ink.dark)
    d.line([p(0.06, 0.18), p(0.72, 0.18)], fill=ink.dark, width=max(1, s // 12))


def _dog(d, x, y, s, ink):
    p = _at(x, y, s)
    d.line([p(0.16, 0.46), p(0.06, 0.20)], fill=ink.main, width=max(2, s // 10))
    for rx in (0.18, 0.32, 0.56, 0.70):
        d.rectangle([p(rx, 0.60), p(rx + 0.10, 1.0)], fill=ink.main, outline=ink.dark)
    d.ellipse([p(0.10, 0.32), p(0.84, 0.72)], fill=ink.main, outline=ink.dark)
    d.ellipse([p(0.58, 0.08), p(1.0, 0.48)], fill=ink.main, outline=ink.dark)
    d.ellipse([p(0.56, 0.12), p(0.70, 0.42)], fill=ink.dark)
    d.rectangle([p(0.80, 0.20), p(0.85, 0.25)], fill=ink.fixed((20, 20, 20)))
    d.rectangle([p(0.94, 0.28), p(1.0, 0.34)], fill=ink.fixed((20, 20, 20)))


def _ball(d, x, y, s, ink):
    p = _at(x, y, s)
    d.ellipse([p(0.0, 0.0), p(1.0, 1.0)], fill=ink.main, outline=ink.dark)
    d.arc([p(0.0, 0.30), p(1.0, 1.10)], 200, 340, fill=ink.dark)
    d.line([p(0.5, 0.02), p(0.5, 0.98)], fill=ink.dark)
    d.ellipse([p(0.22, 0.16), p(0.36, 0.30)], fill=ink.light)


def _laptop(d, x, y, s, ink):
    p = _at(x, y, s)
    d.rectangle([p(0.14, 0.04), p(0.86, 0.66)], fill=ink.main, outline=ink.dark)
    d.rectangle([p(0.22, 0.12), p(0.78, 0.58)], fill=ink.fixed((40, 50, 70)))
    d.polygon([p(0.08, 0.68), p(0.92, 0.68), p(1.0, 0.88), p(0.0, 0.88)], fill=ink.main, outline=ink.dark)


def _mouse(d, x, y, s, ink):
    p = _at(x, y, s)
    d.line([p(0.5, 0.30), p(0.5, 0.12), p(0.72, 0.0)], fill=ink.dark, width=max(1, s // 14))
    d.ellipse([p(0.24, 0.26), p(0.76, 1.0)], fill=ink.main, outline=ink.dark)
    d.line([p(0.5, 0.27), p(0.5, 0.56)], fill=ink.dark)
    d.line([p(0.26, 0.56), p(0.74, 0.56)], fill=ink.dark)


def _apple(d, x, y, s, ink):
    p = _at(x, y, s)
    d.ellipse([p(0.06, 0.20), p(0.94, 1.0)], fill=ink.main, outline=ink.dark)
    d.line([p(0.50, 0.28), p(0.46, 0.02)], fill=ink.fixed((110, 70, 30)), width=max(1, s // 12))
    d.ellipse([p(0.52, 0.02), p(0.82, 0.18)], fill=ink.fixed((60, 150, 50)))


def _banana(d, x, y, s, ink):
    p = _at(x, y, s)
    outer = [p(0.5 + 0.5 * math.cos(math.radians(a)), 0.05 + 0.92 * math.sin(math.radians(a)))
             for a in range(15, 166, 10)]
    inner = [p(0.5 + 0.36 * math.cos(math.radians(a)), 0.05 + 0.58 * math.sin(math.radians(a)))
             for a in range(165, 14, -10)]
    d.polygon(outer + inner, fill=ink.main, outline=ink.dark)
    d.rectangle([p(0.92, 0.26), p(1.0, 0.36)], fill=ink.fixed((90, 60, 20)))


def _car(d, x, y, s, ink):
    p = _at(x, y, s)
    d.polygon([p(0.20, 0.46), p(0.32, 0.16), p(0.70, 0.16), p(0.84, 0.46)], fill=ink.main, outline=ink.dark)
    d.polygon([p(0.34, 0.44), p(0.40, 0.24), p(0.64, 0.24), p(0.72, 0.44)], fill=ink.fixed((190, 220, 240)))
    d.rectangle([p(0.0, 0.44), p(1.0, 0.78)], fill=ink.main, outline=ink.dark)
    d.rectangle([p(0.90, 0.50), p(1.0, 0.58)], fill=ink.fixed((250, 240, 160)))
    for rx in (0.10, 0.62):
        d.ellipse([p(rx, 0.62), p(rx + 0.28, 0.90)], fill=ink.fixed((30, 30, 30)))


def _traffic_light(d, x, y, s, ink):
    p = _at(x, y, s)
    d.rectangle([p(0.45, 0.80), p(0.55, 1.0)], fill=ink.fixed((80, 80, 80)))
    d.rectangle([p(0.28, 0.0), p(0.72, 0.82)], fill=ink.main, outline=ink.dark)
    for i, lamp in enumerate(((230, 40, 30), (250, 200, 0), (40, 200, 70))):
        top = 0.05 + 0.26 * i
        d.ellipse([p(0.37, top), p(0.63, top + 0.22)], fill=ink.fixed(lamp))


def _book(d, x, y, s, ink):
    p = _at(x, y, s)
    d.rectangle([p(0.78, 0.14), p(0.92, 0.96)], fill=ink.fixed((245, 245, 235)), outline=ink.dark)
    d.rectangle([p(0.10, 0.08), p(0.84, 0.92)], fill=ink.main, outline=ink.dark)
    d.rectangle([p(0.10, 0.08), p(0.24, 0.92)], fill=ink.dark)
    d.line([p(0.36, 0.30), p(0.72, 0.30)], fill=ink.light, width=max(1, s // 14))


def _clock(d, x, y, s, ink):
    p = _at(x, y, s)
    black = ink.fixed((20, 20, 20))
    d.ellipse([p(0.0, 0.0), p(1.0, 1.0)], fill=ink.main, outline=ink.dark)
    d.ellipse([p(0.15, 0.15), p(0.85, 0.85)], fill=ink.fixed((250, 250, 245)))
    d.line([p(0.5, 0.5), p(0.5, 0.24)], fill=black, width=max(1, s // 14))
    d.line([p(0.5, 0.5), p(0.72, 0.5)], fill=black, width=max(1, s // 14))
    for rx, ry in ((0.5, 0.19), (0.81, 0.5), (0.5, 0.81), (0.19, 0.5)):
        d.point([p(rx, ry)], fill=black)


DRAW: dict[str, Callable] = {
    "fork": _fork, "knife": _knife, "spoon": _spoon, "cup": _cup, "dog": _dog, "sports ball": _ball,
    "laptop": _laptop, "mouse": _mouse, "apple": _apple, "banana": _banana, "car": _car,
    "traffic light": _traffic_light, "book": _book, "clock": _clock}


def _draw_object(draw, category: str, box: tuple[int, int, int], rgb) -> None:
    x, y, side = box
    DRAW[category](draw, x, y, side, Ink(rgb))


# Out-of-distribution renderings (the unicorn_world task, docs/world-benchmarks.md): the same scene
# drawn in a way the world VLM never saw in training.
# Sketch-like: every primitive as a thin dark stroke, nothing filled (Sketchy-VQA's line drawings).
OUTLINE_STROKE = (40, 40, 40)
# Each world colour replaced by one the world never draws an object in (OODCV's texture shift): no
# colour word of the world names these, and none is close to a palette colour.
UNSEEN_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (0, 150, 140), "green": (135, 82, 35), "blue": (250, 130, 0),
    "yellow": (128, 128, 128), "purple": (40, 40, 40), "pink": (60, 205, 230)}


class _OutlineDraw:
    """An ImageDraw stand-in that draws each shape's outline alone, one pixel wide, in one stroke colour
    (fills, widths and the drawing's own colours are dropped), so an object keeps its lines and loses
    its colours and surfaces."""

    def __init__(self, draw, stroke: tuple[int, int, int]):
        self.draw, self.stroke = draw, stroke

    def rectangle(self, xy, fill=None, outline=None, width=1):
        self.draw.rectangle(xy, outline=self.stroke)

    def ellipse(self, xy, fill=None, outline=None, width=1):
        self.draw.ellipse(xy, outline=self.stroke)

    def polygon(self, xy, fill=None, outline=None):
        self.draw.polygon(xy, outline=self.stroke)

    def line(self, xy, fill=None, width=0):
        self.draw.line(xy, fill=self.stroke)

    def arc(self, xy, start, end, fill=None, width=1):
        self.draw.arc(xy, start, end, fill=self.stroke)

    def point(self, xy, fill=None):
        self.draw.point(xy, fill=self.stroke)


def _footprint(category: str, box: tuple[int, int, int], image_size: int) -> tuple[tuple[int, int, int, int], int]:
    """(tight COCO bbox, pixel area) of the object as drawn."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (image_size, image_size), 0)
    _draw_object(ImageDraw.Draw(mask), category, box, None)
    left, top, right, bottom = mask.getbbox()
    return (left, top, right - left, bottom - top), sum(mask.histogram()[1:])


def render(scene: Scene, *, outline: bool = False, colors: dict[str, tuple[int, int, int]] | None = None):
    """The scene as an RGB PIL image. By default as the world draws it everywhere; ``outline``: as
    strokes only (OUTLINE_STROKE); ``colors``: each colour name drawn in this RGB instead of COLORS's
    (UNSEEN_COLORS)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (scene.image_size, scene.image_size), scene.background)
    draw = ImageDraw.Draw(image)
    if outline:
        draw = _OutlineDraw(draw, OUTLINE_STROKE)
    palette = COLORS if colors is None else colors
    for obj in scene.objects:
        _draw_object(draw, obj.category, obj.box, palette[obj.color])
    return image


def png_bytes(scene: Scene, *, outline: bool = False, colors: dict[str, tuple[int, int, int]] | None = None) -> bytes:
    """The rendered scene as PNG bytes (the same bytes for the same scene and options)."""
    buffer = io.BytesIO()
    render(scene, outline=outline, colors=colors).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Sampling.


def scene_rng(seed: int, split: str, index: int) -> random.Random:
    # A str seed is hashed with SHA-512 by random.Random: stable across runs and machines.
    return random.Random(f"csr-bench-world:{seed}:{split}:{index}")


def sample_scene(seed: int, split: str, index: int, image_size: int = DEFAULT_IMAGE_SIZE,
                 config: SamplerConfig | None = None) -> Scene:
    config = config or SAMPLERS[split]
    rng = scene_rng(seed, split, index)
    k = rng.choices(range(1, len(config.pair_weights) + 1), weights=config.pair_weights)[0]
    groups = []
    # k pairs without replacement, each drawn with probability proportional to its frequency among
    # those left (Efraimidis-Spirakis keys u ** (1 / w): the k largest).
    keys = {pair: rng.random() ** (1.0 / PAIR_FREQUENCY[pair]) for pair in PAIRS}
    for pair in sorted(PAIRS, key=keys.__getitem__, reverse=True)[:k]:
        members = list(pair)
        rng.shuffle(members)
        groups.append(members if rng.random() < config.p_full else members[:1])
    for group in reversed(groups):  # over the cap: the last full pairs lose their second member
        if sum(map(len, groups)) <= config.max_objects:
            break
        del group[1:]
    if config.singles_first:
        groups.sort(key=len)  # stable: the singles keep their drawn order
    categories = [c for group in groups for c in group]

    cell_side = image_size // GRID
    margin = (image_size - cell_side * GRID) // 2
    cells = rng.sample(range(GRID * GRID), len(categories))
    objects = []
    for category, cell in zip(categories, cells):
        color = rng.choice(COLOR_NAMES)
        size = rng.choice(SIZES)
        side = max(8, round(cell_side * SIZE_FRACTION[size]))
        x = margin + (cell % GRID) * cell_side + rng.randint(0, cell_side - side)
        y = margin + (cell // GRID) * cell_side + rng.randint(0, cell_side - side)
        box = (x, y, side)
        bbox, area = _footprint(category, box, image_size)
        objects.append(SceneObject(category=category, color=color, size=size, cell=cell, box=box,
                                   bbox=bbox, area=area))
    background = tuple(max(0, min(255, v + rng.randint(-8, 8))) for v in BACKGROUND)
    return Scene(image_id=ID_BASE[split] + index, split=split, index=index, image_size=image_size,
                 background=background, objects=tuple(objects))


def generate_world(seed: int = 0, n_train: int = 3000, n_eval: int = 2000,
                   image_size: int = DEFAULT_IMAGE_SIZE, n_prompt: int = 0) -> World:
    """Training, evaluation and (unlabelled) CSR prompt scenes of the world with this seed."""
    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise ValueError(f"image_size must be in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}], got {image_size}")
    if min(n_train, n_eval, n_prompt) < 0:
        raise ValueError("scene counts must be >= 0")
    if max(n_train, n_eval, n_prompt) >= ID_BASE["prompt"] - ID_BASE["eval"]:
        raise ValueError("too many scenes for the image id ranges")
    return World(seed=seed, image_size=image_size,
                 train=[sample_scene(seed, "train", i, image_size) for i in range(n_train)],
                 eval=[sample_scene(seed, "eval", i, image_size) for i in range(n_eval)],
                 prompt=[sample_scene(seed, "prompt", i, image_size) for i in range(n_prompt)])
