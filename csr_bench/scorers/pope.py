"""POPE scoring, as POPE's evaluate.py (identical to LLaVA-1.5's eval_pope.py) does it.

Rule: keep the text before the first "."; drop ","; split on single spaces; the answer is "no"
when any word is exactly "No", "no" or "not", otherwise "yes" (so "", "NO" and "Nope" count as
yes). Ground truth "no" is the negative class. Metrics are in percent.

Where the official script would divide by zero (no predicted or no true positives) we report 0.

lmms-eval differs: it accepts only an exact "yes"/"no" (so "Yes." is wrong there) and its
yes_ratio counts ground-truth labels instead of predictions.
"""

from __future__ import annotations

from typing import Any, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import Metric, ScoringContext

NEGATIVE_WORDS = ("No", "not", "no")
MEASURES = {  # what binary_metrics reports: direction, description
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


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def binary_metrics(labels: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """accuracy, precision, recall, f1, yes_ratio (share of predicted yes), all in percent."""
    tp = sum(1 for y, p in zip(labels, predictions) if y == "yes" and p == "yes")
    fp = sum(1 for y, p in zip(labels, predictions) if y == "no" and p == "yes")
    tn = sum(1 for y, p in zip(labels, predictions) if y == "no" and p == "no")
    fn = sum(1 for y, p in zip(labels, predictions) if y == "yes" and p == "no")
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        "accuracy": 100 * _ratio(tp + tn, len(labels)),
        "precision": 100 * precision,
        "recall": 100 * recall,
        "f1": 100 * f1,
        "yes_ratio": 100 * _ratio(sum(p == "yes" for p in predictions), len(predictions)),
    }


class PopeScorer:
    name = "pope"
    required_fields = ("answer",)
    headline = ("accuracy", "f1", "f1_split_mean", "yes_ratio")
    metrics = _metrics()

    @staticmethod
    def _label(record: dict[str, Any]) -> str:
        label = str(record["answer"]).strip().lower()
        if label not in ("yes", "no"):
            raise CsrBenchError(f"POPE answer must be 'yes' or 'no', got {record['answer']!r}")
        return label

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        parsed = parse_yes_no(record["prediction"])
        return {"parsed": parsed, "correct": parsed == self._label(record)}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        """Pooled metrics over the records given, the same per split (category), and LLaVA-1.5's
        headline POPE number: the F1 averaged over the splits present (``f1_split_mean``)."""
        labels = [self._label(r) for r in records]
        predictions = [parse_yes_no(r["prediction"]) for r in records]
        metrics = binary_metrics(labels, predictions)
        categories = sorted({r["category"] for r in records if r.get("category")})
        split_f1 = []
        for category in categories:
            idx = [i for i, r in enumerate(records) if r.get("category") == category]
            split = binary_metrics([labels[i] for i in idx], [predictions[i] for i in idx])
            metrics.update({f"{category}_{key}": value for key, value in split.items()})
            split_f1.append(split["f1"])
        if split_f1:
            metrics["f1_split_mean"] = sum(split_f1) / len(split_f1)
        return metrics
