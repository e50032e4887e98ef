"""The CSR paper's Table 1 for runs: one row per iteration of each run, baseline rows first, the best
value of each column in bold, the paper's average score; '–' with a footnote, never 0, for what a row
did not measure. The rules: docs/reporting.md, "Implementation notes".
"""

from __future__ import annotations

from csr_bench.reporting.tables.baselines import Baseline
from csr_bench.reporting.tables.columns import PAPER_COLUMNS, Column, shown_columns
from csr_bench.reporting.run_data import IterationData, RunData
from csr_bench.reporting.tables.significance import Significance, describe, measured_cell, significance
from csr_bench.reporting.tables.format import Cell, Table

AVERAGE_HEADER = "Avg (n)"


def average_score(values: dict[str, float]) -> tuple[float, int] | None:
    """The paper's average over the Table 1 columns present in ``values`` (header -> value), and their count."""
    terms = [column.average_term(values[column.header]) for column in PAPER_COLUMNS if column.header in values]
    return (sum(terms) / len(terms), len(terms)) if terms else None


# run.json's method name -> the paper's row name, where the acronym rule below does not give it
METHOD_LABELS = {"self-reward": "Self-rewarding"}


def method_label(name: str) -> str:
    """A method's name as a row shows it: the paper's name (self-reward -> Self-rewarding), else a short
    one is an acronym (csr -> CSR, povid -> POVID, sima -> SIMA)."""
    if name in METHOD_LABELS:
        return METHOD_LABELS[name]
    return name.upper() if name.isalpha() and len(name) <= 5 else name


def iteration_label(run: RunData, iteration: IterationData) -> str:
    """'<run>' for iteration 0, '<run> + CSR (iter k)' after, as the paper names its rows; the method is
    the one run.json records (else the one the iteration's pairs/summary.json names), with the
    preference set it trained on where it names one ('<run> + DPO on rlhf-v (iter 1)')."""
    if iteration.iteration == 0:
        return run.name
    summary = iteration.summary or {}
    method = run.config.get("method") or summary.get("method") or "method"
    source = f" on {summary['source']}" if summary.get("source") else ""
    return f"{run.name} + {method_label(str(method))}{source} (iter {iteration.iteration})"


def same_evaluation(a: IterationData, b: IterationData) -> bool:
    """Two evaluations of one model with the same settings and the same numbers: the runs of several
    methods from one base model each evaluate it as their iteration 0."""
    def settings(item: IterationData) -> dict:
        return {key: value for key, value in item.config.items() if key not in ("run_name", "iteration", "overwrite")}

    return (a.iteration == b.iteration == 0 and settings(a) == settings(b)
            and {task: entry.get("metrics") for task, entry in a.results.items()}
            == {task: entry.get("metrics") for task, entry in b.results.items()})


def table_rows(runs: list[RunData], table: Table) -> list[tuple[RunData, IterationData]]:
    """Every iteration of every run, but a base row once: a later run's iteration 0 that repeats an
    earlier one's evaluation is left out, with a footnote (one base row is what the others compare with)."""
    rows: list[tuple[RunData, IterationData]] = []
    left_out: dict[str, list[str]] = {}  # the run whose base row is shown -> the runs repeating it
    for run in runs:
        for iteration in run.iterations:
            repeated = next((first for first, shown in rows if same_evaluation(iteration, shown)), None)
            if repeated is not None:
                left_out.setdefault(repeated.name, []).append(run.name)
                continue
            rows.append((run, iteration))
    for shown, names in left_out.items():
        which = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        table.note(f"iteration 0 of {which} is the same evaluation as {shown}'s, with the same numbers: "
                   "not repeated")
    return rows


def _decimals(column: Column) -> int:
    return 1 if column.header in ("MME-P", "MME-C") else 2


def _row(label: Cell, values: dict[str, float], table: Table, skipped: dict[str, str],
         measured: tuple[Significance | None, IterationData] | None = None,
         left_out: dict[str, str] | None = None, columns: tuple[Column, ...] = PAPER_COLUMNS) -> list[Cell]:
    """A row of ``values``; with ``measured`` (a run's iteration) its cells carry intervals and marks.
    ``left_out``: tasks the run's default set leaves out, with why (footnoted where not evaluated)."""
    row = [label]
    for column in columns:
        note = table.note(f"{column.header} ({column.task}) not scored: {skipped[column.task]}") \
            if column.task in skipped and column.header not in values else None
        if left_out and column.task in left_out and measured is not None and column.task not in measured[1].results:
            note = table.note(left_out[column.task])
        absent = None if measured is None or column.header in values \
            else measured[1].absent_reason(column.task, column.metric)
        note = table.note(f"{column.header} ({column.task}) not reported: {absent}") if absent else note
        cell = Cell(values.get(column.header), _decimals(column), note=note) if measured is None \
            else measured_cell(*measured, column.task, column.metric, _decimals(column), table)
        cell.note = note or cell.note
        row.append(cell)
    average, count = average_score(values) or (None, 0)
    row.append(Cell(average, suffix=f" ({count})"))
    return row


def paper_table(runs: list[RunData], baselines: list[Baseline] = ()) -> Table:
    # an extra column (RePOPE beside POPE) only when some iteration has its metric
    columns = shown_columns(lambda extra: any(iteration.metric(extra.task, extra.metric) is not None
                                              for run in runs for iteration in run.iterations))
    headers = ["method"] + [column.label for column in columns] + [AVERAGE_HEADER]
    table = Table("Table 1: benchmarks (CSR paper layout; ↓ lower is better; best in bold)", headers)
    for baseline in baselines:
        note = table.note(f"{baseline.title}: {baseline.source}. {baseline.caveat}")
        for row in baseline.rows:
            values = {key: float(value) for key, value in row.items() if key != "method"}
            table.rows.append(_row(Cell(str(row["method"]), note=note), values, table, {}, columns=columns))
    comparison = significance(runs)
    for run, iteration in table_rows(runs, table):
        values = {column.header: value for column in columns
                  if (value := iteration.metric(column.task, column.metric)) is not None}
        table.rows.append(_row(Cell(iteration_label(run, iteration)), values, table, iteration.skipped(),
                               (comparison, iteration), run.left_out(), columns))
    describe(table, comparison, [column.task for column in columns])
    for index, column in enumerate(columns, start=1):
        table.mark_best(index, column.lower_is_better)
    _mark_best_average(table)
    return table


def _mark_best_average(table: Table) -> None:
    """Bold the best average among the rows averaged over the most columns (others do not compare)."""
    counts = {i: sum(cell.value is not None for cell in row[1:-1]) for i, row in enumerate(table.rows)
              if row[-1].value is not None}
    widest = max(counts.values(), default=None)
    table.mark_best(len(table.headers) - 1, lower_is_better=False,
                    among=[i for i, count in counts.items() if count == widest])


__all__ = ["AVERAGE_HEADER", "METHOD_LABELS", "average_score", "iteration_label", "method_label", "paper_table",
           "same_evaluation", "table_rows"]
