"""The benchmark columns of the CSR paper's Table 1, where each comes from in a run, and how the
paper's average score treats it (MME-P/16, MME-C/4, lower-is-better CHAIR as 100 - x, the rest as
they are). A column's direction is its scorer's declaration (csr_bench.scorers, ``Scorer.metrics``).

One list, shared by the tables, the radar plot and the HTML report, so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from csr_bench.errors import CsrBenchError


@dataclass(frozen=True)
class Column:
    header: str  # as in the paper's table
    task: str  # csr-bench task name
    metric: str  # key in results.json's metrics
    average_divisor: float = 1.0  # the paper's average score: MME-P / 16, MME-C / 4
    scorer: str = ""  # the task's scorer (the built-in task's), when not named as the task
    beside: str = ""  # an extra column (EXTRA_COLUMNS): the paper column it follows

    @property
    def lower_is_better(self) -> bool:
        """As the scorer declares the metric."""
        from csr_bench.scorers import declared_metric

        found = declared_metric(self.scorer or self.task, self.metric)
        if found is None:
            raise CsrBenchError(f"column {self.header}: scorer {self.scorer or self.task} declares no metric "
                                f"{self.metric}")
        return found.direction == "lower"

    def average_term(self, value: float) -> float:
        """This column's term in the paper's average score (on a 0-100 scale)."""
        return 100.0 - value if self.lower_is_better else value / self.average_divisor

    @property
    def label(self) -> str:
        """The header with the paper's ↓ on lower-is-better columns."""
        return f"{self.header}↓" if self.lower_is_better else self.header


PAPER_COLUMNS: tuple[Column, ...] = (
    Column("MME-P", "mme", "perception", average_divisor=16),
    Column("MME-C", "mme", "cognition", average_divisor=4),
    Column("SEED", "seed", "accuracy"),
    Column("LLaVA-W", "llava_bench", "score"),
    Column("MMB", "mmbench", "accuracy"),
    Column("MM-Vet", "mmvet", "score"),
    Column("SQA-I", "scienceqa", "accuracy"),
    Column("VizWiz", "vizwiz", "accuracy", scorer="vqa_accuracy"),
    Column("GQA", "gqa", "accuracy"),
    Column("POPE", "pope", "accuracy"),  # the CSR paper's Table 1 POPE is accuracy (its iteration table)
    # gives acc 87.01 / F1 85.93 for CSR iter 3); LLaVA-1.5's single POPE number is the split-mean F1
    Column("CHAIR_S", "chair", "chair_s"),
    Column("CHAIR_I", "chair", "chair_i"),
)

# Columns the paper has not, each shown right after the paper column it varies (``beside``) and only
# when some row has its metric (no empty column otherwise); outside the paper's average score.
EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("RePOPE", "repope", "accuracy", scorer="pope", beside="POPE"),  # POPE's metric on RePOPE's labels
)

COLUMNS_BY_HEADER = {column.header: column for column in PAPER_COLUMNS}


def shown_columns(has: Callable[[Column], bool]) -> tuple[Column, ...]:
    """Table 1's columns: the paper's, each followed by its extra columns for which ``has`` is true."""
    shown: list[Column] = []
    for column in PAPER_COLUMNS:
        shown.append(column)
        shown += [extra for extra in EXTRA_COLUMNS if extra.beside == column.header and has(extra)]
    return tuple(shown)


__all__ = ["COLUMNS_BY_HEADER", "Column", "EXTRA_COLUMNS", "PAPER_COLUMNS", "shown_columns"]
