"""The world's two ground-truth preference sets, on its unlabelled prompt images (the images CSR
draws its prompts from, with CSR's questions): what `--preferences world:povid` and `world:rlhf-v` train on.

- ``povid_set``: the scene's ground-truth detailed caption (chosen) vs its rule-injected twin
  (rejected; preference_data/injection/rules.py with the world's co-occurrence pairs), as POVID's
  stage-1 data pairs a ground-truth answer with a GPT-4V-injected one.
- ``rlhf_v_set``: like RLHF-V's fine-grained human feedback: a response of the base world VLM
  (rejected) and its minimal correction from the scene's annotations (chosen): wrong object
  words, colours, sizes, places and counts fixed in place, sentences about objects not in the
  image (or a second description of one already described) removed, everything else untouched.

The scenes behind the prompt images are regenerated from the world's seed (scenes.py; cheap) and
checked byte for byte against the image files. Details: docs/methods.md, "The world's preference sets".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from csr_bench.errors import CsrBenchError
from csr_bench.images import image_files
from csr_bench.preference_data.base import PreferenceSet, SourceContext
from csr_bench.preference_data.injection.rules import Edit, InjectionRules, apply_edits, inject, symmetric_table
from csr_bench.prompt_text import question_draw
from csr_bench.world.scenes import (CATEGORIES, COLOR_NAMES, COCO_SPLIT, ID_BASE, PAIRS, POSITION_PHRASES, SIZES,
                                    Scene, png_bytes, sample_scene)
from csr_bench.world.text import NUMBER_WORDS, count_phrase, detailed_caption

# CSR's prompt sample seed (CsrConfig.prompt_seed's default): each image gets the question CSR asks about it.
PROMPT_SEED = 0
RLHF_V_CACHE = "world-rlhf-v"  # under SourceContext.cache_dir: the generated responses (resumable)


@dataclass(frozen=True)
class PromptScene:
    prompt_id: str  # the image's path under the folder, without suffix (CSR's prompt id)
    image: Path  # absolute
    question: str
    scene: Scene


def world_rules() -> InjectionRules:
    """The rule-based injector with the world's co-occurrence pairs, colours, sizes and words."""
    return InjectionRules(cooccurrence=symmetric_table(PAIRS), colors=COLOR_NAMES, sizes=SIZES,
                          words={name: category.word for name, category in CATEGORIES.items()})


def _world_root(context: SourceContext) -> Path:
    from csr_bench.tasks.data import resolve_data_root

    root = resolve_data_root(context.data_root or "world")
    if root is None or not (root / "world.json").is_file():
        raise CsrBenchError(f"world preference sets need the world's data root (--data-root world or a folder "
                            f"`python -m csr_bench.world` wrote); {root} has no world.json")
    return root


def prompt_scenes(data_root: Path) -> list[PromptScene]:
    """The world's prompt images (sorted, as CSR lists a folder), each with CSR's question for it and
    the scene regenerated from the world's seed, checked byte for byte against the file."""
    manifest = json.loads((data_root / "world.json").read_text(encoding="utf-8"))
    seed, size = int(manifest["seed"]), int(manifest["image_size"])
    name = re.compile(rf"WORLD_{COCO_SPLIT['prompt']}_(\d{{12}})\.png")
    result = []
    folder = data_root / "prompts" / "images"
    paths = image_files(folder, "world preference sets: prompt images")
    questions, _ = question_draw(len(paths), PROMPT_SEED)  # CSR's question for each image
    for path, question in zip(paths, questions):
        match = name.fullmatch(path.name)
        index = int(match.group(1)) - ID_BASE["prompt"] if match else -1
        scene = sample_scene(seed, "prompt", index, size) if index >= 0 else None
        if scene is None or png_bytes(scene) != path.read_bytes():
            raise CsrBenchError(f"world preference sets: {path} is not a prompt image of the world of seed {seed} "
                                f"(its scene cannot be regenerated)")
        result.append(PromptScene(str(path.relative_to(folder).with_suffix("")), path.resolve(), question, scene))
    return result


# -- world:povid -----------------------------------------------------------------------------------


def povid_set(context: SourceContext) -> PreferenceSet:
    """chosen = the ground-truth detailed caption, rejected = its rule-injected twin (seeded by
    the run's seed and the image)."""
    rules = world_rules()
    items = prompt_scenes(_world_root(context))
    pairs, skipped = [], Counter()
    for item in items:
        chosen = detailed_caption(item.scene)
        injection = inject(chosen, rules, seed=f"{context.seed}:{item.prompt_id}")
        if not injection.edits:
            skipped["nothing to inject"] += 1
            continue
        pairs.append({"id": item.prompt_id, "image": str(item.image), "prompt": item.question, "chosen": chosen,
                      "rejected": injection.text, "injected": injection.records()})
    return PreferenceSet(source="world:povid", schema="world", pairs=pairs, rows=len(items), skipped=skipped,
                         details={"rule": "chosen: world/text.py detailed_caption(scene, 0); rejected: its "
                                          "rule-injected twin (ours)",
                                  "injection": {**rules.describe(), "seed": context.seed},
                                  "prompt": f"CSR's description questions, drawn with seed {PROMPT_SEED}"})


# -- world:rlhf-v ----------------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)\s*")


def _spans(text: str, words) -> list[tuple[int, int, str]]:
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b",
                         re.IGNORECASE)
    return [(m.start(), m.end(), m.group(0).lower()) for m in pattern.finditer(text)]


_WORD_CATEGORY = {category.word: name for name, category in CATEGORIES.items()}
_COUNT = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r") objects?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Correction:
    text: str
    edits: tuple[dict[str, str], ...]  # {"kind": object|color|size|position|count|removed, "from", "to"}


def correct_response(response: str, scene: Scene) -> Correction:
    """The response minimally corrected from the scene's annotations (see the module docstring).

    A sentence naming one object: an object of the image is matched by its kind, else (a wrong
    object word) by the place the sentence gives, when the object there is not named elsewhere;
    its colour, size, place and word are then made the object's. A sentence about no object of the
    image, or describing an object a second time, is removed. "N objects" gets the image's count. A
    sentence naming several objects is kept when all are in the image, else removed. Every other
    sentence is kept as it is."""
    sentences = [m.group(0) for m in _SENTENCE.finditer(response) if m.group(0).strip()]
    objects = [_spans(s, _WORD_CATEGORY) for s in sentences]
    named = {_WORD_CATEGORY[w] for spans in objects for _, _, w in spans}
    by_cell = {o.cell: o for o in scene.objects}
    target: dict[int, Any] = {}  # sentence -> the scene object it describes
    removed: set[int] = set()
    claimed: set[str] = set()
    for i, spans in enumerate(objects):  # objects named by their own kind first
        if len(spans) == 1 and scene.has(_WORD_CATEGORY[spans[0][2]]):
            category = _WORD_CATEGORY[spans[0][2]]
            if category in claimed:
                removed.add(i)
            else:
                claimed.add(category)
                target[i] = scene.object(category)
    for i, spans in enumerate(objects):  # then a wrong word, by its place
        if len(spans) == 1 and i not in target and i not in removed:
            places = _spans(sentences[i], POSITION_PHRASES)
            obj = by_cell.get(POSITION_PHRASES.index(places[0][2])) if len(places) == 1 else None
            if obj is not None and obj.category not in named and obj.category not in claimed:
                claimed.add(obj.category)
                target[i] = obj
            else:
                removed.add(i)
        elif len(spans) > 1 and not all(scene.has(_WORD_CATEGORY[w]) for _, _, w in spans):
            removed.add(i)

    edits: list[dict[str, str]] = []
    kept = []
    for i, sentence in enumerate(sentences):
        if i in removed:
            edits.append({"kind": "removed", "from": sentence.strip(), "to": ""})
            continue
        changes: list[Edit] = []
        if i in target:
            obj = target[i]
            wanted = [(_spans(sentence, _WORD_CATEGORY), obj.word, "object"),
                      (_spans(sentence, COLOR_NAMES), obj.color, "color"),
                      (_spans(sentence, SIZES), obj.size, "size"),
                      (_spans(sentence, POSITION_PHRASES), POSITION_PHRASES[obj.cell], "position")]
            for spans, value, kind in wanted:
                changes += [Edit(kind, a, b, sentence[a:b], value) for a, b, word in spans[:1] if word != value]
        elif not objects[i]:
            count = _COUNT.search(sentence)
            right = count_phrase(len(scene.objects))
            if count and count.group(0).lower() != right:
                changes.append(Edit("count", count.start(), count.end(), count.group(0), right))
        for change in changes:
            edits.append(change.record())
        text = apply_edits(sentence, [Edit(c.kind, c.start, c.end, c.before,
                                           c.after[:1].upper() + c.after[1:] if c.before[:1].isupper() else c.after)
                                      for c in changes])
        kept.append(text)
    return Correction("".join(kept).strip(), tuple(edits))


def _base_world_model(device: str | None):
    """The base world VLM, as `--model world` loads it."""
    from csr_bench.models.registry import resolve_model

    return resolve_model("world").loader("world", device=device)


def _chair_generation():
    """The generation settings evaluation uses for CHAIR captions (tasks/chair/chair.yaml: greedy)."""
    from csr_bench.tasks.registry import get_tasks

    return get_tasks("chair")[0].generation


def rlhf_v_set(context: SourceContext) -> PreferenceSet:
    """chosen = the corrected response, rejected = the base world VLM's response (see the module docstring)."""
    from csr_bench.models.registry import MODELS

    return build_rlhf_v_set(context, _base_world_model, model_label="world (base)",
                            batch_size=MODELS["world"].eval_batch_size)


def build_rlhf_v_set(context: SourceContext, load_model: Callable[[str | None], Any], *, model_label: str,
                     batch_size: int = 8) -> PreferenceSet:
    """``rlhf_v_set`` with the model that answers given (``load_model(device)``, loaded only when a
    response is missing). Responses are kept in ``context.cache_dir/world-rlhf-v/responses.jsonl``
    batch by batch: a rerun (after a kill) generates only the missing ones; other settings are refused."""
    from csr_bench.progress import progress_bar
    from csr_bench.storage.keyed_store import KeyedStore

    root = _world_root(context)
    items = prompt_scenes(root)
    generation = _chair_generation()
    folder = Path(context.cache_dir) / RLHF_V_CACHE
    settings = {"model": model_label, "world": str(root.resolve()), "prompt_seed": PROMPT_SEED,
                "generation": asdict(generation)}
    store = KeyedStore(folder / "responses.jsonl", "id", settings=settings, settings_file=folder / "settings.json",
                       stage="world:rlhf-v responses")
    missing = [item for item in items if item.prompt_id not in store]
    if missing:
        from csr_bench.images import open_rgb
        from csr_bench.models.base import GenerationRequest

        model = load_model(context.device)
        with progress_bar(total=len(items), desc="world:rlhf-v responses", initial=len(items) - len(missing)) as bar:
            for start in range(0, len(missing), batch_size):
                batch = missing[start:start + batch_size]
                requests = [GenerationRequest(open_rgb(item.image, f"prompt {item.prompt_id}"), item.question)
                            for item in batch]
                responses = model.generate(requests, generation)
                store.append({"id": item.prompt_id, "prompt": item.question, "response": response}
                             for item, response in zip(batch, responses))
                bar.update(len(batch))

    pairs, skipped = [], Counter()
    for item in items:
        response = store[item.prompt_id]["response"]
        correction = correct_response(response, item.scene)
        if not correction.edits:
            skipped["response already correct"] += 1
        elif not correction.text:
            skipped["nothing correct left"] += 1
        else:
            pairs.append({"id": item.prompt_id, "image": str(item.image), "prompt": item.question,
                          "chosen": correction.text, "rejected": response, "corrections": list(correction.edits)})
    return PreferenceSet(source="world:rlhf-v", schema="world", pairs=pairs, rows=len(items), skipped=skipped,
                         details={"rule": "rejected: the model's response; chosen: its minimal correction from the "
                                          "scene's annotations (world/preferences.py correct_response)",
                                  "model": model_label, "generation": asdict(generation),
                                  "prompt": f"CSR's description questions, drawn with seed {PROMPT_SEED}"})


__all__ = ["Correction", "PromptScene", "build_rlhf_v_set", "correct_response", "povid_set", "prompt_scenes",
           "rlhf_v_set", "world_rules"]
