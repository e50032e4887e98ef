"""Confidence intervals: a seeded percentile bootstrap (scipy.stats.bootstrap) over each benchmark's
own unit, and paired intervals of the difference of two evaluations of the same units, so a table's
68.8 -> 68.9 comes with its noise. The method is in docs/statistics.md. No torch: reporting imports this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.unit_stats import TaskStats

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
EPSILON = 1e-9  # differences below this are float noise, not change
METHOD = "percentile bootstrap (scipy.stats.bootstrap)"


@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are computed; recorded beside them (results.json, tables' footnotes)."""

    resamples: int = DEFAULT_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise CsrBenchError(f"confidence must be between 0 and 1, got {self.confidence}")
        if self.resamples < 1:
            raise CsrBenchError(f"bootstrap resamples must be at least 1, got {self.resamples}")

    def describe(self, stats: TaskStats | None = None) -> dict[str, Any]:
        """The method as results.json records it."""
        described: dict[str, Any] = {"method": METHOD, **asdict(self)}
        if stats is not None:
            described["unit"] = stats.unit
            described["n_units"] = len(stats.doc_ids)
            if stats.strata is not None:
                described["stratified_by"] = stats.strata_name
        return described


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def to_json(self) -> list[float]:
        return [self.low, self.high]

    @property
    def width(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class Difference:
    """``current - base`` of one metric, with its bootstrap interval."""

    metric: str
    base: float
    current: float
    low: float
    high: float
    paired: bool  # the same units resampled on both sides (else two independent resamples)
    higher_is_better: bool = True

    @property
    def delta(self) -> float:
        return self.current - self.base

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (a two-sided bootstrap test at the interval's level)."""
        return self.low > EPSILON or self.high < -EPSILON

    @property
    def better(self) -> bool:
        return self.delta > 0 if self.higher_is_better else self.delta < 0

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "current": self.current, "delta": self.delta, "ci": [self.low, self.high],
                "paired": self.paired, "significant": self.significant}


def unit_parts(stats: TaskStats) -> list[np.ndarray]:
    """The unit indices of each stratum (one part when the task has no strata)."""
    if stats.strata is None:
        return [np.arange(len(stats.doc_ids))]
    return [np.flatnonzero(stats.strata == value) for value in np.unique(stats.strata)]


def _percentile_interval(parts: Sequence[np.ndarray], statistic: Callable[..., np.ndarray],
                         settings: BootstrapSettings) -> tuple[np.ndarray, np.ndarray]:
    """scipy's percentile bootstrap of a vector-valued ``statistic(*resampled_parts)`` -> (low, high)."""
    from scipy.stats import bootstrap

    if any(len(part) == 0 for part in parts):
        raise CsrBenchError("cannot bootstrap a task with no units")
    varying = [part for part in parts if len(part) > 1]
    if not varying:  # every stratum is one unit: each resamples to itself
        value = statistic(*[part[None, :] for part in parts])[:, 0]
        return value, value

    def resampled_statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        """scipy needs two units per sample: a one-unit stratum resamples to itself, so it stays fixed
        (broadcast to the batch) and the other strata are resampled as usual."""
        drawn = iter(resampled)
        batch = resampled[0].shape[:-1]
        return statistic(*[next(drawn) if len(part) > 1 else np.broadcast_to(part, batch + (1,)) for part in parts])

    result = bootstrap(tuple(varying), resampled_statistic, vectorized=True,
                       n_resamples=settings.resamples, method="percentile", confidence_level=settings.confidence,
                       rng=np.random.default_rng(settings.seed), batch=min(settings.resamples, 500))
    return np.atleast_1d(result.confidence_interval.low), np.atleast_1d(result.confidence_interval.high)


def intervals(stats: TaskStats, metrics: Iterable[str] | None = None,
              settings: BootstrapSettings = BootstrapSettings()) -> dict[str, Interval]:
    """The interval of each metric (default: every metric the task's unit statistics give)."""
    names = list(stats.metrics() if metrics is None else metrics)
    if not names:
        return {}

    def statistic(*parts: np.ndarray) -> np.ndarray:
        return stats.values(names, np.concatenate(parts, axis=-1))

    low, high = _percentile_interval(unit_parts(stats), statistic, settings)
    return {name: Interval(float(lo), float(hi)) for name, lo, hi in zip(names, low, high)}


def pairing(base: TaskStats, current: TaskStats) -> np.ndarray | None:
    """For each of ``base``'s units, the position of the same unit in ``current``; None when the two
    did not score the same units (then differences are bootstrapped independently)."""
    if len(base.doc_ids) != len(current.doc_ids) or set(base.doc_ids) != set(current.doc_ids):
        return None
    if base.split_names != current.split_names:
        return None
    position = {doc: i for i, doc in enumerate(current.doc_ids)}
    return np.array([position[doc] for doc in base.doc_ids])


def differences(base: TaskStats, current: TaskStats, metrics: Iterable[str] | None = None,
                settings: BootstrapSettings = BootstrapSettings()) -> dict[str, Difference]:
    """``current - base`` for each metric both have, with its interval: paired when both scored the
    same units (resampled together, within ``base``'s strata), else independent resamples."""
    available = current.metrics()
    names = [name for name in (base.metrics() if metrics is None else metrics) if name in available]
    if not names:
        return {}
    aligned = pairing(base, current)
    if aligned is not None:
        parts = unit_parts(base)

        def statistic(*resampled: np.ndarray) -> np.ndarray:
            index = np.concatenate(resampled, axis=-1)
            return current.values(names, aligned[index]) - base.values(names, index)
    else:
        base_parts, current_parts = unit_parts(base), unit_parts(current)
        parts = base_parts + current_parts

        def statistic(*resampled: np.ndarray) -> np.ndarray:
            base_index = np.concatenate(resampled[:len(base_parts)], axis=-1)
            current_index = np.concatenate(resampled[len(base_parts):], axis=-1)
            return current.values(names, current_index) - base.values(names, base_index)

    low, high = _percentile_interval(parts, statistic, settings)
    return {name: Difference(name, float(base.value(name)), float(current.value(name)), float(lo), float(hi),
                             aligned is not None, available[name][1])
            for name, lo, hi in zip(names, low, high)}


__all__ = ["BootstrapSettings", "DEFAULT_CONFIDENCE", "DEFAULT_RESAMPLES", "Difference", "EPSILON", "Interval",
           "METHOD", "differences", "intervals", "pairing", "unit_parts"]
