"""The plots of a run, as PNG and SVG: the CSR paper's radar chart of the benchmarks, the metrics over
iterations, and the method's reward trend (chosen vs rejected per iteration), from the files a run
leaves. matplotlib only inside functions; reproducible output (docs/reporting.md, "Implementation notes").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from csr_bench.reporting.tables.columns import PAPER_COLUMNS, Column
from csr_bench.reporting.tables.other_benchmarks import BRIDGED, bridged_interval, other_columns, scored_by_other
from csr_bench.reporting.run_data import RunData, load_run
from csr_bench.reporting.tables.significance import significance
from csr_bench.scorers import declared_metric

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RADAR_RULE = "each axis: share of the best iteration, CHAIR as 100 − x"
_STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
          "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8, "legend.frameon": False,
          "svg.hashsalt": "csr-bench"}


@dataclass(frozen=True)
class RadarAxis:
    """One benchmark axis of the radar, normalised so that benchmarks on different scales share a chart."""

    column: Column
    best: float  # the best iteration's own value (the lowest, for a lower-is-better column)
    shares: dict[int, float | None]  # iteration -> share of the best, in [0, 1]; None: not measured there
    changed: frozenset[int] = frozenset()  # iterations whose paired difference from iteration 0 excludes 0

    @property
    def label(self) -> str:
        """The column's label, with * when some iteration changed significantly from iteration 0."""
        return self.column.label + ("*" if self.changed else "")


def radar_axes(run: RunData) -> list[RadarAxis]:
    """The radar's axes: every ``PAPER_COLUMNS`` column some iteration has, in that order.

    Normalisation: a column's score is its value, or ``100 − value`` for a lower-is-better one
    (CHAIR_S, CHAIR_I, as the paper's average score treats them); each iteration's point on the axis
    is its score divided by the best iteration's score, so the best iteration sits at 1. An axis
    where every score is 0 puts every iteration at 1 (they tie; none is behind). A metric a run does not
    report (MME-C on data without cognition categories) is no axis, never an axis at 0. ``changed``: the
    iterations whose paired bootstrap interval of the change from iteration 0 excludes 0.
    """
    comparison = significance([run])
    axes = []
    for column in PAPER_COLUMNS:
        values = {item.iteration: item.metric(column.task, column.metric) for item in run.iterations}
        present = [v for v in values.values() if v is not None]
        if not present:
            continue
        scores = {k: None if v is None else 100.0 - v if column.lower_is_better else v for k, v in values.items()}
        top = max(s for s in scores.values() if s is not None)
        shares = {k: None if s is None else (s / top if top > 0 else 1.0) for k, s in scores.items()}
        best = min(present) if column.lower_is_better else max(present)
        changed = frozenset() if comparison is None else frozenset(
            item.iteration for item in run.iterations
            if (found := comparison.difference(item, column.task, column.metric)) is not None and found.significant)
        axes.append(RadarAxis(column, best, shares, changed))
    return axes


def write_plots(run: RunData | str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write ``radar``, ``metrics`` and ``rewards`` as ``.png`` and ``.svg`` into ``out_dir``
    (default ``<run folder>/plots/``); returns the paths written.

    A plot without data is skipped, not drawn empty: the radar with fewer than 3 benchmark axes,
    the metrics with no benchmark metric, the reward trend of a run whose method
    recorded no mean rewards (``iter_<k>/pairs/summary.json``, ``csr/`` in older runs).
    """
    import matplotlib

    run = run if isinstance(run, RunData) else load_run(run)
    out = Path(out_dir) if out_dir is not None else run.folder / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with matplotlib.rc_context(_STYLE):
        for stem, draw in (("radar", _radar_figure), ("metrics", _metrics_figure), ("rewards", _rewards_figure)):
            figure = draw(run)
            if figure is not None:
                written += _save(figure, out / stem)
    return written


def _save(figure: Figure, stem: Path) -> list[Path]:
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    figure.savefig(png, format="png", dpi=150)
    figure.savefig(svg, format="svg", metadata={"Date": None})
    return [png, svg]


def _iteration_colours(iterations: list[int]) -> dict[int, tuple]:
    """viridis from the first iteration (dark) to the last, so the order reads off the colour."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    span = max(len(iterations) - 1, 1)
    return {k: cmap(0.85 * i / span) for i, k in enumerate(iterations)}


def _radar_figure(run: RunData) -> Figure | None:
    """Drawn on plain axes, not polar ones, so that the edges and the grid are straight polygons as in
    the paper, and the zoomed radius is explicit."""
    from matplotlib.figure import Figure

    axes = radar_axes(run)
    if len(axes) < 3:
        return None
    angles = [math.pi / 2 - 2 * math.pi * i / len(axes) for i in range(len(axes))]
    shares = [s for axis in axes for s in axis.shares.values() if s is not None]
    # The radius starts a tenth below the lowest share, so that small differences between iterations show.
    inner = max(0.0, math.ceil(round(10 * min(shares), 6)) / 10 - 0.1)

    def xy(angle: float, share: float) -> tuple[float, float]:
        radius = (share - inner) / (1.0 - inner)
        return radius * math.cos(angle), radius * math.sin(angle)

    figure = Figure(figsize=(7.2, 5.8), layout="constrained")
    ax = figure.add_subplot()
    ax.set_aspect("equal")
    ax.axis("off")
    between = math.pi / 2 - math.pi / len(axes)  # ring labels between the first two axes, off the data points
    for tick in _ticks(inner):
        ring = [xy(a, tick) for a in angles + angles[:1]]
        ax.plot(*zip(*ring), color="0.8", linewidth=0.6, zorder=0)
        ax.text(*xy(between, tick), f"{tick:.2f}", fontsize=7, color="0.45", ha="left", va="bottom")
    for angle, axis in zip(angles, axes):
        ax.plot(*zip((0, 0), xy(angle, 1.0)), color="0.8", linewidth=0.6, zorder=0)
        x, y = math.cos(angle) * 1.1, math.sin(angle) * 1.1
        ha = "center" if abs(x) < 0.1 else "left" if x > 0 else "right"
        va = "center" if abs(y) < 0.1 else "bottom" if y > 0 else "top"
        ax.text(x, y, f"{axis.label}\nbest {axis.best:.1f}", ha=ha, va=va, multialignment="center")
    colours = _iteration_colours([item.iteration for item in run.iterations])
    for item in run.iterations:
        points = [xy(a, axis.shares[item.iteration]) for a, axis in zip(angles, axes)
                  if axis.shares[item.iteration] is not None]
        if not points:
            continue
        colour = colours[item.iteration]
        ax.plot(*zip(*points, points[0]), color=colour, linewidth=1.6, marker="o", markersize=3.5,
                label=f"iter {item.iteration}")
        if len(points) == len(axes):
            ax.fill(*zip(*points), color=colour, alpha=0.07)
        starred = [xy(a, axis.shares[item.iteration]) for a, axis in zip(angles, axes)
                   if item.iteration in axis.changed and axis.shares[item.iteration] is not None]
        if starred:  # the points that changed significantly from iteration 0
            ax.plot(*zip(*starred), linestyle="none", marker="*", markersize=10, color=colour,
                    markeredgecolor="black", markeredgewidth=0.5)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.3, 1.3)
    handles, labels = ax.get_legend_handles_labels()
    comparison = significance([run])
    if comparison is not None and any(comparison.difference(item, axis.column.task, axis.column.metric) is not None
                                      for axis in axes for item in run.iterations):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], linestyle="none", marker="*", markersize=9, color="0.6",
                              markeredgecolor="black", markeredgewidth=0.5))
        labels.append(f"* / ★: the paired bootstrap\n{round(100 * comparison.settings.confidence)}% interval of "
                      "the change\nvs iteration 0 excludes 0\n(no correction for\nmultiple comparisons)")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.suptitle(f"{run.name}: benchmarks per iteration\n({RADAR_RULE}; centre {inner:.2f})")
    return figure


def _ticks(inner: float) -> list[float]:
    """The rings beyond the centre (``inner``, a multiple of 0.1) up to 1, three to six of them."""
    span = 1.0 - inner
    step = 0.05 if span < 0.35 else 0.1 if span < 0.65 else 0.2
    return [round(1.0 - i * step, 6) for i in range(math.ceil(span / step - 1e-9))][::-1]


Point = tuple[int, float, "tuple[float, float] | None"]  # iteration, value, its bootstrap interval


def _panel_title(name: str, curves: list[tuple[str, str, str]]) -> str:
    """The panel's name, saying "lower is better" when its scorers declare every curve's metric so."""
    found = [declared_metric(task, metric) for _, task, metric in curves]
    lower = all(metric is not None and metric.direction == "lower" for metric in found)
    return f"{name} (lower is better)" if lower else name


def _other_groups(run: RunData) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """A panel per benchmark outside Table 1 the run has (RePOPE, AMBER, HallusionBench, ... and lmms:
    tasks), with the first two headline metrics it reports, as the other-benchmarks table lists them; an
    lmms: task's title says lmms-eval scored it (‡, its rule and units, its stderr's intervals)."""
    by_task: dict[str, list[tuple[str, str, str]]] = {}
    for task, metric, direction in other_columns([run]):
        by_task.setdefault(task, []).append((metric + ("↓" if direction == "lower" else ""), task, metric))
    groups = []
    for task, curves in by_task.items():
        scored_by = next(filter(None, (scored_by_other(item.results.get(task)) for item in run.iterations)), None)
        name = f"{task} {BRIDGED} ({scored_by}'s rule)" if scored_by else task
        groups.append((_panel_title(name, curves[:2]), curves[:2]))
    return groups


def _interval(comparison, item, task: str, metric: str) -> tuple[float, float] | None:
    """The bootstrap interval of a native task; an lmms: task's, the one lmms-eval's stderr gives."""
    entry = item.results.get(task)
    if scored_by_other(entry):
        return bridged_interval(entry, metric)
    interval = comparison.interval(item, task, metric) if comparison is not None else None
    return None if interval is None else (interval.low, interval.high)


def _metric_panels(run: RunData) -> list[tuple[str, list[tuple[str, list[Point]]]]]:
    """(panel title, [(curve label, [(iteration, value, interval)])]) for each panel with data: POPE,
    CHAIR, the other paper benchmarks the run has, then every other benchmark it has (RePOPE, AMBER,
    lmms: tasks, ...). The interval is None without unit statistics."""
    comparison = significance([run])
    groups = [(_panel_title(name, curves), curves) for name, curves in (
        ("POPE", [("accuracy", "pope", "accuracy"), ("F1 (mean of splits)", "pope", "f1_split_mean")]),
        ("CHAIR", [("CHAIR_S", "chair", "chair_s"), ("CHAIR_I", "chair", "chair_i")]))]
    groups += [(c.label, [(c.header, c.task, c.metric)]) for c in PAPER_COLUMNS if c.task not in ("pope", "chair")]
    groups += _other_groups(run)
    panels = []
    for title, metrics in groups:
        curves = []
        for label, task, metric in metrics:
            points = []
            for item in run.iterations:
                value = item.metric(task, metric)
                if value is not None:
                    points.append((item.iteration, value, _interval(comparison, item, task, metric)))
            if points:
                curves.append((label, points))
        if curves:
            panels.append((title, curves))
    return panels


def _metrics_figure(run: RunData) -> Figure | None:
    from matplotlib.figure import Figure

    panels = _metric_panels(run)
    if not panels:
        return None
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(3.0 * columns, 2.3 * rows + 0.5), layout="constrained")
    iterations = [item.iteration for item in run.iterations]
    with_bars = False
    for index, (title, curves) in enumerate(panels):
        ax = figure.add_subplot(rows, columns, index + 1)
        for number, ((label, points), style) in enumerate(zip(curves, ("-o", "--s"))):
            # Two curves in a panel are nudged apart so that their error bars do not hide each other.
            xs = [k + (0.06 * (number - (len(curves) - 1) / 2) if len(curves) > 1 else 0) for k, _, _ in points]
            ys = [v for _, v, _ in points]
            bars = [(v - ci[0], ci[1] - v) if ci is not None else (0.0, 0.0) for _, v, ci in points]
            if any(ci is not None for _, _, ci in points):
                with_bars = True
                ax.errorbar(xs, ys, yerr=[[max(b[0], 0.0) for b in bars], [max(b[1], 0.0) for b in bars]],
                            fmt=style, markersize=4, linewidth=1.5, capsize=3, elinewidth=1, label=label)
            else:
                ax.plot(xs, ys, style, markersize=4, linewidth=1.5, label=label)
        ax.set_title(title)
        ax.set_xticks(iterations)
        ax.margins(x=0.08, y=0.15)
        values = {x for _, points in curves for _, v, ci in points for x in (v, *(ci or ()))}
        if len(values) == 1:  # a flat line: one tick at its value, not matplotlib's ±0.06 ticks around it
            (value,) = values
            ax.set_ylim(value - 1.0, value + 1.0)
            ax.set_yticks([value], [f"{value:.1f}"])
        if index >= len(panels) - columns:
            ax.set_xlabel("iteration")
        if len(curves) > 1:
            ax.legend(loc="best")
    comparison = significance([run])
    figure.suptitle(f"{run.name}: benchmark metrics over iterations"
                    + (f"\n(bars: {round(100 * comparison.settings.confidence)}% bootstrap interval over the "
                       f"benchmark's units, {comparison.settings.resamples} resamples)"
                       if with_bars and comparison is not None else "")
                    + (f"\n({BRIDGED}: scored by lmms-eval with its rule and units; bars ± 1.96 × its stderr)"
                       if any(BRIDGED in title for title, _ in panels) else ""))
    return figure


# (summary key of the chosen response, of the rejected one); titles in _reward_title
_REWARD_PANELS = (("mean_chosen_reward", "mean_rejected_reward"), ("mean_chosen_r_i", "mean_rejected_r_i"),
                  ("mean_chosen_r_t", "mean_rejected_r_t"))


def _reward_title(key: str, calibration: str | None) -> str:
    """What the summary's numbers are in this calibration (see ``csr_bench.methods.csr.rewards``)."""
    if key == "mean_chosen_reward":
        return {"reference": "path score (rank-based, lower is better)",
                "paper": "path reward (higher is better)"}.get(calibration or "", "path score")
    if key == "mean_chosen_r_i":
        return "R_I: CLIP image relevance"
    return {"reference": "R_T: beam score", "paper": "R_T: sentence log-probability"}.get(calibration or "", "R_T")


def _rewards_figure(run: RunData) -> Figure | None:
    from matplotlib.figure import Figure

    rewarded = [item for item in run.iterations if item.iteration >= 1 and item.summary
           and _number(item.summary, "mean_chosen_reward") is not None
           and _number(item.summary, "mean_rejected_reward") is not None]
    if not rewarded:
        return None
    calibrations = {item.summary.get("calibration") for item in rewarded}
    calibration = calibrations.pop() if len(calibrations) == 1 else None
    panels = [panel for panel in _REWARD_PANELS if any(_number(item.summary, panel[0]) is not None for item in rewarded)]
    figure = Figure(figsize=(3.6 * len(panels), 3.4), layout="constrained")
    ticks = [item.iteration for item in rewarded]
    tick_labels = [f"{item.iteration}\n{item.summary['pairs']} pairs" if isinstance(item.summary.get("pairs"), int)
                   else str(item.iteration) for item in rewarded]
    for index, (chosen_key, rejected_key) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), index + 1)
        for key, label, style, colour in ((chosen_key, "chosen", "-o", "tab:green"),
                                          (rejected_key, "rejected", "--s", "tab:red")):
            points = [(item.iteration, _number(item.summary, key)) for item in rewarded]
            points = [(k, v) for k, v in points if v is not None]
            ax.plot([k for k, _ in points], [v for _, v in points], style, color=colour, markersize=4,
                    linewidth=1.5, label=label if index == 0 else None)
        ax.set_title(_reward_title(chosen_key, calibration))
        ax.set_ylabel("mean over pairs" if chosen_key == "mean_chosen_reward" else "per-sentence mean, over pairs")
        ax.set_xlabel("iteration")
        ax.set_xticks(ticks, tick_labels)
        ax.margins(x=0.15, y=0.15)
    lambdas = {item.summary.get("lambda") for item in rewarded}
    detail = ", ".join(part for part in (
        f"calibration: {calibration}" if calibration else "",
        f"λ = {lambdas.pop()}" if len(lambdas) == 1 and None not in lambdas else "") if part)
    figure.suptitle(f"{run.name}: rewards of the preference pairs" + (f" ({detail})" if detail else ""))
    figure.legend(loc="outside lower center", ncols=2)
    return figure


def _number(summary: dict, key: str) -> float | None:
    value = summary.get(key)
    return float(value) if isinstance(value, (int, float)) else None


__all__ = ["RADAR_RULE", "RadarAxis", "radar_axes", "write_plots"]
