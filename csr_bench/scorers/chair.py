"""CHAIR (Rohrbach et al., 2018): object hallucination in captions (chair_i, chair_s, recall, len),
scored as chair.py's Python 3 standalone form does, so numbers compare with the published ones.
Details (the metrics, where results can differ): docs/benchmarks.md, "csr_bench/scorers/chair.py".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Sequence

import numpy as np

from csr_bench.coco import load_coco
from csr_bench.errors import CsrBenchError
from csr_bench.scorers.annotation_folder import annotation_folder, read_once
from csr_bench.scorers.base import Metric, ScoringContext
from csr_bench.scorers.chair_words import CaptionObjects, caption_objects, read_caption
from csr_bench.scorers.coco_objects import NODE_WORD
from csr_bench.scorers.sample_columns import Columns, ratio

MISSING = "chair: no COCO annotations: pass --annotations DIR holding instances_*.json and captions_*.json"


class CocoGroundTruth:
    """Objects per image from a folder of COCO instances_*.json and captions_*.json files.

    Instance objects are collected up front; caption objects are read the first time an image is
    asked for, so scoring 500 images does not tokenize the 200,000 captions of val2014. A benchmark
    that reads captions by its own word rule (Object HalBench) subclasses it with its ``task`` and
    ``read``.
    """

    task = "chair"  # the name its errors give

    @staticmethod
    def read(caption: str) -> CaptionObjects:
        return read_caption(caption)

    def __init__(self, folder: Path):
        instance_files = sorted(folder.glob("instances_*.json"))
        caption_files = sorted(folder.glob("captions_*.json"))
        lacking = [kind for kind, files in (("instances_*.json", instance_files),
                                            ("captions_*.json", caption_files)) if not files]
        if lacking:
            raise CsrBenchError(f"{self.task}: {folder} holds no {' and no '.join(lacking)} (COCO annotations)")
        self.image_ids: set[int] = set()
        self._instance_objects: dict[int, set[str]] = {}
        self._captions: dict[int, list[str]] = {}
        self._objects: dict[int, frozenset[str]] = {}
        for path in instance_files:
            coco = load_coco(path)
            self.image_ids.update(coco.imgs)
            names = {}
            for cat_id, category in coco.cats.items():
                if category["name"] not in NODE_WORD:
                    raise CsrBenchError(f"{self.task}: {path}: category '{category['name']}' is not a COCO object")
                names[cat_id] = NODE_WORD[category["name"]]
            for ann in coco.dataset.get("annotations", []):
                if ann["category_id"] not in names:
                    raise CsrBenchError(f"{self.task}: {path}: annotation {ann.get('id')} has unknown category_id "
                                        f"{ann['category_id']}")
                self._instance_objects.setdefault(ann["image_id"], set()).add(names[ann["category_id"]])
        for path in caption_files:
            coco = load_coco(path)
            self.image_ids.update(coco.imgs)
            for ann in coco.dataset.get("annotations", []):
                self._captions.setdefault(ann["image_id"], []).append(ann["caption"])

    def objects(self, image_id: int) -> frozenset[str]:
        if image_id not in self._objects:
            if image_id not in self.image_ids:
                raise CsrBenchError(f"{self.task}: image_id {image_id} is not in the COCO annotations")
            found = set(self._instance_objects.get(image_id, ()))
            for caption in self._captions.get(image_id, ()):
                found.update(self.read(caption).objects)
            self._objects[image_id] = frozenset(found)
        return self._objects[image_id]


def ground_truth(context: ScoringContext | None, kind: type[CocoGroundTruth] = CocoGroundTruth,
                 missing: str = MISSING) -> CocoGroundTruth:
    """The ground truth (``kind``) of the context's annotation folder, loaded once per folder and content."""
    folder = annotation_folder(context.annotations if context is not None else None, kind.task, missing)
    files = list(folder.glob("instances_*.json")) + list(folder.glob("captions_*.json"))
    return read_once(folder, files, kind)


def coco_image_id(record: dict[str, Any], task: str = "chair") -> int:
    """The record's COCO image id (an integer, or its digits as a string); one line naming ``task`` otherwise."""
    value = record["image_id"]
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise CsrBenchError(f"{task}: image_id must be a COCO image id (an integer), got {value!r}")


def sample_columns(predictions: Sequence[str], truths: Sequence[Collection[str]]) -> Columns:
    """Per caption (a prediction and its image's ground-truth objects): object mentions, hallucinated
    mentions, ground-truth objects recalled, ground-truth objects, tokens."""
    captions = [caption_objects(str(p)) for p in predictions]
    truths = [set(t) for t in truths]
    return {
        "mentioned": np.array([len(c.objects) for c in captions], dtype=int),
        "hallucinated": np.array([sum(o not in t for o in c.objects) for c, t in zip(captions, truths)], dtype=int),
        "recalled": np.array([len(t & set(c.objects)) for c, t in zip(captions, truths)], dtype=int),
        "ground_truth": np.array([len(t) for t in truths], dtype=int),
        "tokens": np.array([len(c.tokens) for c in captions], dtype=int),
    }


def chair_s(columns: Columns) -> np.ndarray:
    return ratio(100 * np.sum(columns["hallucinated"] > 0, axis=-1), columns["hallucinated"].shape[-1])


def chair_i(columns: Columns) -> np.ndarray:
    return ratio(100 * np.sum(columns["hallucinated"], axis=-1), np.sum(columns["mentioned"], axis=-1))


def recall(columns: Columns) -> np.ndarray:
    return ratio(100 * np.sum(columns["recalled"], axis=-1), np.sum(columns["ground_truth"], axis=-1))


def length(columns: Columns) -> np.ndarray:
    return ratio(np.sum(columns["tokens"], axis=-1), columns["tokens"].shape[-1])


MEASURES = {"chair_s": chair_s, "chair_i": chair_i, "recall": recall, "len": length}  # by the aggregate's keys


class ChairScorer:
    name = "chair"
    required_fields = ("image_id",)
    headline = ("chair_s", "chair_i", "recall")
    metrics = (
        Metric("chair_s", "lower", "share of captions with a hallucinated object (%)", gate=True),
        Metric("chair_i", "lower", "share of object mentions that are hallucinated (%)", gate=True),
        Metric("recall", "higher", "share of ground-truth objects mentioned (%)"),
        Metric("len", "none", "tokens per caption (longer captions mention more, right and wrong)"),
    )

    def check(self, context: ScoringContext | None) -> None:
        """Load the annotations now, so a missing folder stops a run before any generation."""
        ground_truth(context)

    def check_record(self, record: dict[str, Any]) -> None:
        """What can be checked without the annotations: the record's COCO image id."""
        coco_image_id(record)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        truth = ground_truth(context).objects(coco_image_id(record))
        mentioned = caption_objects(record["prediction"]).objects
        return {"mentioned_objects": list(mentioned),
                "hallucinated_objects": [o for o in mentioned if o not in truth],
                "ground_truth_objects": sorted(truth)}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        truth = ground_truth(context)
        columns = sample_columns([r["prediction"] for r in records],
                                 [truth.objects(coco_image_id(r)) for r in records])
        return {name: float(measure(columns)) for name, measure in MEASURES.items()}
