"""The uncertainty of a run's numbers, for every table, plot and the run's final summary: each
iteration's interval of each metric and its paired difference from the base row (the first run's
iteration 0), bootstrapped once per process. The rules: docs/reporting.md, "Implementation notes".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.uncertainty import BootstrapSettings, Difference, Interval, differences, intervals
from csr_bench.scorers.unit_stats import TaskStats
from csr_bench.reporting.run_data import IterationData, RunData
from csr_bench.reporting.tables.format import MARK
from csr_bench.scorers.base import declared

if TYPE_CHECKING:
    from csr_bench.reporting.tables.format import Cell, Table
    from csr_bench.scorers import Scorer

TASK_NAMES = {"pope": "POPE", "chair": "CHAIR", "mme": "MME", "mmbench": "MMBench", "seed": "SEED",
              "scienceqa": "SQA-I", "vizwiz": "VizWiz", "gqa": "GQA", "llava_bench": "LLaVA-W", "mmvet": "MM-Vet",
              "repope": "RePOPE", "objhal": "Object HalBench", "objhal_judge": "Object HalBench (judge)"}

_StatsKey = tuple[str, int, int]  # samples file: path, size, mtime
_STATS: dict[_StatsKey, TaskStats | None] = {}
_INTERVALS: dict[tuple[_StatsKey, BootstrapSettings, str], Interval | None] = {}
_DIFFERENCES: dict[tuple[_StatsKey, _StatsKey, BootstrapSettings, str], Difference | None] = {}


def _metrics_of(task: str) -> set[str]:
    """The metrics the reports show for ``task``: bootstrapped together, in one call per task."""
    from csr_bench.reporting.tables.columns import EXTRA_COLUMNS, PAPER_COLUMNS
    from csr_bench.reporting.tables.iterations import EXTRA_METRIC_COLUMNS, METRIC_COLUMNS

    return ({c.metric for c in (*PAPER_COLUMNS, *EXTRA_COLUMNS) if c.task == task}
            | {metric for _, name, metric, _ in (*METRIC_COLUMNS, *EXTRA_METRIC_COLUMNS) if name == task})


def _stats_key(iteration: IterationData, task: str) -> _StatsKey | None:
    entry = iteration.results.get(task)
    if not isinstance(entry, dict) or entry.get("skipped"):
        return None
    path = iteration.folder / entry.get("samples", f"{task}/samples.jsonl")
    try:
        status = path.stat()
    except OSError:
        return None
    return str(path.resolve()), status.st_size, status.st_mtime_ns


def stats_of(iteration: IterationData, task: str) -> tuple[_StatsKey, TaskStats] | None:
    """The task's unit statistics in this iteration (cached); None when there are none to be had."""
    key = _stats_key(iteration, task)
    if key is None:
        return None
    if key not in _STATS:
        try:
            _STATS[key] = iteration.unit_stats(task)
        except CsrBenchError:  # no per-unit data for this task: its numbers are shown without interval
            _STATS[key] = None
    stats = _STATS[key]
    return None if stats is None else (key, stats)


def _wanted(stats: TaskStats, task: str, metric: str) -> list[str]:
    available = stats.metrics()
    return [name for name in dict.fromkeys([metric, *sorted(_metrics_of(task))]) if name in available]


@dataclass(frozen=True)
class Significance:
    """Intervals and paired differences from the base row, for the runs of one table or plot."""

    base: IterationData
    base_label: str
    settings: BootstrapSettings

    def interval(self, iteration: IterationData, task: str, metric: str) -> Interval | None:
        found = stats_of(iteration, task)
        if found is None or metric not in found[1].metrics():
            return None
        key, stats = found
        if (key, self.settings, metric) not in _INTERVALS:
            names = [n for n in _wanted(stats, task, metric) if (key, self.settings, n) not in _INTERVALS]
            for name, value in intervals(stats, names, self.settings).items():
                _INTERVALS[key, self.settings, name] = value
        return _INTERVALS[key, self.settings, metric]

    def difference(self, iteration: IterationData, task: str, metric: str) -> Difference | None:
        """``iteration - base`` of the metric with its interval; None for the base row itself and where
        either side has no unit statistics."""
        if iteration is self.base or iteration.folder == self.base.folder:
            return None
        base, current = stats_of(self.base, task), stats_of(iteration, task)
        if base is None or current is None or metric not in base[1].metrics() or metric not in current[1].metrics():
            return None
        key = (base[0], current[0], self.settings)
        if (*key, metric) not in _DIFFERENCES:
            names = [n for n in _wanted(current[1], task, metric) if (*key, n) not in _DIFFERENCES]
            found = differences(base[1], current[1], names, self.settings)
            for name in names:
                _DIFFERENCES[(*key, name)] = found.get(name)
        return _DIFFERENCES[(*key, metric)]

    def units(self, tasks: Iterable[str]) -> str:
        """'POPE question per split, CHAIR image' for the tasks (of the base row) with unit statistics."""
        parts = []
        for task in tasks:
            found = stats_of(self.base, task)
            if found is not None:
                unit = found[1].unit + (f" per {found[1].strata_name}" if found[1].strata is not None else "")
                parts.append(f"{TASK_NAMES.get(task, task)} {unit}")
        return ", ".join(parts)

    def method_note(self, tasks: Iterable[str]) -> str:
        return (f"percentile bootstrap over the benchmark's units ({self.units(tasks) or 'none'}), "
                f"{self.settings.resamples} resamples, seed {self.settings.seed}")

    def interval_note(self, tasks: Iterable[str]) -> str:
        return (f"[low, high]: {round(100 * self.settings.confidence)}% interval, {self.method_note(tasks)}; "
                "published rows and numbers without per-sample records are plain")

    def mark_note(self) -> str:
        return (f"{MARK} the paired {round(100 * self.settings.confidence)}% interval of the difference from "
                f"{self.base_label} excludes 0 (the same units resampled on both sides); no correction for "
                "multiple comparisons")


def settings_of(run: RunData) -> BootstrapSettings:
    """Default resamples and confidence, seeded with the run's seed (config "seed") so reruns agree."""
    seed = run.config.get("seed", 0)
    return BootstrapSettings(seed=seed if isinstance(seed, int) and seed >= 0 else 0)


def base_iteration(run: RunData) -> IterationData:
    return next((item for item in run.iterations if item.iteration == 0), run.iterations[0])


def significance(runs: list[RunData]) -> Significance | None:
    """The comparison layer of ``runs`` (None without runs): base row = the first run's iteration 0."""
    if not runs:
        return None
    from csr_bench.reporting.tables.paper import iteration_label

    base = base_iteration(runs[0])
    label = (f"iteration {base.iteration}" if len(runs) == 1
             else f"{iteration_label(runs[0], base)} (iteration {base.iteration} of the first run)")
    return Significance(base, label, settings_of(runs[0]))


def scorer_of_task(iteration: IterationData, task: str) -> Scorer | None:
    """The task's scorer (as the unit statistics find it: results.json's ``scorer``, else
    task_run.json, else the built-in task), None for an unknown scorer."""
    from csr_bench.scorers.unit_stats import scorer_of
    from csr_bench.scorers import SCORERS

    return SCORERS.get(scorer_of(task, iteration.results.get(task), iteration.folder / task))


def summary_lines(run: RunData) -> list[str]:
    """One line per headline metric: base (iteration 0) → last iteration, Δ, its paired interval and
    whether it is significant (and better or worse, where the scorer declares a better direction). Counts
    (MMBench's unresolved answers) are left out; a metric without unit statistics is shown without
    interval. Empty when the run has only its base iteration."""
    comparison = significance([run])
    last = run.last
    if comparison is None or last.folder == comparison.base.folder:
        return []
    base = comparison.base
    lines = [f"change from iteration {base.iteration} to iteration {last.iteration} (paired bootstrap over the "
             f"benchmark's units, {comparison.settings.resamples} resamples, "
             f"{round(100 * comparison.settings.confidence)}% interval):"]
    for task, entry in last.results.items():
        if entry.get("skipped") or task not in base.results:
            continue
        metrics = entry.get("metrics", {})
        scorer = scorer_of_task(last, task)
        names = (scorer.headline if scorer is not None else ()) or tuple(sorted(metrics))
        for name in names:
            before, after = base.results[task].get("metrics", {}).get(name), metrics.get(name)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (before, after)):
                continue
            declaration = None if scorer is None else declared(scorer.metrics, name)
            if declaration is not None and declaration.count:
                continue
            head = f"{task} {name}: {before:.2f} → {after:.2f}  Δ {after - before:+.2f}"
            if isinstance(entry.get("scored_by"), str):  # an lmms: task: lmms-eval's rule, not the official one
                head += f"  (scored by {entry['scored_by']})"
            found = comparison.difference(last, task, name)
            if found is None:
                lines.append(f"{head}  (no interval: no per-unit statistics)")
                continue
            undirected = declaration is not None and declaration.direction == "none"
            verdict = "not significant" if not found.significant else "significant" if undirected \
                else "significant, " + ("better" if found.better else "worse")
            lines.append(f"{head} [{found.low:+.2f}, {found.high:+.2f}]  {verdict}"
                         + ("" if found.paired else " (unpaired: the iterations scored different units)"))
    return lines if len(lines) > 1 else []


def clear_cache() -> None:
    """Forget every cached statistic (tests that rewrite files within the same second)."""
    _STATS.clear()
    _INTERVALS.clear()
    _DIFFERENCES.clear()




def measured_cell(comparison: Significance | None, iteration: IterationData, task: str, metric: str,
                  decimals: int = 2, table: Table | None = None) -> Cell:
    """The metric's cell with its interval and, off the base row, whether its change from the base row
    is significant (a plain value where there are no unit statistics); with ``table``, a footnote
    saying so when the task was scored on a --limit subset."""
    from csr_bench.reporting.tables.format import Cell

    cell = Cell(iteration.metric(task, metric), decimals)
    if cell.value is not None and table is not None and (note := iteration.subset_note(task)):
        cell.note = table.note(note)
    if cell.value is None or comparison is None:
        return cell
    interval = comparison.interval(iteration, task, metric)
    difference = comparison.difference(iteration, task, metric)
    cell.interval = None if interval is None else (interval.low, interval.high)
    cell.significant = None if difference is None else difference.significant
    return cell


def describe(table: Table, comparison: Significance | None, tasks: Iterable[str]) -> None:
    """Set the table's legend: the intervals' method and the mark's test, naming the base row."""
    if comparison is not None:
        tasks = list(dict.fromkeys(tasks))
        table.interval_legend = comparison.interval_note(tasks)
        table.mark_legend = comparison.mark_note()
        table.method_legend = comparison.method_note(tasks)


__all__ = ["Significance", "base_iteration", "clear_cache", "describe", "measured_cell", "scorer_of_task", "settings_of",
           "significance", "stats_of", "summary_lines"]
