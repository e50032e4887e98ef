"""Benchmarks beyond the CSR paper's Table 1 (a task folder added with --include-tasks, the ones the
field reports now): one column per headline metric its scorer declares, with intervals and the
same significance marks, so a new benchmark shows in the tables without an edit here."""

from __future__ import annotations

from csr_bench.reporting.run_data import RunData
from csr_bench.reporting.tables.format import Cell
from csr_bench.reporting.tables.columns import PAPER_COLUMNS
from csr_bench.reporting.tables.format import Table
from csr_bench.scorers import declared
from csr_bench.reporting.tables.paper import iteration_label, table_rows
from csr_bench.reporting.tables.significance import describe, measured_cell, scorer_of_task, significance

PAPER_TASKS = frozenset(column.task for column in PAPER_COLUMNS)


def other_columns(runs: list[RunData]) -> list[tuple[str, str, str]]:
    """(task, metric, direction) of every headline metric of a task outside Table 1, in first-seen order.
    A scorer that cannot be had (a task folder's, not trusted) shows every metric results.json holds."""
    columns: dict[tuple[str, str], str] = {}
    for run in runs:
        for iteration in run.iterations:
            for task, entry in iteration.results.items():
                if task in PAPER_TASKS or not isinstance(entry, dict) or entry.get("skipped"):
                    continue
                scorer = scorer_of_task(iteration, task)
                names = (scorer.headline if scorer is not None else ()) or tuple(sorted(entry.get("metrics", {})))
                for name in names:
                    declaration = None if scorer is None else declared(scorer.metrics, name)
                    if declaration is not None and declaration.count:
                        continue
                    columns.setdefault((task, name), "higher" if declaration is None else declaration.direction)
    return [(task, metric, direction) for (task, metric), direction in columns.items()]


def other_benchmarks_table(runs: list[RunData]) -> Table | None:
    """None when every task of the runs is in Table 1."""
    columns = other_columns(runs)
    if not columns:
        return None
    headers = ["method"] + [f"{task} {metric}" + ("↓" if direction == "lower" else "")
                            for task, metric, direction in columns]
    table = Table("Other benchmarks: each scorer's headline metrics (↓ lower is better)", headers)
    comparison = significance(runs)
    for run, iteration in table_rows(runs, table):
        table.rows.append([Cell(iteration_label(run, iteration))]
                          + [measured_cell(comparison, iteration, task, metric, table=table)
                             for task, metric, _ in columns])
    describe(table, comparison, [task for task, _, _ in columns])
    return table


__all__ = ["other_benchmarks_table", "other_columns"]
