"""Per-sample columns, the one form of a metric's computation for scorers that offer it (POPE,
CHAIR): the scorer's aggregate reduces the columns of all its samples, and the bootstrap
(scorers.unit_stats) the same columns indexed by each resample, so the two cannot disagree.

A metric function reduces the last axis: shape ``(n,)`` gives a number, ``(B, n)`` one per resample.
"""

from __future__ import annotations

import numpy as np

Columns = dict[str, np.ndarray]


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (where the official scripts would divide by 0)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.divide(numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape),
                     where=denominator != 0)


__all__ = ["Columns", "ratio"]
