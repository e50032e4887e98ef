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
BRIDGED = "‡"  # an lmms: task (evaluation/lmms_bridge.py): lmms-eval's numbers by its rule, not the official one


def scored_by_other(entry: object) -> str | None:
    """'lmms-eval 0.7.3' for a results.json entry another harness scored (``scored_by``), else None."""
    scored_by = entry.get("scored_by") if isinstance(entry, dict) else None
    return scored_by if isinstance(scored_by, str) and scored_by else None


def bridged_note(task: str, entry: dict) -> str:
    """The footnote of an lmms: task's cells: who scored it, by which rule, its intervals and --limit subset."""
    from csr_bench.reporting.run_data import subset_note

    subset = subset_note(task, entry)
    return (f"{BRIDGED} {task}: scored by {entry['scored_by']} with its rule and units, not the official rule; "
            f"intervals (where any): ± 1.96 × its reported stderr" + (f"; {subset.partition(': ')[2]}" if subset else ""))


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
                    if name not in entry.get("metrics", {}):
                        continue  # a headline metric this task never reports (amber_g has no F1): no empty column
                    declaration = None if scorer is None else declared(scorer.metrics, name)
                    if declaration is not None and declaration.count:
                        continue
                    lower = (entry.get("higher_is_better") or {}).get(name) is False  # an lmms: task's, lmms-eval's
                    columns.setdefault((task, name), "lower" if lower else "higher" if declaration is None
                                       else declaration.direction)
    return [(task, metric, direction) for (task, metric), direction in columns.items()]


def other_benchmarks_table(runs: list[RunData]) -> Table | None:
    """None when every task of the runs is in Table 1."""
    columns = other_columns(runs)
    if not columns:
        return None
    bridged = {task for run in runs for iteration in run.iterations for task, entry in iteration.results.items()
               if scored_by_other(entry)}
    headers = ["method"] + [f"{task} {metric}" + ("↓" if direction == "lower" else "") + (BRIDGED if task in bridged else "")
                            for task, metric, direction in columns]
    table = Table("Other benchmarks: each scorer's headline metrics (↓ lower is better)", headers)
    comparison = significance(runs)
    for run, iteration in table_rows(runs, table):
        table.rows.append([Cell(iteration_label(run, iteration))]
                          + [_cell(comparison, iteration, task, metric, table) for task, metric, _ in columns])
    describe(table, comparison, [task for task, _, _ in columns])
    if not any(cell.interval is not None and task not in bridged
               for row in table.rows for cell, (task, _, _) in zip(row[1:], columns)):
        table.interval_legend = None  # the only intervals are lmms-eval's, which their footnote describes
    return table


def _cell(comparison, iteration, task: str, metric: str, table: Table) -> Cell:
    """The metric's cell; an lmms: task's has one footnote saying lmms-eval scored it (and its --limit
    subset), and the interval lmms-eval's stderr gives."""
    entry = iteration.results.get(task)
    if not scored_by_other(entry):
        cell = measured_cell(comparison, iteration, task, metric, table=table)
        caveat = entry.get("caveat") if isinstance(entry, dict) else None  # the scorer's (MMIE: text-only answers)
        if isinstance(caveat, str) and caveat and cell.value is not None:
            number = table.note(f"{task}: {caveat}")
            cell.note = cell.note or number  # a cell's one mark; the caveat's footnote is printed either way
        return cell
    cell = measured_cell(comparison, iteration, task, metric)  # its subset is told in the note below
    if cell.value is None:
        return cell
    cell.note = table.note(bridged_note(task, entry))
    if cell.interval is None:
        cell.interval = bridged_interval(entry, metric)
    return cell


def bridged_interval(entry: dict, metric: str) -> tuple[float, float] | None:
    """The interval another harness reported for ``metric`` (lmms-eval's ± 1.96 stderr), if any."""
    found = (entry.get("intervals") or {}).get(metric)
    return (float(found[0]), float(found[1])) if isinstance(found, list) and len(found) == 2 else None


__all__ = ["BRIDGED", "bridged_interval", "bridged_note", "other_benchmarks_table", "other_columns", "scored_by_other"]
