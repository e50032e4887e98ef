"""MME scoring, as MME's calculation.py (used by LLaVA-1.5) does it: its answer rule, accuracy +
acc_plus per category, perception and cognition sums. Details: docs/benchmarks.md,
"csr_bench/scorers/mme.py".
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import Metric, ScoringContext

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
              "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
GROUPS = {"perception": PERCEPTION, "cognition": COGNITION}
METRICS = (
    *(Metric(group, "higher", f"sum of its categories' scores (max {200 * len(members)}); absent without "
                              "any of its categories", bounds=(0.0, 200.0 * len(members)))
      for group, members in GROUPS.items()),
    *(metric for category in PERCEPTION + COGNITION for metric in (
        Metric(category, "higher", "accuracy + acc_plus of the category (max 200)", bounds=(0.0, 200.0)),
        Metric(f"{category}_acc", "higher", "share of the category's questions answered right (%)"),
        Metric(f"{category}_acc_plus", "higher", "share of the category's images with both questions right (%)"))),
)


def unmeasured_zero(metrics: dict[str, object], group: str) -> bool:
    """Whether MME metrics (a results.json entry's) hold a 0 for ``group`` from an empty sum: the
    scorer listed its categories and none is of the group. Results written before the scorer left
    such a group out hold that 0; it is not a measurement."""
    listed = any(category in metrics for members in GROUPS.values() for category in members)
    return metrics.get(group) == 0 and listed and not any(category in metrics for category in GROUPS[group])


def absent_reason(group: str) -> str:
    """Why a table shows '–' for ``group``: the data has none of its categories."""
    return (f"the evaluated MME data has none of the {len(GROUPS[group])} {group} categories "
            f"({', '.join(GROUPS[group])}); an empty sum is not reported as 0")


def parse_mme_answer(prediction: str) -> str:
    text = prediction.lower()
    if text in ("yes", "no"):
        return text
    prefix = text[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


class MmeScorer:
    name = "mme"
    required_fields = ("question_id", "answer", "category")
    headline = ("perception", "cognition")
    metrics = METRICS

    @staticmethod
    def _label(record: dict[str, Any]) -> str:
        label = str(record["answer"]).lower()
        if label not in ("yes", "no"):
            raise CsrBenchError(f"MME answer must be 'Yes' or 'No', got {record['answer']!r}")
        return label

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        parsed = parse_mme_answer(record["prediction"])
        return {"parsed": parsed, "correct": parsed == self._label(record)}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        by_category: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
        for record in records:
            correct = parse_mme_answer(record["prediction"]) == self._label(record)
            by_category[record["category"]][str(record["question_id"])].append(correct)
        metrics: dict[str, float] = {}
        for category, images in by_category.items():
            answers = [c for image in images.values() for c in image]
            accuracy = sum(answers) / len(answers)
            acc_plus = sum(all(image) for image in images.values()) / len(images)
            metrics[category] = 100 * accuracy + 100 * acc_plus
            metrics[f"{category}_acc"] = 100 * accuracy
            metrics[f"{category}_acc_plus"] = 100 * acc_plus
        for group, members in GROUPS.items():
            if any(c in by_category for c in members):  # no categories of the group: not measured, no key
                metrics[group] = sum(metrics[c] for c in members if c in by_category)
        return dict(sorted(metrics.items(), key=lambda kv: (kv[0] not in ("perception", "cognition"), kv[0])))
