"""Which documents ``--limit N`` evaluates: N spread over a task's ``strata`` (POPE's splits), whole
units kept together (MME's image pairs), the same order for every N so a larger limit reuses a
smaller one's samples. Details: docs/tasks.md, "csr_bench/tasks/subset.py".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from csr_bench.tasks.config import TaskConfig


@dataclass(frozen=True)
class Subset:
    """The documents (row indices, in document order) one evaluation scores."""

    indices: list[int]
    total: int  # documents in the task
    limit: int | None
    strata: str | None = None
    per_stratum: dict[str, int] = field(default_factory=dict)

    @property
    def is_subset(self) -> bool:
        return len(self.indices) < self.total

    def describe(self) -> dict[str, Any]:
        """results.json's ``subset`` entry of the task."""
        described: dict[str, Any] = {"limit": self.limit, "strata": self.strata}
        if self.strata is not None:
            described["per_stratum"] = dict(self.per_stratum)
        return described


def stratified_order(rows: Sequence[dict[str, Any]], strata: str, unit: str | None = None) -> list[list[int]]:
    """Units of row indices (one row each without ``unit``) in round-robin order over the strata."""
    by_stratum: dict[Any, dict[Any, list[int]]] = {}
    for index, row in enumerate(rows):
        units = by_stratum.setdefault(_key(row[strata]), {})
        units.setdefault(_key(row[unit]) if unit is not None else index, []).append(index)
    queues = [list(units.values()) for units in by_stratum.values()]
    order: list[list[int]] = []
    for position in range(max(map(len, queues), default=0)):
        order += [queue[position] for queue in queues if position < len(queue)]
    return order


def _key(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def select_documents(task: TaskConfig, rows: Sequence[dict[str, Any]], limit: int | None) -> Subset:
    """The documents an evaluation with ``--limit limit`` (None: all) scores."""
    total = len(rows)
    if limit is None or limit >= total:
        return Subset(list(range(total)), total, limit, task.strata)
    if task.strata is None:
        return Subset(list(range(limit)), total, limit)
    chosen: list[int] = []
    for unit in stratified_order(rows, task.strata, task.strata_unit):
        if len(chosen) >= limit:
            break
        chosen += unit
    chosen.sort()
    counts = Counter(str(_key(rows[i][task.strata])) for i in chosen)
    per_stratum = {name: counts.get(name, 0) for name in dict.fromkeys(str(_key(row[task.strata])) for row in rows)}
    return Subset(chosen, total, limit, task.strata, per_stratum)


__all__ = ["Subset", "select_documents", "stratified_order"]
