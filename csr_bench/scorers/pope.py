"""POPE scoring, as POPE's evaluate.py (identical to LLaVA-1.5's eval_pope.py) does it, so numbers
compare with the paper's. Details (the answer rule, lmms-eval's differences): docs/benchmarks.md,
"csr_bench/scorers/pope.py".
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import Metric, ScoringContext
from csr_bench.scorers.sample_columns import Columns, codes, ratio

NEGATIVE_WORDS = ("No", "not", "no")
MEASURES = {  # what measures() reports: direction, description
    "accuracy": ("higher", "share of answers right (%)"),
    "precision": ("higher", "share of predicted yes that are right (%)"),
    "recall": ("higher", "share of yes labels answered yes (%)"),
    "f1": ("higher", "F1 of the yes class (%)"),
    "yes_ratio": ("none", "share of answers that are yes (%); POPE's labels are half yes, so it aims at 50"),
}
GATED = ("f1", "accuracy")  # per split, in the order `csr-bench check` lists them


def _metrics() -> tuple[Metric, ...]:
    pooled = [Metric(name, direction, description) for name, (direction, description) in MEASURES.items()]
    per_split = [Metric(f"*_{name}", MEASURES[name][0], f"{MEASURES[name][1]}, in one split (category)",
                     gate=name in GATED) for name in (*GATED, *(m for m in MEASURES if m not in GATED))]
    return (*pooled, *per_split,
            Metric("f1_split_mean", "higher", "F1 averaged over the splits present (LLaVA-1.5's POPE number)"))


def parse_yes_no(prediction: str) -> str:
    """Map a raw model answer to "yes"/"no" by the official POPE rule."""
    text = prediction
    if text.find(".") != -1:
        text = text.split(".")[0]
    text = text.replace(",", "")
    words = text.split(" ")
    return "no" if any(word in words for word in NEGATIVE_WORDS) else "yes"


def label_of(record: dict[str, Any]) -> str:
    """The record's ground truth, "yes" or "no"."""
    label = str(record["answer"]).strip().lower()
    if label not in ("yes", "no"):
        raise CsrBenchError(f"POPE answer must be 'yes' or 'no', got {record['answer']!r}")
    return label


def sample_columns(records: Sequence[dict[str, Any]]) -> tuple[Columns, list[str]]:
    """Per question: ``label_yes``, ``pred_yes`` (POPE's rule) and ``split`` (the code of its category
    among the sorted split names, -1 for none); and those split names."""
    split, names = codes([str(r["category"]) if r.get("category") else "" for r in records])
    return {
        "label_yes": np.array([label_of(r) == "yes" for r in records], dtype=bool),
        "pred_yes": np.array([parse_yes_no(str(r["prediction"])) == "yes" for r in records], dtype=bool),
        "split": split,
    }, names


def measures(columns: Columns, split: int | None = None) -> dict[str, np.ndarray]:
    """accuracy, precision, recall, f1, yes_ratio (share of predicted yes), all in percent, over the
    questions of one split (code) or all of them."""
    label, pred = columns["label_yes"], columns["pred_yes"]
    keep = np.ones_like(label, dtype=bool) if split is None else columns["split"] == split
    tp = np.sum(label & pred & keep, axis=-1)
    fp = np.sum(~label & pred & keep, axis=-1)
    tn = np.sum(~label & ~pred & keep, axis=-1)
    fn = np.sum(label & ~pred & keep, axis=-1)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {"accuracy": 100 * ratio(tp + tn, tp + fp + tn + fn), "precision": 100 * precision,
            "recall": 100 * recall, "f1": 100 * ratio(2 * precision * recall, precision + recall),
            "yes_ratio": 100 * ratio(tp + fp, tp + fp + tn + fn)}


def split_mean(split_f1: Sequence[np.ndarray]) -> np.ndarray:
    """LLaVA-1.5's headline POPE number: the splits' F1, averaged."""
    return sum(split_f1) / len(split_f1)


class PopeScorer:
    name = "pope"
    required_fields = ("answer",)
    headline = ("accuracy", "f1", "f1_split_mean", "yes_ratio")
    metrics = _metrics()

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        parsed = parse_yes_no(record["prediction"])
        return {"parsed": parsed, "correct": parsed == label_of(record)}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        """Pooled metrics over the records given, the same per split (category), and LLaVA-1.5's
        headline POPE number: the F1 averaged over the splits present (``f1_split_mean``)."""
        columns, splits = sample_columns(records)
        metrics = {key: float(value) for key, value in measures(columns).items()}
        split_f1 = []
        for code, category in enumerate(splits):
            split = measures(columns, code)
            metrics.update({f"{category}_{key}": float(value) for key, value in split.items()})
            split_f1.append(split["f1"])
        if split_f1:
            metrics["f1_split_mean"] = float(split_mean(split_f1))
        return metrics
