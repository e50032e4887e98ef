"""GQA (testdev balanced) accuracy, as LLaVA-1.5 scores it.

LLaVA's convert_gqa_for_eval.py turns a prediction into ``prediction.rstrip(".").lower()``; the
official GQA eval.py then counts exact string matches with the answer. Nothing else is
normalised: "2" and "two" differ, and so do "the table" and "table".
"""

from __future__ import annotations

from typing import Any, Sequence

from csr_bench.scorers.base import Metric, ScoringContext


def normalise_gqa(prediction: str) -> str:
    return prediction.rstrip(".").lower()


class GqaScorer:
    name = "gqa"
    required_fields = ("answer",)
    headline = ("accuracy",)
    metrics = (Metric("accuracy", "higher", "share of exact-match answers (%)"),)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        return {"correct": normalise_gqa(record["prediction"]) == record["answer"]}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        return {"accuracy": 100 * sum(self.score_sample(r)["correct"] for r in records) / len(records)}
