"""The scorer interface: per-sample fields for samples.jsonl, and the task's official aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from csr_bench.errors import CsrBenchError

if TYPE_CHECKING:
    from csr_bench.judge import Judge


@dataclass(frozen=True)
class ScoringContext:
    """What some scorers need besides the records."""

    annotations: Path | None = None  # COCO-format instances_*.json / captions_*.json (CHAIR)
    judge: Judge | None = None  # an OpenAI-compatible judge (MM-Vet, LLaVA-Bench, MMBench fallback)
    output_dir: Path | None = None  # where a task writes artefacts (VizWiz test submission, judge cache)
    # A record's document image (RGB PIL), for a judge that looks at it (Bingo's Prometheus-Vision);
    # set by the evaluator, and by `csr-bench score` given --data-root (see document_image below).
    image_of: Callable[[dict[str, Any]], Any] | None = None


DIRECTIONS = ("higher", "lower", "none")


@dataclass(frozen=True)
class Metric:
    """One metric a scorer's aggregate reports, declared once so that tables, plots, the run summary,
    ``csr-bench check`` and the lmms-eval export agree on it (docs/tasks.md, "A scorer declares its metrics")."""

    name: str  # the aggregate's key; a shell pattern ("*_f1") declares a family, e.g. POPE's per-split metrics
    direction: str  # "higher" or "lower" is better; "none": no better side (POPE's yes_ratio aims at the labels')
    description: str
    gate: bool = False  # `csr-bench check` compares it by default (the hallucination gate)
    count: bool = False  # counts events (unreadable answers), not a score: no interval, not in the run summary
    # the lowest and highest values the metric can take (a percentage: 0-100); `csr-bench table --by-aspect`
    # maps it onto 0-1 with them (reporting/tables/aspects.py)
    bounds: tuple[float, float] = (0.0, 100.0)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"metric {self.name}: direction must be one of {', '.join(DIRECTIONS)}, "
                             f"got {self.direction!r}")
        if not self.bounds[0] < self.bounds[1]:
            raise ValueError(f"metric {self.name}: bounds must be (low, high) with low < high, got {self.bounds}")

    @property
    def higher_is_better(self) -> bool | None:
        """lmms-eval's ``higher_is_better``: True, False, or None where neither side is better."""
        return None if self.direction == "none" else self.direction == "higher"

    def matches(self, key: str) -> bool:
        return fnmatchcase(key, self.name)


def declared(metrics: Sequence[Metric], key: str) -> Metric | None:
    """The declaration of an aggregate's ``key``: its exact name, else the first pattern matching it."""
    exact = next((m for m in metrics if m.name == key), None)
    return exact or next((m for m in metrics if m.matches(key)), None)


class ScoringSkipped(Exception):
    """The task cannot be scored here (no judge configured, test split without answers, ...).

    Reported as skipped with this reason; never turned into a score of 0.
    """


def judge_for(context: ScoringContext | None, records: Sequence[dict[str, Any]], benchmark: str) -> Judge:
    """The judge a judge-scored benchmark (MM-Vet, LLaVA-Bench, MMHal-Bench) grades ``records`` with:
    ScoringSkipped with the reason when none is configured (never a score of 0), an error for no records."""
    judge = context.judge if context is not None else None
    if judge is None:
        from csr_bench.judge import NO_JUDGE

        raise ScoringSkipped(NO_JUDGE)
    if not records:
        raise CsrBenchError(f"{benchmark}: no records to score")
    return judge


def require_images(context: ScoringContext | None, benchmark: str) -> None:
    """ScoringSkipped with the reason when the context has no document images (a predictions file
    scored without --data-root): a vision judge is never asked blind. Called before any request."""
    if context is None or context.image_of is None:
        raise ScoringSkipped(f"{benchmark}: the judge looks at each document's image; csr-bench score needs "
                             "--data-root (the task's data) to send them")


def document_image(context: ScoringContext | None, record: dict[str, Any], benchmark: str) -> Any:
    """The document image of ``record`` for a vision judge (see require_images)."""
    require_images(context, benchmark)
    return context.image_of(record)


class JudgedAggregate:
    """The shape every judge-scored scorer shares (MM-Vet, LLaVA-Bench, MMHal-Bench, Bingo, MMIE, CARES'
    open questions): nothing per sample but the subclass's ``check_record``, since the judge runs in
    aggregate and generation never waits on it; ``judge_records`` for the judge (skipped without one)
    once every record is checked; ``aggregate`` is the metrics of ``aggregate_items`` (see Scorer)."""

    benchmark: str  # named in the skip reason and errors

    def check_record(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        self.check_record(record)
        return {}

    def judge_records(self, records: Sequence[dict[str, Any]], context: ScoringContext | None) -> Judge:
        judge = judge_for(context, records, self.benchmark)
        for record in records:
            self.check_record(record)
        return judge

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        return self.aggregate_items(records, context)[0]


class Scorer(Protocol):
    """Turns predictions into a benchmark's metrics exactly as its official script does.

    ``records`` are the task's dataset fields plus ``prediction`` (the raw model output), which is
    also the schema of samples.jsonl, so re-scoring needs no model.
    """

    name: str  # its registry key, what results.json records (the registry sets it for a task folder's scorer)
    required_fields: tuple[str, ...]
    headline: tuple[str, ...]  # the metrics worth a log line and a summary table column
    metrics: tuple[Metric, ...]  # every key ``aggregate`` can return, with its direction (see Metric)

    def score_sample(self, record: dict[str, Any], context: ScoringContext) -> dict[str, Any]:
        """Per-sample fields (parsed answer, correctness) stored beside the prediction."""
        ...

    # Optional: ``check(context)`` raises CsrBenchError when the context lacks what scoring needs
    # (CHAIR's annotations); the evaluator calls it before loading the model.
    # Optional, for scorers whose per-item outcome comes from a judge (MM-Vet, LLaVA-Bench, MMBench's
    # fallback): ``aggregate_items(records, context) -> (metrics, per-record dicts)`` and
    # ``judge_fields`` (the keys of those dicts). The evaluator stores the dicts in samples.jsonl so
    # the bootstrap (scorers.unit_stats) sees the judge's per-item decisions without asking again.

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext) -> dict[str, float]:
        """Task metrics, in the paper tables' scale (percentages 0-100, MME in points).
        Raises ScoringSkipped when the task cannot be scored here."""
        ...


def check_record(scorer: Scorer, record: dict[str, Any]) -> None:
    """Raise when a dataset record cannot be scored whatever the model answers (a field of the
    wrong type or value): the scorer's own ``check_record`` when it has one (a scorer whose
    per-sample scoring needs more than the record), else a dry run of ``score_sample`` on an
    empty prediction."""
    own = getattr(scorer, "check_record", None)
    if own is not None:
        own(record)
    else:
        scorer.score_sample({**record, "prediction": ""}, ScoringContext())
