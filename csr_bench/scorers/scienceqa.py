"""ScienceQA-IMG scoring, as LLaVA-1.5's eval_science_qa.py does it (the answer letter read by its
rules, never a random choice). Details: docs/benchmarks.md, "csr_bench/scorers/scienceqa.py".
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from csr_bench.scorers.base import Metric, ScoringContext

OPTIONS = ["A", "B", "C", "D", "E"]
_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")


def parse_scienceqa_letter(prediction: str) -> str:
    """The option letter LLaVA's rule reads from a prediction, or "FAILED"."""
    if prediction in OPTIONS:
        return prediction
    if len(prediction) >= 3 and prediction[0] in OPTIONS and prediction[1:3] == ". ":
        return prediction[0]
    found = _ANSWER_IS.findall(prediction)
    return found[0] if len(found) == 1 else "FAILED"


def predicted_index(prediction: str, n_choices: int) -> int:
    letter = parse_scienceqa_letter(prediction)
    return OPTIONS.index(letter) if letter in OPTIONS[:n_choices] else -1


class ScienceQaScorer:
    name = "scienceqa"
    required_fields = ("choices", "answer")
    headline = ("accuracy",)
    metrics = (Metric("accuracy", "higher", "share of questions answered with the right option (%)"),)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        index = predicted_index(record["prediction"], len(record["choices"]))
        return {"parsed": OPTIONS[index] if index >= 0 else "FAILED", "correct": index == int(record["answer"])}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        correct = sum(self.score_sample(r)["correct"] for r in records)
        return {"accuracy": 100 * correct / len(records)}
