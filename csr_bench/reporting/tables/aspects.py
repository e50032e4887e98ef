"""`csr-bench table --by-aspect`: a run's tasks summarised per aspect (perception, reasoning, ...,
hallucination; the tags in each task's YAML, csr_bench/tasks/aspects.py). Rows are aspects; columns
are the compared runs (each run's last iteration), or one run's iterations.

- Several columns: VHELM's **mean win rate**. Per task, each column's share of the other columns
  (those with the task's main metric) that it beats, ties counting half a win, averaged over the
  aspect's tasks the column has. This is stanford-crfm/helm's ``compute_aggregate_row_win_rates``
  (src/helm/benchmark/presentation/summarize.py, ties handled since 1f6f4b2cf, 2024-09-18, before
  VHELM v2.1.0; at da314a9b2 ties were broken by row order). A task fewer than two columns have is
  not ranked; a column missing a task is averaged over the aspect's other tasks, as HELM does.
- One column: **mean normalised score (ours)**, the plain mean over the aspect's tasks of each
  task's main metric mapped onto 0-1 by its declared bounds (Metric.bounds: a percentage / 100,
  MME points / their maximum, MMHal's 0-6 rating / 6), lower-is-better metrics as 1 - x. Its
  interval is a bootstrap that resamples every task's units independently; none where a task has no
  per-unit statistics.

A task's main metric: the first headline metric its scorer declares with a better side (not a count)
that the run reports; the same metric in every column. The reasoning and worked examples:
docs/reporting.md, "By aspect".
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from csr_bench.reporting.run_data import IterationData, RunData
from csr_bench.reporting.tables.format import Cell, Table
from csr_bench.reporting.tables.significance import settings_of, stats_of
from csr_bench.scorers.base import declared

WIN_RATE = "mean win rate (VHELM)"
NORMALISED = "mean normalised score (ours)"
HELM_RULE = "stanford-crfm/helm summarize.py compute_aggregate_row_win_rates as of 1f6f4b2cf"


@dataclass(frozen=True)
class MainMetric:
    task: str
    name: str
    lower_is_better: bool
    bounds: tuple[float, float]

    def normalised(self, value: float | np.ndarray) -> float | np.ndarray:
        """``value`` on 0-1 (1 best): (value - low) / (high - low), and 1 minus that when lower is better."""
        low, high = self.bounds
        share = (value - low) / (high - low)
        return 1.0 - share if self.lower_is_better else share

    def describe(self) -> str:
        low, high = self.bounds
        way = ", lower is better: 1 − x" if self.lower_is_better else ""
        return f"{self.task} {self.name} ({low:g}–{high:g}{way})"


@dataclass(frozen=True)
class Column:
    label: str
    iteration: IterationData


def columns_of(runs: list[RunData]) -> list[Column]:
    """One run: its iterations (a run of one iteration: one column, named as the run); several runs:
    each run's last iteration, named as the run ("<run> iter k" past iteration 0)."""
    def named(run: RunData, item: IterationData) -> str:
        return run.name if item.iteration == 0 else f"{run.name} iter {item.iteration}"

    if len(runs) == 1:
        iterations = runs[0].iterations
        if len(iterations) == 1:
            return [Column(named(runs[0], iterations[0]), iterations[0])]
        return [Column(f"iter {item.iteration}", item) for item in iterations]
    return [Column(named(run, run.last), run.last) for run in runs]


def main_metric(iteration: IterationData, task: str, name: str | None = None) -> MainMetric | str:
    """The task's main metric in this iteration: ``name``, else the first headline metric its scorer
    declares with a better side (not a count) that the iteration reports (AMBER's amber_score, or its
    chair on the generative half alone, its f1 on the discriminative half); or why it has none."""
    from csr_bench.scorers import SCORERS
    from csr_bench.scorers.unit_stats import scorer_of

    entry = iteration.results.get(task)
    if not isinstance(entry, dict):
        return "not run"
    if entry.get("skipped"):
        return f"not scored: {entry['skipped']}"
    if entry.get("error"):
        return "scoring failed"
    scorer_name = scorer_of(task, entry, iteration.folder / task)
    scorer = SCORERS.get(scorer_name)
    if scorer is None:
        return f"unknown scorer {scorer_name}"
    directed = [metric for metric in ([name] if name else scorer.headline)
                if (found := declared(scorer.metrics, metric)) is not None and not found.count
                and found.direction != "none"]
    if not directed:
        return f"scorer {scorer_name} declares no headline metric with a better side"
    metric = next((metric for metric in directed if iteration.metric(task, metric) is not None), None)
    if metric is None:
        return f"no {' or '.join(directed)}"
    found = declared(scorer.metrics, metric)
    return MainMetric(task, metric, found.direction == "lower", found.bounds)


def win_rates(values: Sequence[float | None], lower_is_better: bool) -> list[float | None]:
    """HELM's win rate of each value among the others present: (values it beats + ties / 2) / (n - 1);
    None for an absent value, and for every value when fewer than two are present."""
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return [None] * len(values)
    rates: list[float | None] = []
    for value in values:
        if value is None:
            rates.append(None)
            continue
        beaten = sum(1 for other in present if (other > value if lower_is_better else other < value))
        ties = sum(1 for other in present if other == value) - 1
        rates.append((beaten + ties / 2) / (len(present) - 1))
    return rates


def task_aspects(columns: list[Column], mapping: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """Each task's aspects: those its results.json entry recorded at evaluation time, else ``mapping``'s
    (the task YAMLs as they are now); the union over the columns."""
    found: dict[str, list[str]] = {}
    for column in columns:
        for task, entry in column.iteration.results.items():
            recorded = entry.get("aspects") if isinstance(entry, dict) else None
            tags = recorded if isinstance(recorded, list) else list((mapping or {}).get(task, ()))
            found.setdefault(task, [])
            found[task] += [tag for tag in tags if isinstance(tag, str) and tag not in found[task]]
    return found


def _ordered(aspects: set[str], order: Sequence[str]) -> list[str]:
    return [a for a in order if a in aspects] + sorted(aspects - set(order))


def _replicates(iteration: IterationData, metric: MainMetric, resamples: int, seed: int) -> np.ndarray | None:
    """The task's normalised main metric on ``resamples`` bootstrap draws of its units (within each
    stratum, as the intervals resample), None without per-unit statistics."""
    found = stats_of(iteration, metric.task)
    if found is None or metric.name not in found[1].metrics():
        return None
    from csr_bench.scorers.uncertainty import unit_parts

    stats = found[1]
    parts = unit_parts(stats)
    rng = np.random.default_rng([seed, zlib.crc32(metric.task.encode())])  # independent draws per task
    values = []
    for start in range(0, resamples, 250):
        size = min(250, resamples - start)
        index = np.concatenate([part[rng.integers(0, len(part), size=(size, len(part)))] for part in parts], axis=-1)
        values.append(stats.values([metric.name], index)[0])
    return np.asarray(metric.normalised(np.concatenate(values)), dtype=float)


def _comparisons(columns: list[Column], metrics: dict[tuple[int, str], MainMetric], tasks: list[str],
                 settings) -> tuple[int, int, int]:
    """Over every task and pair of columns that both have its main metric: (comparisons, within the
    noise, without an interval). Within the noise: the difference's interval includes 0."""
    from csr_bench.scorers.uncertainty import differences

    total = noise = plain = 0
    for task in tasks:
        having = [i for i in range(len(columns)) if (i, task) in metrics]
        for a_at, a in enumerate(having):
            for b in having[a_at + 1:]:
                total += 1
                name = metrics[a, task].name
                first, second = stats_of(columns[a].iteration, task), stats_of(columns[b].iteration, task)
                if first is None or second is None or name not in first[1].metrics() \
                        or name not in second[1].metrics():
                    plain += 1
                    continue
                found = differences(first[1], second[1], [name], settings).get(name)
                if found is None:
                    plain += 1
                elif not found.significant:
                    noise += 1
    return total, noise, plain


def aspect_table(runs: list[RunData], mapping: Mapping[str, Sequence[str]] | None = None,
                 order: Sequence[str] = ()) -> Table:
    """The by-aspect table of ``runs``; ``mapping``: task -> aspects for tasks whose results.json entry
    recorded none (runs evaluated before the evaluator recorded them); ``order``: the rows' order."""
    columns = columns_of(runs)
    several = len(columns) > 1
    kind = WIN_RATE if several else NORMALISED
    table = Table(f"By aspect: {kind}", ["aspect", "tasks"] + [column.label for column in columns])
    tagged = task_aspects(columns, mapping)
    metrics: dict[tuple[int, str], MainMetric] = {}
    values: dict[tuple[int, str], float] = {}
    absent: dict[str, dict[str, list[str]]] = {}  # task -> reason -> column labels
    chosen: dict[str, str] = {}  # task -> its main metric, as the first column that has one reports it
    for at, column in enumerate(columns):
        for task in tagged:
            found = main_metric(column.iteration, task, chosen.get(task))
            if isinstance(found, str):
                absent.setdefault(task, {}).setdefault(found, []).append(column.label)
                continue
            chosen[task] = found.name
            metrics[at, task], values[at, task] = found, column.iteration.metric(task, found.name)
    settings = settings_of(runs[0])
    if several:
        rates: dict[tuple[int, str], float] = {}
        for task in tagged:
            having = [at for at in range(len(columns)) if (at, task) in metrics]
            if not having:
                continue
            lower = metrics[having[0], task].lower_is_better
            for at, rate in zip(range(len(columns)), win_rates([values.get((at, task)) for at in range(len(columns))],
                                                                lower)):
                if rate is not None:
                    rates[at, task] = rate
        counted = {task for _, task in rates if tagged[task]}
    else:
        counted = {task for _, task in values if tagged[task]}
    aspects = _ordered({a for task in counted for a in tagged[task]}, order)
    without = []  # rows whose mean has no interval: the tasks without per-unit statistics
    for aspect in aspects:
        tasks = [task for task in tagged if aspect in tagged[task] and task in counted]
        row = [Cell(aspect), Cell(", ".join(tasks))]
        for at, column in enumerate(columns):
            have = [task for task in tasks if (at, task) in (rates if several else values)]
            if not have:
                row.append(Cell(None, note=table.note(f"{column.label} has no main metric of the {aspect} tasks "
                                                      f"({', '.join(tasks)})")))
                continue
            if several:
                cell = Cell(float(np.mean([rates[at, task] for task in have])), decimals=3)
            else:
                cell = Cell(float(np.mean([metrics[at, task].normalised(values[at, task]) for task in have])),
                            decimals=3)
                draws = [_replicates(column.iteration, metrics[at, task], settings.resamples, settings.seed)
                         for task in have]
                if all(draw is not None for draw in draws):
                    tail = 100 * (1 - settings.confidence) / 2
                    low, high = np.percentile(np.mean(draws, axis=0), [tail, 100 - tail])
                    cell.interval = (float(low), float(high))
                else:
                    without += [task for task, draw in zip(have, draws) if draw is None and task not in without]
            missing = [task for task in tasks if task not in have]
            if missing:
                cell.note = table.note(f"{column.label} has no main metric of {', '.join(missing)}: its {aspect} is "
                                       "the mean over the aspect's other tasks" + (" (HELM's rule)" if several else ""))
            row.append(cell)
        table.rows.append(row)
    _footnotes(table, columns, tagged, counted, metrics, absent, several, without, settings)
    return table


def _footnotes(table: Table, columns: list[Column], tagged: dict[str, list[str]], counted: set[str],
               metrics: dict[tuple[int, str], MainMetric], absent: dict[str, dict[str, list[str]]],
               several: bool, without: list[str], settings) -> None:
    confidence = round(100 * settings.confidence)
    by_column = sorted(metrics.items(), key=lambda item: item[0][0])
    mains = list(dict.fromkeys(metric.describe() for (_, task), metric in by_column if task in counted))
    if several:
        table.note(f"{WIN_RATE}: per task, a column's share of the other columns with the task's main metric that it "
                   f"beats, ties counting half a win, averaged over the aspect's tasks ({HELM_RULE}); "
                   "0 = worst everywhere, 1 = best everywhere; relative to the columns compared")
        ranked = sorted(counted)
        total, noise, plain = _comparisons(columns, metrics, ranked, settings)
        if total:
            table.note(f"{total} pairwise comparison{'s' if total != 1 else ''} (task × pair of columns) behind the "
                       f"win rates: {noise} within "
                       f"the noise (the {confidence}% interval of the difference includes 0; bootstrap over the "
                       f"benchmark's units, {settings.resamples} resamples, seed {settings.seed}), "
                       f"{total - noise - plain} outside it, {plain} without an interval (no per-unit statistics); "
                       "VHELM's rule counts each as a win, a loss or a tie all the same")
    else:
        table.note(f"{NORMALISED}: the plain mean over the aspect's tasks of each task's main metric mapped "
                   "onto 0-1 by its bounds, lower-is-better metrics as 1 − x; not VHELM's (which needs several "
                   "models to rank)")
        if any(cell.interval is not None for row in table.rows for cell in row):
            table.interval_legend = (f"[low, high]: {confidence}% percentile interval of the mean, every task's units "
                                     f"resampled independently, {settings.resamples} resamples, seed {settings.seed}")
        if without:
            table.note(f"no interval where the aspect has a task without per-unit statistics: {', '.join(without)}")
    if mains:
        table.note("main metric per task: " + "; ".join(mains))
    for task in sorted(absent):
        if not tagged.get(task):
            continue  # in no aspect: said below
        if several and task in counted and all(reason == "not run" for reason in absent[task]):
            continue  # a column without the task: its cells' footnotes say so
        reasons = "; ".join(f"{reason} in {', '.join(labels)}" for reason, labels in absent[task].items())
        if task in counted:
            table.note(f"{task}: {reasons}")
        else:
            table.note(f"{task}: {reasons}; not counted" + (" (fewer than two columns have its main metric)"
                                                           if several else ""))
    untagged = sorted(task for task in tagged if not tagged[task])
    if untagged:
        table.note(f"in no aspect (no aspects: in the task's YAML): {', '.join(untagged)}")


__all__ = ["MainMetric", "NORMALISED", "WIN_RATE", "aspect_table", "columns_of", "main_metric",
           "task_aspects", "win_rates"]
