"""AMBER (Wang et al., 2023, arXiv 2311.07397): hallucination in descriptions (CHAIR, Cover, Hal, Cog)
and in yes/no answers on existence, attribute and relation (accuracy, precision, recall, F1 of the
"no" class), scored as the official inference.py (junyangwang0410/AMBER @ 534babf) does, so numbers
compare with the paper's. Two scorers share every rule here and differ in the NLP pieces only
(scorers/amber_nouns.py): ``amber`` (official: nltk + WordNet + spaCy en_core_web_lg) and
``amber_offline`` (no downloaded data; not official). Details (the rules, the deliberate differences):
docs/benchmarks.md, "csr_bench/scorers/amber.py".
"""

from __future__ import annotations

import json
import logging
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.annotation_folder import annotation_folder, read_once
from csr_bench.scorers.amber_nouns import MissingPipeline, Pipeline, official_pipeline, offline_pipeline
from csr_bench.scorers.base import Metric, ScoringContext
from csr_bench.scorers.sample_columns import Columns, memo

log = logging.getLogger(__name__)

FILES = ("annotations.json", "relation.json", "safe_words.txt")
MISSING = "amber: no AMBER annotations: pass --annotations DIR holding annotations.json, relation.json, safe_words.txt"

# annotations.json's types -> the group inference.py counts them in. inference.py sends every type it
# does not name to relation ("asso"): both 'discriminative-relation' and 'relation' occur in the data.
GROUP_OF_TYPE = {
    "generative": "generative",
    "discriminative-hallucination": "existence",
    "discriminative-attribute-state": "state",
    "discriminative-attribute-number": "number",
    "discriminative-attribute-action": "action",
    "discriminative-relation": "relation",
    "relation": "relation",
}
GROUPS = ("generative", "existence", "state", "number", "action", "relation")  # codes of the "group" column
DIMENSION_OF_GROUP = {"generative": "generative", "existence": "existence", "state": "attribute",
                      "number": "attribute", "action": "attribute", "relation": "relation"}
# The discriminative sets inference.py reports, the groups each pools, and its F1 epsilon (existence's
# is 0.001, every other 0.0001). Each group's counters start at 0.001 (metrics.txt), so a pooled set's
# denominators carry 0.001 per group pooled (attribute: 0.003); the overall set has its own counters.
DISCRIMINATIVE_SETS = {
    "": (("existence", "state", "number", "action", "relation"), 0.0001, 0.001),
    "existence_": (("existence",), 0.001, 0.001),
    "attribute_": (("state", "number", "action"), 0.0001, 0.003),
    "state_": (("state",), 0.0001, 0.001),
    "number_": (("number",), 0.0001, 0.001),
    "action_": (("action",), 0.0001, 0.001),
    "relation_": (("relation",), 0.0001, 0.001),
}
START = 0.001  # metrics.txt's initial denominators


def part_of(kind: str) -> str:
    return "generative" if kind == "generative" else "discriminative"


def dimension_of(kind: str) -> str:
    return DIMENSION_OF_GROUP[GROUP_OF_TYPE[kind]]


# ---------------------------------------------------------------------------------------------------
# Annotations


@dataclass(frozen=True)
class Annotations:
    entries: Mapping[int, dict[str, Any]]  # annotations.json by id
    association: Mapping[str, list[str]]  # relation.json: object word -> its association words
    safe_words: frozenset[str]  # safe_words.txt
    vocabulary: frozenset[str]  # inference.py's hallucination_words: every key and association word

    def entry(self, doc_id: int) -> dict[str, Any]:
        if doc_id not in self.entries:
            raise CsrBenchError(f"amber: id {doc_id} is not in annotations.json")
        return self.entries[doc_id]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CsrBenchError(f"amber: cannot read {path} ({exc.strerror})") from None
    except ValueError as exc:
        raise CsrBenchError(f"amber: {path} is not JSON ({exc})") from None


def read_annotations(folder: Path) -> Annotations:
    """AMBER's three files, checked so that scoring cannot fail halfway (inference.py would raise a
    KeyError on a truth word missing from relation.json)."""
    lacking = [name for name in FILES if not (folder / name).is_file()]
    if lacking:
        raise CsrBenchError(f"amber: {folder} holds no {', '.join(lacking)} (AMBER's data/ files)")
    entries_list = _read_json(folder / "annotations.json")
    association = _read_json(folder / "relation.json")
    if not isinstance(entries_list, list) or not isinstance(association, dict):
        raise CsrBenchError(f"amber: {folder}: annotations.json must be a list and relation.json a mapping")
    if not all(isinstance(v, list) and all(isinstance(w, str) for w in v) for v in association.values()):
        raise CsrBenchError(f"amber: {folder / 'relation.json'}: each word must map to a list of words")
    # inference.py reads each line up to its newline; the last line may have none
    safe = frozenset(line.split("\n")[0] for line in
                     (folder / "safe_words.txt").read_text(encoding="utf-8").splitlines(keepends=True))
    entries: dict[int, dict[str, Any]] = {}
    for position, entry in enumerate(entries_list):
        where = f"amber: {folder / 'annotations.json'}: entry {position + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or entry.get("type") not in GROUP_OF_TYPE:
            raise CsrBenchError(f"{where}: needs an integer id and a type among {', '.join(GROUP_OF_TYPE)}")
        if entry["type"] == "generative":
            for key in ("truth", "hallu"):
                words = entry.get(key)
                if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                    raise CsrBenchError(f"{where} (id {entry['id']}): '{key}' must be a list of words")
                unknown = [w for w in words if w not in association]
                if unknown:
                    raise CsrBenchError(f"{where} (id {entry['id']}): {key} word '{unknown[0]}' is not in relation.json")
        elif entry.get("truth") not in ("yes", "no"):
            raise CsrBenchError(f"{where} (id {entry['id']}): truth must be 'yes' or 'no'")
        entries[entry["id"]] = entry
    vocabulary = frozenset(association) | frozenset(w for words in association.values() for w in words)
    return Annotations(entries, association, safe, vocabulary)


def annotations_of(context: ScoringContext | None) -> Annotations:
    """The context's annotation folder, read once per folder and content."""
    folder = annotation_folder(context.annotations if context is not None else None, "amber", MISSING)
    return read_once(folder, [folder / name for name in FILES if (folder / name).is_file()], read_annotations)


# ---------------------------------------------------------------------------------------------------
# Generative: inference.py's matching of nouns against the truth and hallu objects


@dataclass(frozen=True)
class Description:
    nouns: tuple[str, ...]  # the nouns that are AMBER words, in order (inference.py's after_process_nouns)
    unsafe: tuple[bool, ...]  # per noun: counted as a hallucination (safe_flag_list)
    truth: tuple[str, ...]
    truth_covered: tuple[bool, ...]  # per truth object: named (the tail of safe_list)
    hallu: tuple[str, ...]
    hallu_covered: tuple[bool, ...]  # per hallu object: named (the tail of ha_list)


def _candidates(objects: Sequence[str], association: Mapping[str, Sequence[str]]) -> list[tuple[str, int]]:
    """inference.py's safe_words / ha_words with safe_list / ha_list: each object's association
    words (objects in order), then the objects themselves, each with the index of its object. Setting
    ``covered[owner]`` of a hit is what inference.py's index arithmetic on the lists' tails does."""
    return [(word, i) for i, name in enumerate(objects) for word in association[name]] + \
           [(name, i) for i, name in enumerate(objects)]


def _mark_first(noun: str, candidates: list[tuple[str, int]], covered: list[bool],
                same: Callable[[str, str], bool]) -> bool:
    for word, owner in candidates:
        if same(noun, word):
            covered[owner] = True
            return True
    return False


def match_nouns(nouns: Sequence[str], truth: Sequence[str], hallu: Sequence[str], association: Mapping[str, Sequence[str]],
                safe_words: frozenset[str], vocabulary: frozenset[str], similar: Callable[[str, str], bool]) -> Description:
    """inference.py's loop for one description, its order of tests kept: a noun that is no AMBER word
    is dropped; a safe word is skipped (still a noun); an exact truth or association word covers that
    object; else an exact hallu word covers its hallu object and the similarity tests still follow
    (inference.py has no ``continue`` there): the first hallu word similar to it covers that object,
    the first truth word similar to it covers that object and clears the noun; a noun not cleared is
    a hallucination, whether it is a hallu word or any other AMBER word."""
    kept = tuple(noun for noun in nouns if noun in vocabulary)
    safe, hallucinated = _candidates(truth, association), _candidates(hallu, association)
    truth_covered, hallu_covered = [False] * len(truth), [False] * len(hallu)
    unsafe = [False] * len(kept)
    for index, noun in enumerate(kept):
        if noun in safe_words:
            continue
        if _mark_first(noun, safe, truth_covered, str.__eq__):
            continue
        _mark_first(noun, hallucinated, hallu_covered, str.__eq__)
        _mark_first(noun, hallucinated, hallu_covered, similar)
        if _mark_first(noun, safe, truth_covered, similar):
            continue
        unsafe[index] = True
    return Description(kept, tuple(unsafe), tuple(truth), tuple(truth_covered), tuple(hallu), tuple(hallu_covered))


# ---------------------------------------------------------------------------------------------------
# Discriminative: the answer rules


def official_answer(prediction: str) -> str | None:
    """inference.py compares the response with 'Yes' and 'No' as they are: no strip, no case."""
    return prediction if prediction in ("Yes", "No") else None


def lenient_answer(prediction: str) -> str | None:
    """Not official: the first word, lowercased, with the punctuation around it stripped, if it is
    "yes" or "no" ("Yes.", " yes", "No, there is not." are read); None (unreadable, counted, never
    guessed) otherwise ("There is no dog.", "", "I think so")."""
    words = prediction.split()
    first = words[0].strip(string.punctuation).lower() if words else ""
    return {"yes": "Yes", "no": "No"}.get(first)


# ---------------------------------------------------------------------------------------------------
# Per-sample columns and the metrics over them (the aggregate and the bootstrap use the same code)


def sample_columns(samples: Sequence[dict[str, Any]]) -> Columns:
    """One row per query, from score_sample's stored fields: ``group`` (GROUPS' code); for a
    description the counts of nouns, unsafe nouns, truth / hallu objects and those covered; for a
    question the label and the two readings (integers 0/1, so the JSON round trip keeps them)."""
    def count(name: str) -> np.ndarray:
        return np.array([len(r.get(name, ())) for r in samples], dtype=int)

    def flag(test: Callable[[dict[str, Any]], bool]) -> np.ndarray:
        return np.array([int(r["group"] != "generative" and test(r)) for r in samples], dtype=int)

    for r in samples:
        if r.get("group") not in GROUPS:
            raise KeyError("group")
    return {
        "group": np.array([GROUPS.index(r["group"]) for r in samples], dtype=int),
        "nouns": count("nouns"), "unsafe": count("unsafe_nouns"),
        "truth": count("truth_objects"), "truth_covered": count("covered_truth"),
        "hallu": count("hallu_objects"), "hallu_covered": count("covered_hallu"),
        "label_no": flag(lambda r: r["label"] == "no"),
        "answer_yes": flag(lambda r: official_answer(r["prediction"]) == "Yes"),
        "answer_no": flag(lambda r: official_answer(r["prediction"]) == "No"),
        "lenient_yes": flag(lambda r: lenient_answer(r["prediction"]) == "Yes"),
        "lenient_no": flag(lambda r: lenient_answer(r["prediction"]) == "No"),
    }


MetricFn = Callable[[Columns], np.ndarray]


def _in_groups(columns: Columns, groups: Sequence[str]) -> np.ndarray:
    return memo(columns, ("amber-in", tuple(groups)),
                 lambda: np.isin(columns["group"], [GROUPS.index(g) for g in groups]).astype(int))


def _total(columns: Columns, name: str, mask: np.ndarray | None = None) -> np.ndarray:
    values = columns[name] if mask is None else columns[name] * mask
    return np.sum(values, axis=-1)


def generative_measures(columns: Columns) -> dict[str, np.ndarray]:
    """CHAIR, Cover, Hal, Cog as inference.py computes them (percent, its 0.001 starting denominators)."""
    def compute() -> dict[str, np.ndarray]:
        described = _in_groups(columns, ("generative",))
        clean = np.sum(described * (columns["unsafe"] == 0), axis=-1)
        return {
            "chair": 100 * _total(columns, "unsafe") / (START + _total(columns, "nouns")),
            "cover": 100 * _total(columns, "truth_covered") / (START + _total(columns, "truth")),
            "hal": 100 - 100 * clean / (START + np.sum(described, axis=-1)),
            "cog": 100 * _total(columns, "hallu_covered") / (START + _total(columns, "hallu")),
        }
    return memo(columns, "amber-generative", compute)


def discriminative_measures(columns: Columns, groups: Sequence[str], f1_epsilon: float, start: float,
                            reading: str = "answer") -> dict[str, np.ndarray]:
    """accuracy, precision, recall, f1 (percent) of one of inference.py's sets: "no" is the positive
    class; precision = right "No" answers / "No" answers, recall = right "No" answers / "no" labels,
    F1 = 2PR / (P + R + epsilon) on fractions. ``reading``: "answer" (official) or "lenient"."""
    def compute() -> dict[str, np.ndarray]:
        mask = _in_groups(columns, groups)
        label_no, said_no, said_yes = columns["label_no"], columns[f"{reading}_no"], columns[f"{reading}_yes"]
        right = _total(columns, "label_no", mask * said_no) + np.sum(mask * (1 - label_no) * said_yes, axis=-1)
        right_no = np.sum(mask * label_no * said_no, axis=-1)
        precision = right_no / (start + np.sum(mask * said_no, axis=-1))
        recall = right_no / (start + np.sum(mask * label_no, axis=-1))
        return {"accuracy": 100 * right / (start + np.sum(mask, axis=-1)), "precision": 100 * precision,
                "recall": 100 * recall, "f1": 100 * 2 * precision * recall / (precision + recall + f1_epsilon)}
    return memo(columns, ("amber-discriminative", tuple(groups), reading), compute)


def metric_functions(columns: Columns) -> dict[str, MetricFn]:
    """Every metric the given units report, by name: the generative four when descriptions are there,
    each discriminative set with a question in it (official, and ``lenient_``), and the AMBER score
    (plain and lenient) when both halves are."""
    present = {GROUPS[code] for code in np.unique(columns["group"])}
    found: dict[str, MetricFn] = {}
    if "generative" in present:
        found.update({name: (lambda c, n=name: generative_measures(c)[n]) for name in ("chair", "cover", "hal", "cog")})
    for reading, prefix in (("answer", ""), ("lenient", "lenient_")):
        for set_name, (groups, epsilon, start) in DISCRIMINATIVE_SETS.items():
            if not present & set(groups):
                continue
            for measure in ("accuracy", "precision", "recall", "f1"):
                found[f"{prefix}{set_name}{measure}"] = (
                    lambda c, g=groups, e=epsilon, s=start, r=reading, m=measure: discriminative_measures(c, g, e, s, r)[m])
    if "chair" in found and "f1" in found:
        found["amber_score"] = lambda c: (100 - found["chair"](c) + found["f1"](c)) / 2
        found["lenient_amber_score"] = lambda c: (100 - found["chair"](c) + found["lenient_f1"](c)) / 2
    return found


# ---------------------------------------------------------------------------------------------------
# The scorers


# The hallucination metrics `csr-bench check` compares by default on a run's `amber` task (the gate
# reads a scorer's gated metrics on the task named after it; amber_g / amber_d / amber_world: --metrics).
GATED = ("chair", "hal", "f1")


def _metrics() -> tuple[Metric, ...]:
    set_names = {"": "all questions", "existence_": "existence", "attribute_": "attribute (state, number, action)",
                 "state_": "attribute: state", "number_": "attribute: number", "action_": "attribute: action",
                 "relation_": "relation"}
    found = [
        Metric("amber_score", "higher", "AMBER score: (100 - CHAIR + F1) / 2, both halves present"),
        Metric("chair", "lower", "CHAIR: share of AMBER nouns in descriptions that are hallucinated (%)",
               gate="chair" in GATED),
        Metric("cover", "higher", "Cover: share of the images' truth objects that descriptions name (%)"),
        Metric("hal", "lower", "Hal: share of descriptions with a hallucinated noun (%)",
               gate="hal" in GATED),
        Metric("cog", "lower", "Cog: share of the likely-hallucinated (hallu) objects that descriptions name (%)"),
    ]
    descriptions = {"accuracy": ("higher", "share of yes/no answers right, exact 'Yes'/'No' only (%)"),
                    "precision": ("higher", "share of 'No' answers that are right (%)"),
                    "recall": ("higher", "share of 'no' labels answered 'No' (%)"),
                    "f1": ("higher", "F1 of the 'no' class (%)")}
    for set_name, label in set_names.items():
        for measure, (direction, text) in descriptions.items():
            found.append(Metric(f"{set_name}{measure}", direction, f"{text}, {label}",
                                gate=f"{set_name}{measure}" in GATED))
    found += [
        Metric("lenient_amber_score", "higher", "AMBER score with the lenient F1 (not official)"),
        Metric("lenient_*", "higher", "the same with the lenient reading of answers (first word yes/no; not official)"),
        Metric("not_yes_no", "lower", "answers that are not exactly 'Yes' or 'No' (official: counted wrong)", count=True),
        Metric("unreadable", "lower", "answers whose first word is not yes/no (lenient: counted wrong)", count=True),
    ]
    return tuple(found)


def record_kind(record: dict[str, Any]) -> tuple[int, str]:
    """The record's AMBER id and type, checked."""
    doc_id = record["id"]
    if isinstance(doc_id, str) and doc_id.strip().isdigit():
        doc_id = int(doc_id)
    if not isinstance(doc_id, int) or isinstance(doc_id, bool):
        raise CsrBenchError(f"amber: id must be AMBER's query id (an integer), got {record['id']!r}")
    kind = record.get("type")
    if kind not in GROUP_OF_TYPE:
        raise CsrBenchError(f"amber: id {doc_id}: type must be one of {', '.join(GROUP_OF_TYPE)}, got {kind!r}")
    return doc_id, kind


class AmberScorer:
    """The official pipeline (nltk, WordNet, spaCy en_core_web_lg), loaded when a description is scored."""

    name = "amber"
    required_fields = ("id", "type")
    # the paper's table (CHAIR, Cover, Hal, Cog; F1; the AMBER score) and the lenient F1, which stays
    # readable when a model answers "Yes, ..." and the official F1 counts it wrong
    headline = ("amber_score", "chair", "cover", "hal", "cog", "f1", "lenient_f1")
    metrics = _metrics()

    def pipeline(self, annotations: Annotations) -> Pipeline:
        return official_pipeline()

    def check(self, context: ScoringContext | None) -> None:
        """Read the annotations now, so a missing folder stops a run before any generation; say early
        when the NLP pipeline the descriptions need is missing (questions are scored without it)."""
        annotations = annotations_of(context)
        try:
            self.pipeline(annotations)
        except MissingPipeline as exc:
            log.warning("%s (descriptions cannot be scored until it is installed)", exc)

    def check_record(self, record: dict[str, Any]) -> None:
        record_kind(record)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        doc_id, kind = record_kind(record)
        annotations = annotations_of(context)
        entry = annotations.entry(doc_id)
        if entry["type"] != kind:
            raise CsrBenchError(f"amber: id {doc_id} is a {kind} query in the data but {entry['type']} in annotations.json")
        group = GROUP_OF_TYPE[kind]
        prediction = str(record["prediction"])
        if group != "generative":
            official, lenient = official_answer(prediction), lenient_answer(prediction)
            correct = official is not None and official.lower() == entry["truth"]
            return {"group": group, "label": entry["truth"], "answer": official, "lenient_answer": lenient,
                    "correct": correct}
        pipeline = self.pipeline(annotations)
        found = match_nouns(pipeline.nouns(prediction), entry["truth"], entry["hallu"], annotations.association,
                            annotations.safe_words, annotations.vocabulary, pipeline.similar)
        return {"group": group, "nouns": list(found.nouns),
                "unsafe_nouns": [n for n, bad in zip(found.nouns, found.unsafe) if bad],
                "truth_objects": list(found.truth),
                "covered_truth": [o for o, hit in zip(found.truth, found.truth_covered) if hit],
                "hallu_objects": list(found.hallu),
                "covered_hallu": [o for o, hit in zip(found.hallu, found.hallu_covered) if hit]}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        scored = [{**r, **self.score_sample(r, context)} for r in records]
        columns = sample_columns(scored)
        metrics = {name: float(fn(columns)) for name, fn in metric_functions(columns).items()}
        questions = [r for r in scored if r["group"] != "generative"]
        if questions:
            metrics["not_yes_no"] = float(sum(r["answer"] is None for r in questions))
            metrics["unreadable"] = float(sum(r["lenient_answer"] is None for r in questions))
        return metrics


class AmberOfflineScorer(AmberScorer):
    """Not official: the same rules with the offline NLP substitute (scorers/amber_nouns.py)."""

    name = "amber_offline"

    def pipeline(self, annotations: Annotations) -> Pipeline:
        return _offline(annotations.vocabulary)


@lru_cache(maxsize=1)
def _offline(vocabulary: frozenset[str]) -> Pipeline:
    """The offline pipeline of one annotation set's vocabulary, made once (its noun cache with it)."""
    return offline_pipeline(vocabulary)


__all__ = ["AmberOfflineScorer", "AmberScorer", "Annotations", "Description", "GROUPS", "GROUP_OF_TYPE",
           "annotations_of", "dimension_of", "lenient_answer", "match_nouns", "metric_functions",
           "official_answer", "part_of", "read_annotations", "sample_columns"]
