"""The scorer interface: per-sample fields for samples.jsonl, and the task's official aggregate."""

from __future__ import annotations

from typing import Any, Protocol, Sequence


class Scorer(Protocol):
    """Turns predictions into a benchmark's metrics exactly as its official script does.

    ``records`` are the task's dataset fields plus ``prediction`` (the raw model output), which is
    also the schema of samples.jsonl, so re-scoring needs no model.
    """

    name: str
    required_fields: tuple[str, ...]
    headline: tuple[str, ...]  # the metrics worth a log line and a summary table column

    def score_sample(self, record: dict[str, Any]) -> dict[str, Any]:
        """Per-sample fields (parsed answer, correctness) stored beside the prediction."""
        ...

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        """Task metrics, in the paper tables' scale (percentages 0-100)."""
        ...
