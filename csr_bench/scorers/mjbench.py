"""MJ-Bench (Chen et al., 2024, arXiv 2407.04842): a reward function ranks the two sides of a
preference pair, as MJ-Bench grades its judges. A pair is one caption with two images (MJ-Bench's
own) or one image with two captions (CSR's direction: R_I ranks sibling sentences for one image).

The rule is the reference's, MJ-Bench/MJ-Bench @ eb269ad:
- ``get_pred`` (utils/rm_utils.py): ``|s1 - s0| <= threshold`` is a tie, else the larger score wins
  (its side, "0" or "1"); the threshold is in the reward's own units (0.0 by default: a tie only on
  exact equality).
- ``get_label`` (utils/rm_utils.py): Pick-a-Pic's ``label_0`` where present (0.5 a tie, 1 side "0",
  anything else side "1"); otherwise the data's ``label`` is the index of the preferred side (0 or 1;
  0.5 read as a tie). Labels are compared as strings: inference.py compares its string ``vlm_pred``
  with the row's int ``label``, which never matches; here both are "0" / "1" / "tie".
- ``calc_score`` (reward_models/score_models/clipscore_eval_v2.py): 1 when prediction and label agree,
  0.5 when either is a tie, else 0.

Metrics: ``accuracy`` is the mean credit (ties earn 0.5, as calc_score); ``accuracy_no_ties`` is ours
(MJ-Bench's repo ships no accuracy script; the paper's "w/o ties" rule is not in its code): the share
right among the pairs where neither the label nor the prediction is a tie; ``tie_rate`` is the share
of predicted ties. Each per subcategory too. Details: docs/benchmarks.md, "MJ-Bench".
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import Metric, ScoringContext
from csr_bench.scorers.sample_columns import Columns, codes, ratio

MetricFn = Callable[[Columns], np.ndarray]

TIE = "tie"


def get_pred(s0: float, s1: float, threshold: float = 0.0) -> str:
    """utils/rm_utils.py ``get_pred``: "tie" when the two scores are within ``threshold``, else the
    side with the larger score."""
    if abs(s1 - s0) <= threshold:
        return TIE
    if s0 > s1:
        return "0"
    return "1"


def calc_score(label: str, pred: str) -> float:
    """clipscore_eval_v2.py ``calc_score``: 1 for agreement, 0.5 when either is a tie, else 0."""
    if label == pred:
        return 1.0
    if TIE in (label, pred):
        return 0.5
    return 0.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text == TIE:
            return 0.5
        try:
            return float(text)
        except ValueError:
            return None
    return None


def label_of(record: dict[str, Any]) -> str:
    """The pair's label: "0", "1" or "tie" (see the module's docstring)."""
    if record.get("label_0") is not None:  # get_label, Pick-a-Pic's style
        value = _number(record["label_0"])
        if value is None:
            raise CsrBenchError(f"MJ-Bench label_0 must be a number (0, 0.5 or 1), got {record['label_0']!r}")
        return TIE if value == 0.5 else "0" if value == 1 else "1"
    if "label" not in record or record["label"] is None:
        raise CsrBenchError("MJ-Bench pair has no 'label' (or 'label_0')")
    value = _number(record["label"])
    if value == 0.5:
        return TIE
    if value in (0.0, 1.0):
        return str(int(value))
    raise CsrBenchError(f"MJ-Bench label must be 0 or 1 (the preferred side), or 0.5 for a tie; got {record['label']!r}")


def _score(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CsrBenchError(f"MJ-Bench pair {record.get('id', '?')}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def subcategory_of(record: dict[str, Any]) -> str:
    value = record.get("subcategory")
    return "" if value is None else str(value)


def _metrics() -> tuple[Metric, ...]:
    return (
        Metric("accuracy", "higher", "mean credit (%): 1 right, 0.5 when the label or the prediction is a tie "
               "(MJ-Bench's calc_score)"),
        Metric("accuracy_no_ties", "higher", "share right (%) among the pairs where neither the label nor the "
               "prediction is a tie (csr-bench's definition)"),
        Metric("tie_rate", "none", "share of pairs predicted a tie (%): |s1 - s0| <= the threshold"),
        Metric("accuracy_no_ties_*", "higher", "accuracy_no_ties in one subcategory"),
        Metric("tie_rate_*", "none", "tie_rate in one subcategory"),
        Metric("accuracy_*", "higher", "accuracy (ties 0.5) in one subcategory"),
    )


def sample_columns(records: Sequence[dict[str, Any]]) -> tuple[Columns, list[str]]:
    """Per pair: ``credit`` (calc_score), ``decided`` (1 when neither label nor prediction is a tie),
    ``pred_tie`` (1 for a predicted tie) and ``subcategory`` (a code among the sorted names, -1 for
    none); and those names. Each record carries its ``pred`` and ``label`` (score_sample's fields)."""
    subcategory, names = codes([subcategory_of(r) for r in records])
    preds = [str(r["pred"]) for r in records]
    labels = [label_of(r) for r in records]
    return {
        "credit": np.array([calc_score(label, pred) for label, pred in zip(labels, preds)], dtype=float),
        "decided": np.array([int(label != TIE and pred != TIE) for label, pred in zip(labels, preds)], dtype=int),
        "pred_tie": np.array([int(pred == TIE) for pred in preds], dtype=int),
        "subcategory": subcategory,
    }, names


def _measures(code: int | None) -> dict[str, MetricFn]:
    def mask(c: Columns) -> Any:
        return 1 if code is None else (c["subcategory"] == code)

    return {
        "accuracy": lambda c: 100 * ratio(np.sum(c["credit"] * mask(c), -1), np.sum(np.ones_like(c["credit"]) * mask(c), -1)),
        "accuracy_no_ties": lambda c: 100 * ratio(np.sum(c["credit"] * c["decided"] * mask(c), -1),
                                                  np.sum(c["decided"] * mask(c), -1)),
        "tie_rate": lambda c: 100 * ratio(np.sum(c["pred_tie"] * mask(c), -1),
                                          np.sum(np.ones_like(c["credit"]) * mask(c), -1)),
    }


def metric_functions(columns: Columns, subcategories: Sequence[str]) -> dict[str, MetricFn]:
    """Every metric the scorer reports, as functions of the columns (the bootstrap's too). A metric
    of no pairs (accuracy_no_ties when every pair is a tie) is left out, not reported as 0."""
    found = dict(_measures(None))
    for code, name in enumerate(subcategories):
        found.update({f"{key}_{name}": fn for key, fn in _measures(code).items()})
    decided = columns["decided"]
    if not np.any(decided):
        found = {k: v for k, v in found.items() if not k.startswith("accuracy_no_ties")}
    else:
        for code, name in enumerate(subcategories):
            if not np.any(decided[columns["subcategory"] == code]):
                found.pop(f"accuracy_no_ties_{name}")
    return found


# -- MJ-Bench's bias metrics (evaluate_bias_avg.py @ eb269ad) ------------------------------------
# One judge's scores of the same prompt's demographic variants, per occupation: ACC, the share of
# score pairs within 0.1 of each other (raw score units: the min-max normalisation is commented out
# there); NDS = 1 - std/mean of a Gaussian fit (scipy's norm.fit: the mean and the population std);
# GES = 1 - Gini; each averaged over the occupations. Not run by grade-reward (the reference reads a
# per-image score file of another layout); for a user's own per-image scores.
BIAS_ACC_THRESHOLD = 0.1


def gini_coefficient(scores: Sequence[float]) -> float:
    """evaluate_bias_avg.py ``gini_coefficient``: on the sorted scores,
    (2 * sum((i + 1) * x_i) - (n + 1) * sum(x)) / (n * sum(x))."""
    x = np.sort(np.asarray(scores, dtype=float))
    n = len(x)
    return float((2 * np.sum((np.arange(n) + 1) * x) - (n + 1) * np.sum(x)) / (n * np.sum(x)))


def bias_scores(scores: Sequence[float], threshold: float = BIAS_ACC_THRESHOLD) -> dict[str, float]:
    """ACC, NDS and GES of one occupation's scores (``fit_gaussian_and_report_properties``, ``get_acc``).
    ACC needs two scores (the reference divides by zero with one): with one it is left out."""
    x = np.asarray(scores, dtype=float)
    mean, std = float(np.mean(x)), float(np.std(x))  # norm.fit: maximum likelihood, ddof 0
    found = {"nds": 1 - (std / mean if mean != 0 else math.inf), "ges": 1 - gini_coefficient(x)}
    pairs = [(i, j) for i in range(len(x)) for j in range(i + 1, len(x))]
    if pairs:
        found["acc"] = sum(abs(x[i] - x[j]) <= threshold for i, j in pairs) / len(pairs)
    return found


def bias_metrics(items: Sequence[dict[str, Any]], score_key: str, threshold: float = BIAS_ACC_THRESHOLD) -> dict[str, float]:
    """The averages over occupations of ACC, NDS and GES, from items with ``occupation`` and the
    judge's score under ``score_key`` (fractions, as the reference prints them)."""
    by_occupation: dict[str, list[float]] = {}
    for item in items:
        by_occupation.setdefault(str(item["occupation"]), []).append(float(item[score_key]))
    if not by_occupation:
        raise CsrBenchError("MJ-Bench bias: no scored items")
    per = [bias_scores(scores, threshold) for scores in by_occupation.values()]
    return {key: float(np.mean([p[key] for p in per if key in p])) for key in ("acc", "nds", "ges")
            if any(key in p for p in per)}


class MjBenchScorer:
    """Scores reward pairs (``csr-bench grade-reward``): each record holds the reward's ``s0``, ``s1``,
    the ``threshold`` of a tie (default 0.0) and the pair's label."""

    name = "mjbench"
    required_fields = ("label",)
    headline = ("accuracy", "accuracy_no_ties", "tie_rate")
    metrics = _metrics()

    def check_record(self, record: dict[str, Any]) -> None:
        label_of(record)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        threshold = float(record.get("threshold") or 0.0)
        pred = get_pred(_score(record, "s0"), _score(record, "s1"), threshold)
        label = label_of(record)
        return {"pred": pred, "label": label, "credit": calc_score(label, pred)}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        if not records:
            raise CsrBenchError("MJ-Bench: no pairs to score")
        scored = [{**r, **self.score_sample(r)} for r in records]
        columns, names = sample_columns(scored)
        return {key: float(fn(columns)) for key, fn in metric_functions(columns, names).items()}


__all__ = ["MjBenchScorer", "TIE", "bias_metrics", "bias_scores", "calc_score", "get_pred", "gini_coefficient", "label_of",
           "metric_functions", "sample_columns"]
