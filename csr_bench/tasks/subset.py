"""Which documents ``--limit N`` evaluates.

A file-order prefix is biased where the data is ordered by a stratum (POPE's 9,000 questions run
split by split, so ``--limit 50`` would score only the first split). A task whose YAML names its
``strata: <column>`` instead takes N documents spread over the strata: a fixed order interleaves
the strata round-robin (strata in order of first appearance, file order within each) and the
selection is the first N of that order, evaluated in document order. The order does not depend on
N, so a larger limit's selection contains a smaller one's (raising ``--limit`` reuses samples).

``strata_unit: <column>`` keeps documents that are scored together whole (MME's two questions on
one image): the round-robin deals out units (documents of one stratum sharing that column's value)
and the selection ends at the end of the unit that holds the N-th document, so it may hold a few
more than N. Without ``strata``, the first N documents in file order, as before.
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
