"""Per-sample numbers behind the hallucination metrics, as arrays, so a metric can be recomputed on
any resample of the documents (the regression check's bootstrap) by the official rule.

POPE: the label, the answer parsed by POPE's rule, and the split. CHAIR: per caption the objects
mentioned, hallucinated and recalled, and the ground-truth count, from CHAIR's word rule. Other
tasks: the stored per-sample ``correct`` (their ``accuracy``). Every metric function takes the
columns indexed by one resample (shape ``(n,)``) or many (``(B, n)``) and sums over the last axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from csr_bench.errors import CsrBenchError

Columns = dict[str, np.ndarray]
MetricFn = Callable[[Columns], np.ndarray]
POPE_MEASURES = ("accuracy", "precision", "recall", "f1")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (as the scorers report it)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.divide(numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape),
                     where=denominator != 0)


def _pope_measures(columns: Columns, mask: np.ndarray | None) -> dict[str, np.ndarray]:
    label, pred = columns["label_yes"], columns["pred_yes"]
    keep = np.ones_like(label, dtype=bool) if mask is None else mask
    tp = np.sum(label & pred & keep, axis=-1)
    fp = np.sum(~label & pred & keep, axis=-1)
    tn = np.sum(~label & ~pred & keep, axis=-1)
    fn = np.sum(label & ~pred & keep, axis=-1)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"accuracy": 100 * _ratio(tp + tn, tp + fp + tn + fn), "precision": 100 * precision,
            "recall": 100 * recall, "f1": 100 * _ratio(2 * precision * recall, precision + recall)}


def _pope_metric(measure: str, split: int | None) -> MetricFn:
    return lambda c: _pope_measures(c, None if split is None else c["split"] == split)[measure]


def _pope_split_mean_f1(n_splits: int) -> MetricFn:
    return lambda c: sum(_pope_measures(c, c["split"] == s)["f1"] for s in range(n_splits)) / n_splits


@dataclass
class TaskStats:
    """One task's per-sample columns (aligned with ``doc_ids``) and the metrics they give."""

    task: str
    doc_ids: list[str]
    columns: Columns
    split_names: list[str] = field(default_factory=list)  # POPE: the split of code i
    unit: str = "question"  # what one row is, and what the bootstrap resamples

    @property
    def strata(self) -> np.ndarray | None:
        """Resampling strata: POPE's splits (each keeps its size), else none."""
        return self.columns.get("split")

    @property
    def strata_name(self) -> str | None:
        return "split" if self.strata is not None else None

    def metrics(self) -> dict[str, tuple[MetricFn, bool]]:
        """name -> (function of the columns, higher is better)."""
        if self.task == "pope":
            found: dict[str, tuple[MetricFn, bool]] = {m: (_pope_metric(m, None), True) for m in POPE_MEASURES}
            for code, split in enumerate(self.split_names):
                found.update({f"{split}_{m}": (_pope_metric(m, code), True) for m in POPE_MEASURES})
            if self.split_names:
                found["f1_split_mean"] = (_pope_split_mean_f1(len(self.split_names)), True)
            return found
        if self.task == "chair":
            return {
                "chair_s": (lambda c: 100 * np.mean(c["hallucinated"] > 0, axis=-1), False),
                "chair_i": (lambda c: 100 * _ratio(np.sum(c["hallucinated"], -1), np.sum(c["mentioned"], -1)), False),
                "recall": (lambda c: 100 * _ratio(np.sum(c["recalled"], -1), np.sum(c["ground_truth"], -1)), True),
            }
        return {"accuracy": (lambda c: 100 * np.mean(c["correct"], axis=-1), True)}

    def value(self, metric: str, index: np.ndarray | None = None) -> np.ndarray:
        """The metric on the documents (or on each row of a resample ``index``)."""
        function, _ = self.metrics()[metric]
        columns = self.columns if index is None else {k: v[index] for k, v in self.columns.items()}
        return function(columns)

    def to_json(self) -> dict[str, Any]:
        return {"doc_ids": self.doc_ids, "split_names": self.split_names,
                "columns": {name: values.tolist() for name, values in self.columns.items()}}

    @classmethod
    def from_json(cls, task: str, data: dict[str, Any], where: str) -> "TaskStats":
        try:
            columns = {name: np.asarray(values, dtype=bool if name in _BOOLEAN else int)
                       for name, values in data["columns"].items()}
            stats = cls(task, [str(d) for d in data["doc_ids"]], columns, list(data.get("split_names", [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise CsrBenchError(f"{where}: malformed per-sample data for {task} ({exc})") from None
        if any(len(values) != len(stats.doc_ids) for values in columns.values()):
            raise CsrBenchError(f"{where}: per-sample columns of {task} differ in length")
        return stats


_BOOLEAN = {"label_yes", "pred_yes", "correct"}


def _doc_key(record: dict[str, Any]) -> str:
    return str(record.get("doc_id"))


def task_stats(task: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """The per-sample columns of ``task`` from its samples.jsonl records, by the official rules."""
    if not samples:
        raise CsrBenchError(f"{where}: no samples for {task}")
    doc_ids = [_doc_key(r) for r in samples]
    try:
        if task == "pope":
            from csr_bench.scorers.pope import parse_yes_no

            split_names = sorted({str(r["category"]) for r in samples if r.get("category")})
            return TaskStats(task, doc_ids, {
                "label_yes": np.array([str(r["answer"]).strip().lower() == "yes" for r in samples]),
                "pred_yes": np.array([parse_yes_no(str(r["prediction"])) == "yes" for r in samples]),
                "split": np.array([split_names.index(str(r["category"])) if r.get("category") else -1
                                   for r in samples]),
            }, split_names)
        if task == "chair":
            from csr_bench.scorers.chair_words import caption_objects

            mentioned = [caption_objects(str(r["prediction"])).objects for r in samples]
            truth = [set(r["ground_truth_objects"]) for r in samples]
            return TaskStats(task, doc_ids, {
                "mentioned": np.array([len(m) for m in mentioned]),
                "hallucinated": np.array([sum(o not in t for o in m) for m, t in zip(mentioned, truth)]),
                "recalled": np.array([len(t & set(m)) for m, t in zip(mentioned, truth)]),
                "ground_truth": np.array([len(t) for t in truth]),
            }, unit="image")
        if not all(isinstance(r.get("correct"), bool) for r in samples):
            raise CsrBenchError(f"{where}: {task} samples have no per-sample 'correct' to recompute accuracy from")
        return TaskStats(task, doc_ids, {"correct": np.array([r["correct"] for r in samples])})
    except KeyError as exc:
        raise CsrBenchError(f"{where}: {task} samples lack the field {exc}") from None


__all__ = ["TaskStats", "task_stats"]
