"""Rule-based hallucination injection (ours, offline): a truthful answer's twin with one object
swapped for one that co-occurs with it, one colour or size changed and one count changed.

POVID injected its hallucinations with GPT-4V and an unreleased prompt; this is csr-bench's own
offline stand-in, deterministic given a seed, and it reports every edit it made. Object mentions
are read as CHAIR reads them (scorers/chair_words.object_spans: COCO category names, synonyms,
plurals), so an injected object is one CHAIR counts. Details: docs/methods.md, "Hallucination injection".
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from csr_bench.errors import CsrBenchError

EDIT_KINDS = ("object", "attribute", "count")
DEFAULT_COLORS = ("red", "green", "blue", "yellow", "purple", "pink", "white", "black", "brown", "gray")
DEFAULT_SIZES = ("tiny", "small", "large", "big")
# Counts "two" .. "ten" are changed by one up or down, never to "one" (a singular noun would follow a
# plural one); "one" and "a" are left alone for the same reason.
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

# The word an injected COCO object is written with where its category name is not what text says.
COCO_SURFACE_WORDS = {"sports ball": "ball", "dining table": "table", "potted plant": "plant",
                      "hair drier": "hair dryer", "tv": "TV", "cell phone": "phone"}
_IRREGULAR_PLURALS = {"knife": "knives", "mouse": "mice", "person": "people", "skis": "skis",
                      "scissors": "scissors", "sheep": "sheep", "bus": "buses", "couch": "couches",
                      "sandwich": "sandwiches", "toothbrush": "toothbrushes", "wine glass": "wine glasses"}

# A small hand-written default (ours, not computed from COCO): objects that commonly appear together
# in COCO images, for `csr-bench inject` without --cooccurrence. Symmetric, weight 1 each.
DEFAULT_COCO_PAIRS = (
    ("fork", "knife"), ("knife", "spoon"), ("fork", "spoon"), ("cup", "spoon"), ("cup", "bowl"),
    ("dining table", "chair"), ("dining table", "cup"), ("dining table", "bottle"), ("wine glass", "bottle"),
    ("laptop", "mouse"), ("laptop", "keyboard"), ("keyboard", "mouse"), ("tv", "remote"), ("couch", "tv"),
    ("couch", "remote"), ("bed", "book"), ("oven", "microwave"), ("sink", "toilet"), ("sink", "refrigerator"),
    ("car", "traffic light"), ("car", "truck"), ("bus", "car"), ("stop sign", "car"), ("fire hydrant", "car"),
    ("motorcycle", "car"), ("bicycle", "person"), ("skis", "person"), ("surfboard", "person"),
    ("tennis racket", "sports ball"), ("baseball bat", "baseball glove"), ("dog", "frisbee"),
    ("dog", "sports ball"), ("horse", "person"), ("umbrella", "handbag"), ("backpack", "handbag"),
    ("pizza", "dining table"), ("sandwich", "cup"), ("apple", "banana"), ("banana", "orange"),
    ("broccoli", "carrot"), ("donut", "cake"), ("book", "clock"), ("vase", "potted plant"),
    ("bench", "person"), ("kite", "person"))


@dataclass(frozen=True)
class InjectionRules:
    """What the injector may change: objects (category -> {co-occurring category: weight}, words as
    CHAIR names COCO categories), the colour and size words, and which kinds of edit to make."""

    cooccurrence: Mapping[str, Mapping[str, float]]
    colors: tuple[str, ...] = DEFAULT_COLORS
    sizes: tuple[str, ...] = DEFAULT_SIZES
    words: Mapping[str, str] = field(default_factory=lambda: dict(COCO_SURFACE_WORDS))  # category -> text word
    kinds: tuple[str, ...] = EDIT_KINDS

    def word(self, category: str) -> str:
        return self.words.get(category, category)

    def describe(self) -> dict[str, Any]:
        """What a preference set's details record about the rules."""
        return {"injector": "rules (ours)", "edits": list(self.kinds), "objects": len(self.cooccurrence),
                "colors": list(self.colors), "sizes": list(self.sizes)}


@dataclass(frozen=True)
class Edit:
    kind: str  # object | attribute | count
    start: int  # offsets in the original text
    end: int
    before: str
    after: str

    def record(self) -> dict[str, str]:
        return {"kind": self.kind, "from": self.before, "to": self.after}


@dataclass(frozen=True)
class Injection:
    text: str
    edits: tuple[Edit, ...]

    def records(self) -> list[dict[str, str]]:
        return [edit.record() for edit in self.edits]


def symmetric_table(pairs: Sequence[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """{a: {b: 1}, b: {a: 1}} for each pair (a, b)."""
    table: dict[str, dict[str, float]] = {}
    for a, b in pairs:
        table.setdefault(a, {})[b] = 1.0
        table.setdefault(b, {})[a] = 1.0
    return table


def default_coco_rules() -> InjectionRules:
    return InjectionRules(symmetric_table(DEFAULT_COCO_PAIRS))


def cooccurrence_from_coco(path: str | Path) -> dict[str, dict[str, float]]:
    """P(other in image | category in image) over a COCO instances file's images (pycocotools),
    keyed by category name."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CsrBenchError(f"--cooccurrence {path}: no such file (a COCO instances_*.json)")
    try:
        import contextlib
        import io

        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its loading progress
            coco = COCO(str(path))
        names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        raise CsrBenchError(f"--cooccurrence {path}: not a COCO instances file ({type(exc).__name__}: {exc})") from None
    images: dict[int, set[str]] = {}
    for annotation in coco.dataset.get("annotations", []):
        images.setdefault(annotation["image_id"], set()).add(names[annotation["category_id"]])
    holding: dict[str, int] = {}
    together: dict[str, dict[str, int]] = {}
    for present in images.values():
        for name in present:
            holding[name] = holding.get(name, 0) + 1
            for other in present - {name}:
                together.setdefault(name, {})[other] = together.setdefault(name, {}).get(other, 0) + 1
    table = {name: {other: count / holding[name] for other, count in sorted(others.items())}
             for name, others in sorted(together.items())}
    if not table:
        raise CsrBenchError(f"--cooccurrence {path}: no image holds two annotated categories")
    return table


def load_table(path: str | Path) -> dict[str, dict[str, float]]:
    """A co-occurrence table from a COCO instances file, or from a JSON {category: {other: weight}}."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CsrBenchError(f"--cooccurrence {path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise CsrBenchError(f"--cooccurrence {path}: not JSON ({exc})") from None
    if isinstance(data, dict) and "annotations" in data and "categories" in data:
        return cooccurrence_from_coco(path)
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()) and data:
        try:
            return {str(k): {str(o): float(w) for o, w in v.items()} for k, v in data.items()}
        except (TypeError, ValueError):
            pass
    raise CsrBenchError(f"--cooccurrence {path}: expected a COCO instances file or {{category: {{other: weight}}}}")


# ---------------------------------------------------------------------------------------------


def _pluralise(word: str) -> str:
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    return word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


def _match_case(replacement: str, original: str) -> str:
    return replacement[:1].upper() + replacement[1:] if original[:1].isupper() else replacement


def _word_spans(text: str, words: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, word) of each whole-word occurrence of ``words`` in ``text``, any case."""
    if not words:
        return []
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b",
                         re.IGNORECASE)
    return [(m.start(), m.end(), m.group(0).lower()) for m in pattern.finditer(text)]


def _free(spans: list[tuple[int, int, str]], taken: list[Edit]) -> list[tuple[int, int, str]]:
    return [s for s in spans if all(s[1] <= e.start or s[0] >= e.end for e in taken)]


def _object_edit(text: str, rules: InjectionRules, rng: random.Random) -> Edit | None:
    from csr_bench.scorers.chair_words import object_spans

    mentions = object_spans(text)
    named = {category for _, _, category in mentions}
    candidates = []
    for start, end, category in mentions:
        options = sorted(o for o in rules.cooccurrence.get(category, {}) if o not in named and o != category
                         and rules.cooccurrence[category][o] > 0)
        if options:
            candidates.append((start, end, category, options))
    if not candidates:
        return None
    start, end, category, options = rng.choice(candidates)
    new = rng.choices(options, weights=[rules.cooccurrence[category][o] for o in options])[0]
    before = text[start:end]
    surface = rules.word(new)
    from csr_bench.scorers.singularize import singularize

    plural = before.lower() != singularize(before.lower()) and before.lower().endswith("s")
    return Edit("object", start, end, before, _match_case(_pluralise(surface) if plural else surface, before))


def _attribute_edit(text: str, rules: InjectionRules, rng: random.Random, taken: list[Edit]) -> Edit | None:
    spans = _free(_word_spans(text, [*rules.colors, *rules.sizes]), taken)
    if not spans:
        return None
    start, end, word = rng.choice(spans)
    family = rules.colors if word in rules.colors else rules.sizes
    new = rng.choice([w for w in family if w != word])
    return Edit("attribute", start, end, text[start:end], _match_case(new, text[start:end]))


def _count_edit(text: str, rng: random.Random, taken: list[Edit]) -> Edit | None:
    spans = _free(_word_spans(text, NUMBER_WORDS[2:]), taken)
    if not spans:
        return None
    start, end, word = rng.choice(spans)
    n = NUMBER_WORDS.index(word)
    options = [m for m in (n - 1, n + 1) if 2 <= m < len(NUMBER_WORDS)]
    new = NUMBER_WORDS[rng.choice(options)]
    return Edit("count", start, end, text[start:end], _match_case(new, text[start:end]))


_ARTICLE = re.compile(r"\b(a|an)(\s+)$", re.IGNORECASE)


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """The edits applied right to left, with "a"/"an" right before an edited word made to agree."""
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        head, tail = text[:edit.start], text[edit.end:]
        article = _ARTICLE.search(head)
        if article:
            wanted = "an" if edit.after[:1].lower() in "aeiou" else "a"
            wanted = _match_case(wanted, article.group(1))
            head = head[:article.start()] + wanted + article.group(2)
        text = head + edit.after + tail
    return text


def inject(text: str, rules: InjectionRules, seed: int | str = 0) -> Injection:
    """``text`` with one edit of each kind in ``rules.kinds`` that it has a word for (object first,
    then attribute, then count, never two on one word); the same text, rules and seed give the same result."""
    unknown = sorted(set(rules.kinds) - set(EDIT_KINDS))
    if unknown:
        raise CsrBenchError(f"unknown injection edit kind(s) {', '.join(unknown)} (known: {', '.join(EDIT_KINDS)})")
    rng = random.Random(f"csr-bench-inject:{seed}")
    edits: list[Edit] = []
    if "object" in rules.kinds:
        edit = _object_edit(text, rules, rng)
        edits += [edit] if edit else []
    if "attribute" in rules.kinds:
        edit = _attribute_edit(text, rules, rng, edits)
        edits += [edit] if edit else []
    if "count" in rules.kinds:
        edit = _count_edit(text, rng, edits)
        edits += [edit] if edit else []
    edits.sort(key=lambda e: e.start)
    return Injection(apply_edits(text, edits), tuple(edits))


__all__ = ["COCO_SURFACE_WORDS", "DEFAULT_COCO_PAIRS", "EDIT_KINDS", "Edit", "Injection", "InjectionRules", "apply_edits",
           "cooccurrence_from_coco", "default_coco_rules", "inject", "load_table", "symmetric_table"]
