"""The world's benchmark data, in the layouts and schemas the registered tasks read unchanged:
``write_world_benchmarks(world, root, seed)`` writes every benchmark under one data root.
Details (the layout, crash safety, absent objects): docs/world.md, "csr_bench/world/benchmarks.py".
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_jsonl, atomic_write_text
from csr_bench.world.coco import write_annotations
from csr_bench.world.reward_pairs import write_reward_pairs
from csr_bench.world.scenes import (CATEGORIES, CATEGORY_NAMES, COCO_SPLIT, COLOR_NAMES, EVAL_SAMPLER, PAIRS,
                                    POSITION_PHRASES, POSITIONS, SAMPLERS, SIZES, UNSEEN_COLORS, Scene,
                                    SceneObject, World, cooccurrence, partner_rate, png_bytes)
from csr_bench.world.text import (NUMBER_WORDS, article, detailed_captions, existence_question, qa_pairs,
                                  short_captions)

LETTERS = "ABCD"
MME_SUFFIX = " Please answer yes or no."
# Folders (and the manifest) this module writes under the root; nothing else is touched.
WRITING_MARKER = ".writing"  # present while a world is being written (removed after world.json)
OUTPUTS = ("world.json", "train", "prompts", "coco", "pope", "chair", "mme", "seed", "mmbench", "scienceqa", "gqa", "vizwiz",
           "amber_world", "unicorn_world", "mjbench_world_images", "mjbench_world_captions")


@dataclass(frozen=True)
class BenchmarkSizes:
    """How much of each benchmark to write. POPE and CHAIR are sized so that the change CSR makes
    between two iterations is resolved: the 95% interval of a paired difference is at most about +-1
    point on POPE F1 and +-2 points on CHAIR_S and CHAIR_I (measured on the default run's iteration 3
    against 0: docs/world-benchmarks.md, "Sizes"). POPE's adversarial negatives are the objects that
    co-occur most with the asked object *in the drawn images*, so too few images also make that
    count noise."""

    pope_images_per_split: int = 150  # 6 questions per image and split: 2700 questions (see above)
    chair_images: int = 2000  # four times the paper's 500 (with 1000: CHAIR_S +-2.6 at lr 2e-4)
    mme_images: int = 60  # 2 questions each: 120 rows, a quarter of the images per category
    seed_questions: int = 100
    mmbench_questions: int = 30  # each with 3 rotated copies: 120 rows
    scienceqa_questions: int = 80
    gqa_questions: int = 120  # 2 per image
    vizwiz_questions: int = 80  # 1 per image
    # The AMBER-like task (amber_world): descriptions of amber_images images, and yes/no questions about
    # the same images, each kind half "yes" and half "no" (docs/world-benchmarks.md, "AMBER-like task").
    amber_images: int = 300
    amber_existence: int = 300
    amber_state: int = 200  # colour and size
    amber_number: int = 100  # the count of objects
    amber_relation: int = 200  # left of, right of, above, below
    # The OOD robustness task (unicorn_world): questions on distinct scenes, each asked in every situation
    # (docs/world-benchmarks.md, "The OOD robustness task").
    # 400 + 100 questions, 1,500 rows: the iid -> OOD drop of yes/no accuracy to about +-7 points (at 300:
    # -12.0 [-20.3, -3.3] on outlines); an evaluation in a few seconds.
    unicorn_existence: int = 400  # half "Yes"
    unicorn_count: int = 100  # "How many objects ...?" (1-4): the world VLM is far above chance on them


# ---------------------------------------------------------------------------------------------
# Helpers


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"csr-bench-world-bench:{seed}:{name}")


def _draw(scenes: list[Scene], n: int, rng: random.Random) -> list[Scene]:
    """n scenes, distinct while there are enough."""
    if not scenes:
        raise CsrBenchError("the world has no evaluation scenes")
    drawn: list[Scene] = []
    while len(drawn) < n:
        drawn += rng.sample(scenes, min(len(scenes), n - len(drawn)))
    return drawn


def _probe_object(scene: Scene, rng: random.Random) -> SceneObject:
    """An object of the scene, one whose partner is absent when there is one."""
    lonely = [o for o in scene.objects if CATEGORIES[o.category].partner not in scene.categories]
    return rng.choice(lonely or list(scene.objects))


def _absent(scene: Scene, rng: random.Random, k: int = 1) -> list[str]:
    """k absent categories, the absent partners first."""
    partners = list(dict.fromkeys(scene.absent_partners))
    rng.shuffle(partners)
    others = [c for c in CATEGORY_NAMES if c not in scene.categories and c not in partners]
    rng.shuffle(others)
    return (partners + others)[:k]


def _word(category: str) -> str:
    return CATEGORIES[category].word


def _options(correct: str, distractors: list[str], rng: random.Random) -> tuple[list[str], int]:
    options = [correct, *distractors]
    rng.shuffle(options)
    return options, options.index(correct)


def _image_value(cache: dict[int, bytes], scene: Scene) -> dict[str, Any]:
    return {"bytes": _png(cache, scene), "path": scene.file_name}


def _png(cache: dict[int, bytes], scene: Scene) -> bytes:
    if scene.image_id not in cache:
        cache[scene.image_id] = png_bytes(scene)
    return cache[scene.image_id]


def _write_parquet(path: Path, rows: list[dict]) -> None:
    """A parquet file with an ``image`` column of datasets.Image (bytes embedded), as on the hub."""
    import datasets

    datasets.disable_progress_bars()
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).cast_column("image", datasets.Image()).to_parquet(str(path))


def _scene_record(scene: Scene, image: str) -> dict[str, Any]:
    return {"image_id": scene.image_id, "image": image, "width": scene.image_size, "height": scene.image_size,
            "objects": [{"category": o.category, "word": o.word, "color": o.color, "size": o.size,
                         "position": o.position, "bbox": list(o.bbox)} for o in scene.objects],
            "absent_partners": list(dict.fromkeys(scene.absent_partners)),
            "captions": detailed_captions(scene), "short_captions": short_captions(scene),
            "qa": [list(pair) for pair in qa_pairs(scene)]}


# ---------------------------------------------------------------------------------------------
# Benchmarks


def mme_rows(scenes: list[Scene], n_images: int, rng: random.Random, cache: dict) -> list[dict]:
    """Two questions per image (Yes first, then No), a quarter of the images per category."""
    categories = ("existence", "count", "position", "color")
    rows = []
    for i, scene in enumerate(_draw(scenes, n_images, rng)):
        category = categories[i % len(categories)]
        obj = _probe_object(scene, rng)
        if category == "existence":
            yes = f"Is there {article(obj.word)} in this image?"
            no = f"Is there {article(_word(_absent(scene, rng)[0]))} in this image?"
        elif category == "count":
            n = len(scene.objects)
            wrong = rng.choice([m for m in range(1, 5) if m != n])
            yes, no = (("Is there exactly one object in this image?" if m == 1
                        else f"Are there exactly {NUMBER_WORDS[m]} objects in this image?") for m in (n, wrong))
        elif category == "position":
            other = rng.choice([c for c in range(len(POSITIONS)) if c != obj.cell])
            yes, no = (f"Is the {obj.word} {POSITION_PHRASES[c]} of the image?" for c in (obj.cell, other))
        else:
            other = rng.choice([c for c in COLOR_NAMES if c != obj.color])
            yes, no = (f"Is there {article(f'{c} {obj.word}')} in this image?" for c in (obj.color, other))
        for question, answer in ((yes, "Yes"), (no, "No")):
            rows.append({"question_id": f"{category}/{scene.file_name}", "image": _image_value(cache, scene),
                         "question": question + MME_SUFFIX, "answer": answer, "category": category})
    return rows


def _choice_question(scene: Scene, kind: str, rng: random.Random,
                     n_options: int = 4) -> tuple[str, str, list[str]] | None:
    """(question, correct option, distractors) of one kind, or None when the scene cannot ask it."""
    obj = _probe_object(scene, rng)
    if kind == "identity":
        return ("Which of the following objects is in the image?", obj.word,
                [_word(c) for c in _absent(scene, rng, n_options - 1)])
    if kind == "color":
        return (f"What is the color of the {obj.word}?", obj.color,
                rng.sample([c for c in COLOR_NAMES if c != obj.color], n_options - 1))
    if kind == "location":
        return (f"Where is the {obj.word} in the image?", obj.position,
                rng.sample([p for p in POSITIONS if p != obj.position], n_options - 1))
    if kind == "count":
        n = len(scene.objects)
        return ("How many objects are there in the image?", str(n),
                [str(m) for m in rng.sample([m for m in range(1, 6) if m != n], n_options - 1)])
    if kind == "left_of":
        pairs = [(a, b) for a in scene.objects for b in scene.objects if a.column < b.column]
        if not pairs:
            return None
        a, b = rng.choice(pairs)
        distractors = [_word(c) for c in _absent(scene, rng, n_options - 1)]
        return f"Which object is to the left of the {b.word}?", a.word, distractors
    raise ValueError(kind)


def seed_rows(scenes: list[Scene], n: int, rng: random.Random, folder: Path, cache: dict) -> list[dict]:
    kinds = ((2, "identity"), (3, "color"), (4, "location"), (5, "count"))  # SEED question_type_id
    rows = []
    for i, scene in enumerate(_draw(scenes, n, rng)):
        type_id, kind = kinds[i % len(kinds)]
        question, correct, distractors = _choice_question(scene, kind, rng)
        options, answer = _options(correct, distractors, rng)
        _place(folder / "images" / scene.file_name, _png(cache, scene))
        rows.append({"answer": LETTERS[answer], "choice_a": options[0], "choice_b": options[1],
                     "choice_c": options[2], "choice_d": options[3], "data_id": scene.file_name,
                     "data_type": "image", "question": question, "question_id": str(i),
                     "question_type_id": type_id, "image": f"images/{scene.file_name}"})
    return rows


def mmbench_rows(scenes: list[Scene], n: int, rng: random.Random, cache: dict) -> list[dict]:
    """n questions (index 0..n-1) and, for each, 3 copies with the options rotated (index + k * 1e6)."""
    kinds = (("object_localization", "location"), ("attribute_recognition", "color"),
             ("spatial_relationship", "left_of"))
    originals = []
    pool = _draw(scenes, len(scenes), rng)
    position = 0
    while len(originals) < n:
        category, kind = kinds[len(originals) % len(kinds)]
        scene = pool[position % len(pool)]
        position += 1
        if position > 50 * (n + len(pool)):
            raise CsrBenchError(f"mmbench: the evaluation scenes cannot give {n} questions")
        asked = _choice_question(scene, kind, rng)
        if asked is None:
            continue
        question, correct, distractors = asked
        options, answer = _options(correct, distractors, rng)
        originals.append((scene, category, question, options, answer))
    rows = []
    for k in range(4):
        for index, (scene, category, question, options, answer) in enumerate(originals):
            rotated = options[k:] + options[:k]
            rows.append({"index": k * 1_000_000 + index, "question": question, "hint": None,
                         "A": rotated[0], "B": rotated[1], "C": rotated[2], "D": rotated[3],
                         "answer": LETTERS[(answer - k) % 4], "category": category,
                         "image": _image_value(cache, scene), "source": "csr-bench-world",
                         "L2-category": "finegrained_perception (instance-level)", "comment": None, "split": "dev"})
    return rows


def scienceqa_rows(scenes: list[Scene], n: int, rng: random.Random, cache: dict) -> list[dict]:
    kinds = (("identity", "Which object is in the picture?"), ("color", None), ("count", None))
    rows = []
    for i, scene in enumerate(_draw(scenes, n, rng)):
        kind, wording = kinds[i % len(kinds)]
        n_options = rng.choice((2, 3, 4))
        question, correct, distractors = _choice_question(scene, kind, rng, n_options)
        options, answer = _options(correct, distractors, rng)
        rows.append({"image": _image_value(cache, scene), "question": wording or question, "choices": options,
                     "answer": answer, "hint": "", "task": "closed choice", "grade": "grade1",
                     "subject": "natural science", "topic": "world", "category": "Object recognition",
                     "skill": "Identify objects and their attributes", "lecture": "", "solution": ""})
    return rows


def _gqa_question(scene: Scene, kind: str, rng: random.Random) -> tuple[str, str, str, dict] | None:
    """(question, answer, fullAnswer, types) or None when the scene cannot ask it."""
    obj = _probe_object(scene, rng)
    if kind == "exist":
        if rng.random() < 0.5:
            return (f"Is there {article(obj.word)} in the picture?", "yes", f"Yes, there is {article(obj.word)}.",
                    {"structural": "verify", "semantic": "obj", "detailed": "exist"})
        word = _word(_absent(scene, rng)[0])
        return (f"Is there {article(word)} in the picture?", "no", f"No, there is no {word}.",
                {"structural": "verify", "semantic": "obj", "detailed": "exist"})
    if kind == "both":  # half "yes" (a pair shown whole) where the scene has one, else an absent partner
        whole = [o for o in scene.objects if scene.has(CATEGORIES[o.category].partner)]
        lonely = [o for o in scene.objects if o not in whole]
        obj = rng.choice(whole if whole and (not lonely or rng.random() < 0.5) else lonely)
        other = CATEGORIES[obj.category].partner
        present = scene.has(other)
        return (f"Are there both {article(obj.word)} and {article(_word(other))} in the picture?",
                "yes" if present else "no",
                f"Yes, there are both {article(obj.word)} and {article(_word(other))}." if present
                else f"No, there is {article(obj.word)} but no {_word(other)}.",
                {"structural": "logical", "semantic": "obj", "detailed": "existAnd"})
    if kind == "color":
        return (f"What color is the {obj.word}?", obj.color, f"The {obj.word} is {obj.color}.",
                {"structural": "query", "semantic": "attr", "detailed": "color"})
    if kind == "side":
        sided = [o for o in scene.objects if o.column != 1]
        if not sided:
            return None
        o = rng.choice(sided)
        side = "left" if o.column == 0 else "right"
        return (f"Is the {o.word} on the left or on the right?", side, f"The {o.word} is on the {side}.",
                {"structural": "choose", "semantic": "rel", "detailed": "positionChoose"})
    if kind == "what":
        o = rng.choice(scene.objects)
        return (f"What object is {POSITION_PHRASES[o.cell]}?", o.word, f"The object is {article(o.word)}.",
                {"structural": "query", "semantic": "obj", "detailed": "objPosition"})
    raise ValueError(kind)


def gqa_rows(scenes: list[Scene], n: int, rng: random.Random, folder: Path, cache: dict) -> list[dict]:
    kinds = ("exist", "color", "both", "side", "what")
    rows = []
    turn = 0
    for scene in _draw(scenes, (n + 1) // 2, rng):
        image_id = f"n{scene.image_id}"
        _place(folder / "images" / f"{image_id}.png", _png(cache, scene))
        asked = 0
        while asked < 2 and len(rows) < n:
            kind = kinds[turn % len(kinds)]
            turn += 1
            made = _gqa_question(scene, kind, rng)
            if made is None:
                continue
            question, answer, full, types = made
            rows.append({"id": f"w{len(rows):07d}", "imageId": image_id, "question": question, "answer": answer,
                         "fullAnswer": full, "isBalanced": True, "types": types})
            asked += 1
    return rows


def _ten(answer: str, variants: list[str], rng: random.Random) -> list[str]:
    """Ten annotator answers: mostly the answer, up to two variants of it."""
    answers = [answer] * 10
    for i in rng.sample(range(10), rng.choice((0, 1, 2)) if variants else 0):
        answers[i] = rng.choice(variants)
    return answers


UNANSWERABLE = ("What does the label say?", "What is the expiration date on this?", "What brand is this?",
                "Can you read the text on this?")


def vizwiz_rows(scenes: list[Scene], n: int, rng: random.Random, folder: Path, cache: dict) -> list[dict]:
    kinds = ("other", "yes/no", "other", "number", "unanswerable")
    rows = []
    for i, scene in enumerate(_draw(scenes, n, rng)):
        category = kinds[i % len(kinds)]
        obj = _probe_object(scene, rng)
        if category == "other" and len(scene.objects) == 1:
            question, answers = "What is this?", _ten(obj.word, [article(obj.word), f"{obj.color} {obj.word}"], rng)
        elif category == "other":
            question, answers = (f"What color is the {obj.word}?",
                                 _ten(obj.color, [f"light {obj.color}", f"dark {obj.color}"], rng))
        elif category == "yes/no":
            present = rng.random() < 0.5
            word = obj.word if present else _word(_absent(scene, rng)[0])
            question, answers = f"Is there {article(word)} here?", _ten("yes" if present else "no", [], rng)
        elif category == "number":
            count = len(scene.objects)
            question, answers = "How many things are in this picture?", _ten(str(count), [NUMBER_WORDS[count]], rng)
        else:
            question, answers = rng.choice(UNANSWERABLE), ["unanswerable"] * 10
        name = f"VizWiz_val_{i:08d}.png"
        _place(folder / "images" / name, _png(cache, scene))
        rows.append({"question_id": name, "image": f"images/{name}", "question": question, "answers": answers,
                     "category": category})
    return rows


# ---------------------------------------------------------------------------------------------
# The AMBER-like task (amber_world), in AMBER's layout (junyangwang0410/AMBER @ 534babf: data/query,
# data/annotations.json, data/relation.json, data/safe_words.txt, read by its inference.py).

AMBER_PROMPT = "Describe this image."  # AMBER's generative query (data/query/query_generative.json)
# AMBER's type strings (data/annotations.json); the world has no actions, so no
# "discriminative-attribute-action" question.
AMBER_TYPES = {"existence": "discriminative-hallucination", "state": "discriminative-attribute-state",
               "number": "discriminative-attribute-number", "relation": "discriminative-relation"}
AMBER_DIMENSIONS = {"existence": "existence", "state": "attribute", "number": "attribute", "relation": "relation"}
# (phrase, axis, sign): "a <phrase> b" is true when a's coordinate on the axis (0 column, 1 row) is
# smaller (-1) or larger (+1) than b's; equal coordinates are never asked about.
RELATIONS = (("to the left of", 0, -1), ("to the right of", 0, 1), ("above", 1, -1), ("below", 1, 1))


def amber_word(category: str) -> str:
    """The one noun naming the category that AMBER's noun extraction (nltk: one token per noun) can
    find: the caption word's head noun ("traffic light" -> "light"; "traffic" is no object word, so
    a description's "traffic light" counts once, as "light")."""
    return CATEGORIES[category].word.split()[-1]


def _yes_no(n: int, rng: random.Random) -> list[str]:
    """n answers, half "yes" and half "no" (one more "yes" when n is odd), in a drawn order."""
    answers = ["yes", "no"] * (n // 2) + ["yes"] * (n % 2)
    rng.shuffle(answers)
    return answers


def _amber_existence(scene: Scene, answer: str, partner_turn: bool, rng: random.Random) -> str:
    """"yes": an object of the scene; "no": an absent partner (on partner turns, when the scene
    has one) or another absent object."""
    if answer == "yes":
        word = rng.choice(scene.objects).word
    else:
        partners = list(dict.fromkeys(scene.absent_partners))
        others = [c for c in scene.absent() if c not in partners]
        word = _word(rng.choice(partners if partner_turn and partners else others or partners))
    return f"Is there {article(word)} in this image?"


def _amber_state(scene: Scene, answer: str, colour_turn: bool, rng: random.Random) -> str:
    """An object's colour (or size: the world's three exclusive classes), the true one or another."""
    obj = rng.choice(scene.objects)
    true, choices = (obj.color, COLOR_NAMES) if colour_turn else (obj.size, SIZES)
    value = true if answer == "yes" else rng.choice([c for c in choices if c != true])
    return f"Is the {obj.word} {value} in this image?"


def _amber_number(scene: Scene, answer: str, rng: random.Random) -> str:
    """The count of objects (one of each kind at most in a scene, so a kind's count is existence)."""
    n = len(scene.objects)
    m = n if answer == "yes" else rng.choice([m for m in range(1, EVAL_SAMPLER.max_objects + 1) if m != n])
    return "Is there exactly one object in this image?" if m == 1 else \
        f"Are there exactly {NUMBER_WORDS[m]} objects in this image?"


def _amber_relation(scene: Scene, answer: str, rng: random.Random) -> str | None:
    """Where one object is beside another, or None when no two objects differ in column or row."""
    asked = [(a, b, phrase, axis, sign) for a in scene.objects for b in scene.objects if a is not b
             for phrase, axis, sign in RELATIONS if (a.column, a.row)[axis] != (b.column, b.row)[axis]]
    if not asked:
        return None
    truth = [q for q in asked if ((q[0].column, q[0].row)[q[3]] - (q[1].column, q[1].row)[q[3]]) * q[4] > 0]
    pool = truth if answer == "yes" else [q for q in asked if q not in truth]
    a, b, phrase, _, _ = rng.choice(pool)
    return f"Is the {a.word} {phrase} the {b.word} in this image?"


def amber_rows(scenes: list[Scene], sizes: BenchmarkSizes, rng: random.Random, folder: Path,
               cache: dict) -> tuple[list[dict], list[dict]]:
    """(queries, annotations) in AMBER's layout: descriptions of the drawn images first (ids 1..G),
    then the yes/no questions about the same images, kind by kind, each kind half "yes"."""
    images = _draw(scenes, sizes.amber_images, rng)
    names = [f"images/amber_{i}.png" for i in range(1, len(images) + 1)]
    for scene, name in zip(images, names):
        _place(folder / name, _png(cache, scene))
    rows, annotations = [], []
    for scene, name in zip(images, names):
        rows.append({"id": len(rows) + 1, "image": name, "query": AMBER_PROMPT, "type": "generative",
                     "part": "generative", "dimension": "generative"})
        truth = list(dict.fromkeys(amber_word(c) for c in scene.categories))
        hallu = list(dict.fromkeys(amber_word(c) for c in scene.absent_partners))
        annotations.append({"id": len(annotations) + 1, "type": "generative", "truth": truth, "hallu": hallu})
    counts = {"existence": sizes.amber_existence, "state": sizes.amber_state, "number": sizes.amber_number,
              "relation": sizes.amber_relation}
    for kind, n in counts.items():
        start = rng.randrange(len(images))  # each kind starts at another image and walks through them all
        position = start
        noes = 0
        for j, answer in enumerate(_yes_no(n, rng)):
            question = None
            for _ in range(len(images)):
                scene, name = images[position % len(images)], names[position % len(images)]
                position += 1
                if kind == "existence":  # every other "no" asks about an absent partner
                    question = _amber_existence(scene, answer, noes % 2 == 0, rng)
                elif kind == "state":  # two colour questions, then one size question
                    question = _amber_state(scene, answer, j % 3 != 2, rng)
                elif kind == "number":
                    question = _amber_number(scene, answer, rng)
                else:
                    question = _amber_relation(scene, answer, rng)
                if question is not None:
                    break
            if question is None:
                raise CsrBenchError(f"amber_world: none of the {len(images)} drawn images can be asked a {kind} question")
            noes += answer == "no"
            rows.append({"id": len(rows) + 1, "image": name, "query": question, "type": AMBER_TYPES[kind],
                         "part": "discriminative", "dimension": AMBER_DIMENSIONS[kind]})
            annotations.append({"id": len(annotations) + 1, "type": AMBER_TYPES[kind], "truth": answer})
    return rows, annotations


def write_amber(scenes: list[Scene], sizes: BenchmarkSizes, rng: random.Random, folder: Path,
                cache: dict) -> int:
    """amber_world/: amber.jsonl, images/, and annotations/ (annotations.json, relation.json,
    safe_words.txt) as AMBER's data/ has them; returns the number of queries."""
    rows, annotations = amber_rows(scenes, sizes, rng, folder, cache)
    atomic_write_jsonl(folder / "amber.jsonl", rows)
    atomic_write_text(folder / "annotations" / "annotations.json", json.dumps(annotations, indent=1) + "\n")
    # Every object word of the world, with no other name: world captions name each object by one word
    # (plurals are lemmatised by AMBER's extraction). AMBER's own associations (car -> window, door,
    # light, ...) name parts and neighbours of real photographs, which world images do not have.
    relation = {amber_word(c): [] for c in CATEGORY_NAMES}
    atomic_write_text(folder / "annotations" / "relation.json", json.dumps(relation, indent=1) + "\n")
    # Empty: only relation.json's words are counted, and each names an object of the world.
    atomic_write_text(folder / "annotations" / "safe_words.txt", "")
    return len(rows)


# ---------------------------------------------------------------------------------------------
# The OOD robustness task (unicorn_world), in Unicorn's OODCV-VQA row schema (UCSC-VLAA/vllm-safety-benchmark
# @ HEAD, safety_evaluations/ood_scenarios/eval_datasets.py OODCVDataset: image, question, answer,
# text_answer, situation), scored by its rule (csr_bench/scorers/unicorn.py). The same questions about the
# same scenes in each situation: the world's own rendering (iid) and two it never trained on.

UNICORN_SITUATIONS: dict[str, dict[str, Any]] = {
    "iid": {},  # as every other world benchmark draws it
    "outline": {"outline": True},  # strokes only: Sketchy-VQA's line drawings
    "unseen_colour": {"colors": UNSEEN_COLORS},  # colours no training scene has: OODCV's texture shift
}
COUNT_QUESTION = "How many objects are there in the image?"  # the world VLM's training wording (text.qa_pairs)


def unicorn_questions(scenes: list[Scene], sizes: BenchmarkSizes, rng: random.Random) -> list[tuple[Scene, str, str]]:
    """(scene, question, text answer), one question per scene (distinct scenes while there are enough:
    Unicorn's evaluation keys answers by image, so a second question on an image would replace the
    first). Existence questions as POPE asks them, half "Yes" (an object of the scene) and half "No"
    (an absent partner, the object a prior-driven model names, where the scene has one; else another
    absent object); then the count questions."""
    drawn = _draw(scenes, sizes.unicorn_existence + sizes.unicorn_count, rng)
    questions = []
    for scene, answer in zip(drawn, _yes_no(sizes.unicorn_existence, rng)):
        if answer == "yes":
            category = rng.choice(scene.categories)
        else:
            partners = list(dict.fromkeys(scene.absent_partners))
            category = rng.choice(partners or list(scene.absent()))
        questions.append((scene, existence_question(category), answer.capitalize()))
    for scene in drawn[sizes.unicorn_existence:]:
        questions.append((scene, COUNT_QUESTION, str(len(scene.objects))))
    return questions


def write_unicorn_world(scenes: list[Scene], sizes: BenchmarkSizes, rng: random.Random, folder: Path,
                        cache: dict) -> int:
    """unicorn_world/: oodcv-vqa.json (one JSON array, as Unicorn's file) and images/<situation>/, the
    questions of unicorn_questions in each situation in turn; returns the number of rows."""
    questions = unicorn_questions(scenes, sizes, rng)
    rows = []
    for situation, options in UNICORN_SITUATIONS.items():
        for k, (scene, question, text_answer) in enumerate(questions):
            image = f"images/{situation}/{scene.file_name}"
            if not (folder / image).exists():
                _place(folder / image, _png(cache, scene) if not options else png_bytes(scene, **options))
            # `answer` is the text answer, as in HELM's copy (PahaII/unicorn). OODCV's own file also has
            # `options` and an `answer` that evaluation.py's unused get_prompt_choose reads ("choose from A or
            # B"; not seen here): the world asks no multiple choice, so neither is written.
            rows.append({"question_id": f"{situation}/{k}", "pair": k, "image": image, "question": question,
                         "answer": text_answer, "text_answer": text_answer, "situation": situation})
    atomic_write_text(folder / "oodcv-vqa.json", json.dumps(rows, indent=1) + "\n")
    return len(rows)


# ---------------------------------------------------------------------------------------------
# Writing


def _place(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _check_clearable(root: Path) -> list[str]:
    """The outputs present in ``root``; an error if they are not a world's (finished, or being written)."""
    present = [name for name in OUTPUTS if (root / name).exists()]
    if present and not (root / "world.json").is_file() and not (root / WRITING_MARKER).is_file():
        raise CsrBenchError(f"{root} already holds {', '.join(present)} and no world.json: not a world folder, "
                            f"refusing to overwrite it")
    return present


def _clear(root: Path) -> None:
    """Remove a previous world's outputs; refuse to overwrite folders some other data put there."""
    for name in _check_clearable(root):
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def write_world_benchmarks(world: World, root: Path, seed: int = 0,
                           sizes: BenchmarkSizes | None = None) -> dict[str, Any]:
    """Write the training data, the COCO files and every benchmark under ``root``; returns the
    manifest (also written as root/world.json)."""
    from csr_bench.builders.chair_set import build_chair_set
    from csr_bench.builders.pope import build_pope
    from csr_bench.world import WORLD_VERSION

    sizes = sizes or BenchmarkSizes()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _check_clearable(root)
    (root / WRITING_MARKER).touch()  # before anything is cleared or written: a crash leaves a folder we may clear
    _clear(root)
    cache: dict[int, bytes] = {}

    # Training data and the COCO layout of both splits.
    train_rows = []
    for scene in world.train:
        _place(root / "train" / "images" / scene.file_name, png_bytes(scene))
        train_rows.append(_scene_record(scene, f"images/{scene.file_name}"))
    atomic_write_jsonl(root / "train" / "train.jsonl", train_rows)
    coco = root / "coco"
    write_annotations(world, coco / "annotations")
    eval_folder = COCO_SPLIT["eval"]
    for scene in world.eval:
        _place(coco / eval_folder / scene.file_name, _png(cache, scene))
    atomic_write_jsonl(coco / "eval_scenes.jsonl",
                 [_scene_record(s, f"{eval_folder}/{s.file_name}") for s in world.eval])

    for scene in world.prompt:  # images only: CSR's prompts
        _place(root / "prompts" / "images" / scene.file_name, png_bytes(scene))

    counts: dict[str, int] = {"train_images": len(world.train), "eval_images": len(world.eval),
                              "prompt_images": len(world.prompt)}
    pope = build_pope(coco / "annotations" / f"instances_{eval_folder}.json", coco / eval_folder, root / "pope",
                      images_per_split=sizes.pope_images_per_split, seed=seed)
    counts["pope"] = pope["questions"]
    counts["chair"] = build_chair_set(coco, root / "chair", n=min(sizes.chair_images, len(world.eval)),
                                      seed=seed)["images"]

    scenes = world.eval
    mme = mme_rows(scenes, sizes.mme_images, _rng(seed, "mme"), cache)
    _write_parquet(root / "mme" / "test-00000-of-00001.parquet", mme)
    seed_bench = seed_rows(scenes, sizes.seed_questions, _rng(seed, "seed"), root / "seed", cache)
    atomic_write_jsonl(root / "seed" / "seed.jsonl", seed_bench)
    mmbench = mmbench_rows(scenes, sizes.mmbench_questions, _rng(seed, "mmbench"), cache)
    _write_parquet(root / "mmbench" / "dev-00000-of-00001.parquet", mmbench)
    sqa = scienceqa_rows(scenes, sizes.scienceqa_questions, _rng(seed, "scienceqa"), cache)
    _write_parquet(root / "scienceqa" / "test-00000-of-00001.parquet", sqa)
    gqa = gqa_rows(scenes, sizes.gqa_questions, _rng(seed, "gqa"), root / "gqa", cache)
    atomic_write_jsonl(root / "gqa" / "questions.jsonl", gqa)
    vizwiz = vizwiz_rows(scenes, sizes.vizwiz_questions, _rng(seed, "vizwiz"), root / "vizwiz", cache)
    atomic_write_jsonl(root / "vizwiz" / "vizwiz.jsonl", vizwiz)
    counts.update({"mme": len(mme), "seed": len(seed_bench), "mmbench": len(mmbench), "scienceqa": len(sqa),
                   "gqa": len(gqa), "vizwiz": len(vizwiz)})
    # Its own random stream, written after the others: no other benchmark's data changes.
    counts["amber_world"] = write_amber(scenes, sizes, _rng(seed, "amber_world"), root / "amber_world", cache)
    counts["unicorn_world"] = write_unicorn_world(scenes, sizes, _rng(seed, "unicorn_world"), root / "unicorn_world",
                                                  cache)
    counts.update(write_reward_pairs(world, root, seed))  # MJ-Bench's world pairs, on their own streams

    manifest = {
        "world_version": WORLD_VERSION, "seed": world.seed, "benchmark_seed": seed, "image_size": world.image_size,
        "categories": [{"name": c.name, "coco_id": c.coco_id, "supercategory": c.supercategory, "word": c.word,
                        "partner": c.partner} for c in CATEGORIES.values()],
        "pairs": [list(p) for p in PAIRS], "colors": list(COLOR_NAMES), "positions": list(POSITIONS),
        "samplers": {split: asdict(config) for split, config in SAMPLERS.items()},
        "partner_rate": {"train": partner_rate(world.train), "eval": partner_rate(world.eval),
                         **({"prompt": partner_rate(world.prompt)} if world.prompt else {})},
        "prior_breaking_scenes": {"train": sum(s.breaks_prior for s in world.train),
                                  "eval": sum(s.breaks_prior for s in world.eval)},
        "cooccurrence_train": cooccurrence(world.train), "sizes": asdict(sizes), "counts": counts,
    }
    atomic_write_text(root / "world.json", json.dumps(manifest, indent=2) + "\n")  # last: the world is complete
    (root / WRITING_MARKER).unlink(missing_ok=True)
    return manifest


def write_world(root: Path, seed: int = 0, n_train: int = 3000, n_eval: int = 2000, image_size: int = 96,
                sizes: BenchmarkSizes | None = None, n_prompt: int = 1000) -> dict[str, Any]:
    """Generate the world of ``seed`` and write all of it under ``root``."""
    from csr_bench.world.scenes import generate_world

    return write_world_benchmarks(generate_world(seed, n_train, n_eval, image_size, n_prompt), root, seed, sizes)


__all__ = ["AMBER_PROMPT", "AMBER_TYPES", "BenchmarkSizes", "OUTPUTS", "UNICORN_SITUATIONS", "amber_rows", "amber_word",
           "unicorn_questions", "write_amber", "write_unicorn_world", "write_world", "write_world_benchmarks"]
