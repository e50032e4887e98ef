"""Per-sample columns, the one form of a metric's computation for scorers that offer it (POPE,
CHAIR): the scorer's aggregate reduces the columns of all its samples, and the bootstrap
(scorers.unit_stats) the same columns indexed by each resample, so the two cannot disagree.

A metric function reduces the last axis: shape ``(n,)`` gives a number, ``(B, n)`` one per resample.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Columns = dict[str, np.ndarray]


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (where the official scripts would divide by 0)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.divide(numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape),
                     where=denominator != 0)


def memo(columns: Columns, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per resample batch (the bootstrap's columns carry a ``memo`` dict), so that
    metrics sharing work (POPE's counts, one AMBER set's tallies) do it once; plain columns: computed."""
    held = getattr(columns, "memo", None)
    if held is None:
        return compute()
    if key not in held:
        held[key] = compute()
    return held[key]


def member(columns: Columns, name: str, code: int) -> np.ndarray:
    """``columns[name] == code`` (a category's, split's or situation's rows), once per resample batch."""
    return memo(columns, (name, code), lambda: columns[name] == code)


def masked_mean(value: str, mask_of: Callable[[Columns], np.ndarray]) -> Callable[[Columns], np.ndarray]:
    """The metric: 100 x the mean of ``columns[value]`` over the rows ``mask_of`` keeps (0 for none)."""
    def fn(columns: Columns) -> np.ndarray:
        mask = mask_of(columns)
        return 100 * ratio(np.sum(columns[value] * mask, -1), np.sum(mask, -1))
    return fn


def codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Integer codes of ``values`` among their sorted distinct names ("" gets -1 and no name): a
    category, split or subcategory column, and its names."""
    names = sorted({v for v in values if v})
    position = {name: i for i, name in enumerate(names)}
    return np.array([position[v] if v else -1 for v in values], dtype=int), names


__all__ = ["Columns", "codes", "masked_mean", "member", "memo", "ratio"]
