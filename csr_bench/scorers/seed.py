"""SEED-Bench (image) scoring, as LLaVA-1.5's convert_seed_for_submission.py does it: a prediction
is right only when it equals the answer letter. Details: docs/benchmarks.md,
"csr_bench/scorers/seed.py".
"""

from __future__ import annotations

from typing import Any, Sequence

from csr_bench.scorers.base import Metric, ScoringContext


class SeedScorer:
    name = "seed"
    required_fields = ("answer",)
    headline = ("accuracy",)
    metrics = (Metric("accuracy", "higher", "share of image questions answered with the right letter (%)"),)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        return {"correct": record["prediction"].strip() == str(record["answer"])}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        image = [r for r in records if r.get("data_type", "image") == "image"]
        if not image:
            return {"accuracy": 0.0}
        return {"accuracy": 100 * sum(self.score_sample(r)["correct"] for r in image) / len(image)}
