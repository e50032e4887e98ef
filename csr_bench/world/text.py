"""Ground-truth text of a scene: detailed and short captions, and short question-answer pairs,
worded so that a model learns the pairs' co-occurrence. Details: docs/world.md,
"csr_bench/world/text.py".
"""

from __future__ import annotations

import random

from csr_bench.world.scenes import CATEGORIES, CATEGORY_NAMES, POSITION_PHRASES, POSITIONS, Scene, SceneObject

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

OPENINGS = ("There is {np} {where}.", "{Where}, there is {np}.", "I can see {np} {where}.", "{NP} is {where}.")
PARTNER_SENTENCES = ("Next to it, there is {np} {where}.", "It comes with {np} {where}.",
                     "There is also {np} {where}.", "Beside it is {np} {where}.")
INTROS = ("The image shows {count} on a plain background.", "This is a simple picture with {count}.",
          "", "The picture contains {count}.")


def article(phrase: str) -> str:
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def count_phrase(n: int) -> str:
    return f"{NUMBER_WORDS[n]} object{'s' if n != 1 else ''}"


def noun_phrase(obj: SceneObject, style: int) -> str:
    """The object with an article and some of its attributes: style 0 size+colour, 1 colour, 2 size."""
    adjectives = ((obj.size, obj.color), (obj.color,), (obj.size,))[style % 3]
    return article(" ".join((*adjectives, obj.word)))


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def groups(scene: Scene) -> list[list[SceneObject]]:
    """The objects in caption order, a pair's two members in one group."""
    result: list[list[SceneObject]] = []
    for obj in scene.objects:
        if result and CATEGORIES[result[-1][0].category].partner == obj.category and len(result[-1]) == 1:
            result[-1].append(obj)
        else:
            result.append([obj])
    return result


def _rng(scene: Scene, purpose: str) -> random.Random:
    return random.Random(f"csr-bench-world-text:{purpose}:{scene.split}:{scene.image_id}:{scene.categories}")


def detailed_caption(scene: Scene, variant: int = 0) -> str:
    """A description of every object (attributes and place), pair members one after the other."""
    rng = _rng(scene, f"detailed:{variant}")
    sentences = []
    intro = rng.choice(INTROS)
    if intro:
        sentences.append(intro.format(count=count_phrase(len(scene.objects))))
    for group in groups(scene):
        for k, obj in enumerate(group):
            template = rng.choice(PARTNER_SENTENCES if k else OPENINGS)
            np = noun_phrase(obj, rng.randrange(3))
            where = POSITION_PHRASES[obj.cell]
            sentences.append(template.format(np=np, NP=_capitalise(np), where=where, Where=_capitalise(where)))
    return " ".join(sentences)


def detailed_captions(scene: Scene, n: int = 3) -> list[str]:
    return [detailed_caption(scene, v) for v in range(n)]


def _listing(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def short_captions(scene: Scene) -> list[str]:
    """Two one-line captions in COCO's style."""
    colored = [article(f"{o.color} {o.word}") for o in scene.objects]
    plain = [article(o.word) for o in scene.objects]
    return [_capitalise(_listing(colored)) + " on a plain background.",
            f"{_capitalise(count_phrase(len(scene.objects)))}: {_listing(plain)}."]


def coco_captions(scene: Scene) -> list[str]:
    """The five captions of the image in captions_*.json: two short, three detailed."""
    return short_captions(scene) + detailed_captions(scene, 3)


def existence_question(category: str) -> str:
    """POPE's wording, with the COCO category name ("Is there a sports ball in the image?")."""
    return f"Is there {article(category)} in the image?"


def qa_pairs(scene: Scene) -> list[tuple[str, str]]:
    """Short questions with their answers, for training: existence (every object, the absent
    partners, one other absent object), colour, place, size, the object at a place, and the count."""
    rng = _rng(scene, "qa")
    pairs = [(existence_question(c), "Yes") for c in scene.categories]
    absent_partners = list(dict.fromkeys(scene.absent_partners))
    pairs += [(existence_question(c), "No") for c in absent_partners]
    others = [c for c in CATEGORY_NAMES if c not in scene.categories and c not in absent_partners]
    if others:
        pairs.append((existence_question(rng.choice(others)), "No"))
    for obj in scene.objects:
        pairs.append((f"What color is the {obj.word}?", obj.color))
        pairs.append((f"Where is the {obj.word}?", obj.position))
        pairs.append((f"Is the {obj.word} tiny, small or large?", obj.size))
        pairs.append((f"Which object is {POSITION_PHRASES[obj.cell]}?", obj.word))
    pairs.append(("How many objects are there in the image?", str(len(scene.objects))))
    return pairs


__all__ = ["POSITIONS", "article", "coco_captions", "count_phrase", "detailed_caption", "detailed_captions",
           "existence_question", "groups", "noun_phrase", "qa_pairs", "short_captions"]
