"""`csr-bench check`: is a run's iteration worse than a baseline on the hallucination metrics? Both
sides are recomputed from their per-sample records and each difference gets a bootstrap interval;
the gate judges the point difference or the interval. Details: docs/reporting.md, "Implementation notes".
"""

from __future__ import annotations

import fnmatch
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_json
from csr_bench.reporting.run_data import IterationData, load_iteration, load_run
from csr_bench.scorers.uncertainty import EPSILON, BootstrapSettings, differences
from csr_bench.scorers.unit_stats import TaskStats
from csr_bench.scorers import SCORERS, declared_metric

BASELINE_FORMAT = "csr-bench-check-baseline/1"
# task.metric patterns compared by default: the metrics a scorer declares with gate=True, on the task
# named after the scorer ("pope.*_f1", "pope.*_accuracy", "chair.chair_s", "chair.chair_i")
DEFAULT_METRICS = tuple(f"{scorer.name}.{metric.name}" for scorer in SCORERS.values()
                        for metric in scorer.metrics if metric.gate)
GATES = ("point", "ci")


@dataclass
class Side:
    """One side of the comparison: where it came from and its tasks' per-sample stats."""

    label: str
    stats: dict[str, TaskStats]
    reported: dict[str, dict[str, float]] = field(default_factory=dict)  # results.json metrics, when known


def wanted_tasks(requested: list[str] | None) -> list[str]:
    """Task-name patterns to load: the tasks of the default metrics (POPE, CHAIR) and of the requested."""
    return list(dict.fromkeys(pattern.split(".", 1)[0] for pattern in [*DEFAULT_METRICS, *(requested or [])]))


def _wanted(task: str, tasks: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(task, pattern) for pattern in tasks)


def _iteration_side(iteration: IterationData, tasks: list[str]) -> Side:
    stats = {}
    for task in iteration.results:
        if _wanted(task, tasks) and not iteration.results[task].get("skipped"):
            stats[task] = iteration.unit_stats(task)
    reported = {task: entry.get("metrics", {}) for task, entry in iteration.results.items()}
    return Side(str(iteration.folder), stats, reported)


def load_side(path: str | Path, iteration: int | None = None, tasks: Sequence[str] | None = None) -> Side:
    """A baseline JSON file, a results.json, an iteration folder or a run folder (its last or given
    iteration); ``tasks``: task-name patterns to load (default: those of the default metrics)."""
    path = Path(path).expanduser()
    tasks = wanted_tasks(None) if tasks is None else list(tasks)
    if path.is_file() and path.name != "results.json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CsrBenchError(f"{path}: not a readable baseline JSON file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
            raise CsrBenchError(f"{path}: not a csr-bench check baseline (write one with "
                                "`csr-bench check RUN_DIR --baseline FILE --update-baseline`)")
        stats = {task: TaskStats.from_json(task, entry, str(path)) for task, entry in data.get("tasks", {}).items()
                 if _wanted(task, tasks)}
        return Side(str(path), stats, data.get("metrics", {}))
    if path.is_file():  # results.json
        path = path.parent
    if (path / "results.json").is_file() and iteration is None:
        loaded = load_iteration(path)
        if loaded is not None:
            return _iteration_side(loaded, tasks)
    run = load_run(path)
    return _iteration_side(run.iteration(iteration) if iteration is not None else run.last, tasks)


def write_baseline(side: Side, output: str | Path, source: dict[str, Any]) -> Path:
    """Save a side as a baseline file: its metrics and per-sample columns."""
    output = Path(output)
    metrics = {task: {name: float(stats.value(name)) for name in stats.metrics()} for task, stats in side.stats.items()}
    atomic_write_json(output, {"format": BASELINE_FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "source": source, "metrics": metrics,
                               "tasks": {task: stats.to_json() for task, stats in side.stats.items()}})
    return output


@dataclass
class MetricResult:
    name: str  # task.metric
    direction: str  # as the task's scorer declares it: "higher", "lower" or "none" (never a regression)
    baseline: float
    current: float
    allowed_drop: float
    ci: tuple[float, float] | None = None  # of current - baseline
    paired: bool = False
    failed: bool = False
    verdict: str = ""

    @property
    def difference(self) -> float:
        return self.current - self.baseline

    def worse_by(self, difference: float) -> float:
        """How much worse ``difference`` (current - baseline) is, in the metric's units (negative: better;
        0 for a metric with no better direction)."""
        return {"higher": -difference, "lower": difference}.get(self.direction, 0.0)


def _allowed(name: str, max_drop: dict[str, float]) -> float:
    """The allowed drop of ``name``: the last matching --max-drop pattern, else 0."""
    allowed = 0.0
    for pattern, value in max_drop.items():
        if pattern in ("all", "*") or fnmatch.fnmatchcase(name, pattern):
            allowed = value
    return allowed


def _metric_names(side: Side) -> list[str]:
    return [f"{task}.{metric}" for task, stats in side.stats.items() for metric in stats.metrics()]


def unmatched_metrics(baseline: Side, current: Side, requested: list[str] | None) -> tuple[list[str], list[str]]:
    """Gated metrics (the defaults and the requested patterns) that only one side has: (in the
    baseline but missing from the current run, in the current run but not in the baseline)."""
    patterns = list(DEFAULT_METRICS) + list(requested or [])

    def gated(side: Side) -> set[str]:
        return {name for name in _metric_names(side) if any(fnmatch.fnmatchcase(name, p) for p in patterns)}

    base, cur = gated(baseline), gated(current)
    return sorted(base - cur), sorted(cur - base)


def select_metrics(baseline: Side, current: Side, requested: list[str] | None) -> list[str]:
    """The task.metric names to compare: the defaults (those both sides have) plus the requested."""
    in_baseline = set(_metric_names(baseline))
    available = [name for name in _metric_names(current) if name in in_baseline]
    chosen = [name for pattern in DEFAULT_METRICS for name in available if fnmatch.fnmatchcase(name, pattern)]
    for pattern in requested or []:
        matches = [name for name in available if fnmatch.fnmatchcase(name, pattern)]
        if not matches:
            raise CsrBenchError(f"--metrics {pattern}: no such metric on both sides (available: {', '.join(available)})")
        chosen += matches
    if not chosen:
        raise CsrBenchError(f"nothing to compare: {current.label} and {baseline.label} share no hallucination "
                            "metric (POPE, CHAIR); name others with --metrics")
    return list(dict.fromkeys(chosen))


def compare(baseline: Side, current: Side, metrics: list[str], max_drop: dict[str, float] | None = None,
            gate: str = "point", bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0,
            fail_on_change: bool = False) -> list[MetricResult]:
    if gate not in GATES:
        raise CsrBenchError(f"--gate must be one of {', '.join(GATES)}")
    if gate == "ci" and bootstrap <= 0:
        raise CsrBenchError("--gate ci needs bootstrap rounds (--bootstrap > 0)")
    if not 0 < confidence < 1:
        raise CsrBenchError(f"--confidence must be between 0 and 1, got {confidence}")
    results = []
    for name in metrics:
        task, metric = name.split(".", 1)
        base, cur = baseline.stats[task], current.stats[task]
        declaration = declared_metric(cur.kind, metric)
        direction = declaration.direction if declaration is not None else "higher"  # a scorer's stats declare all
        result = MetricResult(name, direction, float(base.value(metric)), float(cur.value(metric)),
                              _allowed(name, max_drop or {}))
        if bootstrap > 0:
            found = differences(base, cur, [metric], BootstrapSettings(bootstrap, confidence, seed))[metric]
            result.ci, result.paired = (found.low, found.high), found.paired
        worse = result.worse_by(result.difference)
        if gate == "ci" and result.ci is not None:  # the interval's best end is still too much worse
            judged = min(result.worse_by(result.ci[0]), result.worse_by(result.ci[1]))
        else:
            judged = worse
        if fail_on_change and abs(result.difference) > EPSILON:
            result.failed, result.verdict = True, "CHANGED"
        elif direction == "none":
            result.verdict = "changed, no better direction" if abs(result.difference) > EPSILON else "same"
        elif judged > result.allowed_drop + EPSILON:
            result.failed, result.verdict = True, "REGRESSION"
        elif worse > EPSILON:
            result.verdict = "worse, within tolerance" if gate == "point" else "worse, not significant"
        elif worse < -EPSILON:
            result.verdict = "better"
        else:
            result.verdict = "same"
        results.append(result)
    return results


def stale_results(side: Side) -> list[str]:
    """Metrics whose results.json value disagrees with the samples (edited or re-scored samples)."""
    notes = []
    for task, stats in side.stats.items():
        for metric in stats.metrics():
            reported, computed = side.reported.get(task, {}).get(metric), float(stats.value(metric))
            if isinstance(reported, (int, float)) and abs(computed - reported) > 1e-6:
                notes.append(f"{task}.{metric}: results.json says {reported:.4f}, its samples give "
                             f"{computed:.4f}; the samples are used")
    return notes


def format_results(results: list[MetricResult], confidence: float) -> str:
    from tabulate import tabulate

    ci_header = f"{round(confidence * 100):d}% CI of diff"
    rows = []
    for r in results:
        ci = "–" if r.ci is None else f"[{r.ci[0]:+.2f}, {r.ci[1]:+.2f}]" + ("" if r.paired else " unpaired")
        rows.append([r.name + {"lower": " ↓", "none": " ↕"}.get(r.direction, ""), f"{r.baseline:.2f}",
                     f"{r.current:.2f}", f"{r.difference:+.2f}", ci, f"{r.allowed_drop:.2f}", r.verdict])
    return tabulate(rows, headers=["metric", "baseline", "current", "diff", ci_header, "allowed drop", "verdict"],
                    tablefmt="simple", disable_numparse=True, colalign=("left",) + ("right",) * 5 + ("left",))


__all__ = ["BASELINE_FORMAT", "DEFAULT_METRICS", "GATES", "MetricResult", "Side", "compare", "format_results",
           "load_side", "select_metrics", "stale_results", "unmatched_metrics", "wanted_tasks", "write_baseline"]
