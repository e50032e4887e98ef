"""The iteration table, as the paper's: per iteration of the alignment method, POPE accuracy and F1, CHAIR_S and CHAIR_I,
plus what explains them: CHAIR's object recall, the average response length, the pair accuracy of
the iteration's preference pairs (how often the chosen response hallucinates less than the rejected
one, where the data has annotations: reporting/pair_accuracy.py), and the pairs with their mean
chosen / rejected reward and length in words. Baseline rows (the paper's iterations) come first.
A run's metric cells show their bootstrap interval and † where the paired difference from iteration 0
excludes 0; the Δ table after it gives those differences with their intervals.
"""

from __future__ import annotations

from csr_bench.reporting.tables.baselines import Baseline
from csr_bench.reporting.run_data import IterationData, RunData
from csr_bench.reporting.tables.significance import describe, measured_cell, significance
from csr_bench.reporting.tables.format import Cell, Table
from csr_bench.reporting.tables.paper import method_label
from csr_bench.scorers import declared_metric


def _direction(task: str, metric: str) -> str:
    found = declared_metric(task, metric)  # the built-in task's scorer is its namesake
    return "higher" if found is None else found.direction


# (header, task, metric, key in the baselines' "iterations" rows); the header gets ↓ where the scorer
# declares the metric lower-is-better.
METRIC_COLUMNS: tuple[tuple[str, str, str, str | None], ...] = tuple(
    (header + ("↓" if _direction(task, metric) == "lower" else ""), task, metric, key)
    for header, task, metric, key in (
        ("POPE acc", "pope", "accuracy", "pope_accuracy"),
        ("POPE F1", "pope", "f1_split_mean", "pope_f1"),
        ("CHAIR_S", "chair", "chair_s", "chair_s"),
        ("CHAIR_I", "chair", "chair_i", "chair_i"),
        ("CHAIR recall", "chair", "recall", None),
        ("avg length", "chair", "len", None),  # of the CHAIR descriptions, in CHAIR's word tokens
    ))
# the Δ table's: a metric with no better direction (the length) is no benchmark score to compare
DELTA_COLUMNS = tuple(column for column in METRIC_COLUMNS if _direction(column[1], column[2]) != "none")
# After POPE F1, only when some iteration of the runs has them (no empty columns otherwise): POPE's
# metrics on RePOPE's corrected labels (the repope task, scored by pope).
EXTRA_METRIC_COLUMNS: tuple[tuple[str, str, str, str | None], ...] = (
    ("RePOPE acc", "repope", "accuracy", None),
    ("RePOPE F1", "repope", "f1_split_mean", None),
)
# (header, key of the method's pairs/summary.json)
REWARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("pairs", "pairs"), ("chosen R", "mean_chosen_reward"), ("rejected R", "mean_rejected_reward"))
# the pairs' mean response length in whitespace words: which way the choice leans (long or short)
WORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("chosen words", "mean_chosen_words"), ("rejected words", "mean_rejected_words"))
# pair accuracy (reporting/pair_accuracy.py): how often the chosen response hallucinates less than the
# rejected one against the scene's annotations, per metric: (header of the accuracy, header of the ties, metric)
PAIR_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("pair acc CHAIR_I", "ties CHAIR_I", "chair_i"), ("pair acc CHAIR_S", "ties CHAIR_S", "chair_s"))
REWARD_MEANING = {
    "reference": "the reference code's rank score of the pair's paths (lower is better)",
    "paper": "the paper's calibrated reward λ·R_I + (1 − λ)·R_T summed over sentences (higher is better)",
}


def methods_title(runs: list[RunData]) -> str:
    """The runs' alignment methods as the tables name them ("CSR", "CSR / POVID"); run.json says which."""
    names = [method_label(str(run.method or "csr")) for run in runs]
    return " / ".join(dict.fromkeys(names)) or "CSR"


def pair_accuracy_headers() -> list[str]:
    return [header for accuracy, ties, _ in PAIR_COLUMNS for header in (accuracy, ties)]


def pair_accuracy_cells(run: RunData, iteration: IterationData, table: Table) -> list[Cell]:
    """The iteration's pair accuracy per metric (in %, with its Wilson interval) and share of ties;
    '–' without pairs, and '–' with a footnote where the pairs have no annotations to be scored against."""
    from csr_bench.reporting.pair_accuracy import DEFINITION

    found = run.pair_accuracy(iteration)
    cells = []
    for _, _, metric in PAIR_COLUMNS:
        accuracy = None if found is None else found.metric(metric)
        if accuracy is None:
            note = None if found is None or found.note() is None else table.note(found.note())
            cells += [Cell(None, note=note), Cell(None)]
            continue
        low, high = accuracy.interval
        definition = table.note(DEFINITION)  # stated once, also where a cell points to its partial note
        note = table.note(found.note()) if found.note() else definition
        cells += [Cell(100 * accuracy.accuracy, interval=(100 * low, 100 * high), note=note),
                  Cell(100 * accuracy.tie_share)]
    return cells


def metric_columns(runs: list[RunData], columns: tuple = METRIC_COLUMNS) -> tuple:
    """``columns`` with EXTRA_METRIC_COLUMNS after POPE F1 where some iteration of ``runs`` has their metric."""
    extra = tuple(c for c in EXTRA_METRIC_COLUMNS
                  if any(it.metric(c[1], c[2]) is not None for run in runs for it in run.iterations))
    if not extra:
        return columns
    at = next((i + 1 for i, c in enumerate(columns) if c[1:3] == ("pope", "f1_split_mean")), len(columns))
    return columns[:at] + extra + columns[at:]


def iteration_table(runs: list[RunData], baselines: list[Baseline] = ()) -> Table:
    columns = metric_columns(runs)
    headers = (["iteration"] + [c[0] for c in columns] + pair_accuracy_headers()
               + [c[0] for c in REWARD_COLUMNS + WORD_COLUMNS])
    table = Table(f"{methods_title(runs)} iterations: hallucination metrics, response length and rewards", headers)
    for baseline in baselines:
        if not baseline.iterations:
            continue
        note = table.note(f"{baseline.title}: {baseline.source}.")
        for row in baseline.iterations:
            cells = [Cell(f"{baseline.title} iter {row['iteration']}", note=note)]
            cells += [Cell(None if key is None else row.get(key)) for _, _, _, key in columns]
            cells += [Cell(None) for _ in pair_accuracy_headers()]
            table.rows.append(cells + [Cell(None) for _ in REWARD_COLUMNS + WORD_COLUMNS])
    comparison = significance(runs)
    for run in runs:
        for iteration in run.iterations:
            label = str(iteration.iteration) if len(runs) == 1 else f"{run.name} iter {iteration.iteration}"
            cells = [Cell(label)]
            cells += [measured_cell(comparison, iteration, task, metric, table=table)
                      for _, task, metric, _ in columns]
            summary = iteration.summary or {}
            rewards = [Cell(summary.get("pairs"))]
            calibration = summary.get("calibration")
            note = table.note(f"chosen R / rejected R: mean of {REWARD_MEANING[calibration]}") \
                if calibration in REWARD_MEANING else None
            for _, key in REWARD_COLUMNS[1:]:
                value = summary.get(key)
                rewards.append(Cell(value, decimals=3, note=note if value is not None else None))
            rewards += [Cell(summary.get(key), decimals=1) for _, key in WORD_COLUMNS]
            # the pair accuracy's footnotes after the rewards': a run's reward note keeps its number
            table.rows.append(cells + pair_accuracy_cells(run, iteration, table) + rewards)
    describe(table, comparison, [task for _, task, _, _ in columns])
    return table


def _label(runs: list[RunData], run: RunData, iteration: IterationData) -> str:
    return str(iteration.iteration) if len(runs) == 1 else f"{run.name} iter {iteration.iteration}"


def iteration_delta_table(runs: list[RunData]) -> Table | None:
    """Δ of the iteration table's metrics from the base row (iteration 0; the first run's in a multi-run
    table), each with its paired bootstrap interval and † where that excludes 0; a plain Δ where there are
    no unit statistics. None when there is no row but the base."""
    comparison = significance(runs)
    if comparison is None:
        return None
    columns = metric_columns(runs, DELTA_COLUMNS)
    base = comparison.base
    table = Table(f"{methods_title(runs)} iterations: change from {comparison.base_label} (paired bootstrap)",
                  ["iteration"] + [f"Δ {header}" for header, _, _, _ in columns])
    for run in runs:
        for iteration in run.iterations:
            if iteration.folder == base.folder:
                continue
            cells = [Cell(_label(runs, run, iteration))]
            for _, task, metric, _ in columns:
                before, after = base.metric(task, metric), iteration.metric(task, metric)
                difference = comparison.difference(iteration, task, metric)
                cell = Cell(None if before is None or after is None else after - before, signed=True)
                subset = iteration.subset_note(task) or base.subset_note(task)  # a --limit subset on either side
                if cell.value is not None and subset:
                    cell.note = table.note(subset)
                if difference is not None and cell.value is not None:
                    cell.interval, cell.significant = (difference.low, difference.high), difference.significant
                cells.append(cell)
            table.rows.append(cells)
    if not table.rows:
        return None
    describe(table, comparison, [task for _, task, _, _ in columns])
    table.interval_legend = (f"Δ [low, high]: the paired {round(100 * comparison.settings.confidence)}% interval "
                             f"of the difference, {table.method_legend}")
    return table


__all__ = ["DELTA_COLUMNS", "EXTRA_METRIC_COLUMNS", "METRIC_COLUMNS", "PAIR_COLUMNS", "REWARD_COLUMNS", "WORD_COLUMNS", "iteration_delta_table",
           "iteration_table", "metric_columns", "pair_accuracy_cells", "pair_accuracy_headers"]
