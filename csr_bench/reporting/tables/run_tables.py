"""All tables of one or more runs, in one format: Table 1 (paper layout, with baseline rows), the
other benchmarks' table (tasks outside Table 1), the iteration table with its Δ table (change from iteration 0, paired intervals), and the λ ablation when the
runs differ only in λ. `csr-bench table` prints this;
`csr-bench run` writes it into the run folder as tables.md and tables.tex.
"""

from __future__ import annotations

from pathlib import Path

from csr_bench.storage.files import atomic_write_text
from csr_bench.reporting.tables.baselines import load_baseline
from csr_bench.reporting.tables.iterations import iteration_delta_table, iteration_table
from csr_bench.reporting.tables.lambda_ablation import is_lambda_ablation, lambda_table
from csr_bench.reporting.tables.other_benchmarks import other_benchmarks_table
from csr_bench.reporting.tables.paper import paper_table
from csr_bench.reporting.run_data import RunData, load_run
from csr_bench.reporting.tables.format import Table, render

TABLE_FILES = {"markdown": "tables.md", "latex": "tables.tex"}


def run_tables(runs: list[RunData], baselines: list[str] | None = None) -> list[Table]:
    chosen = [load_baseline(name) for name in baselines or []]
    tables = [paper_table(runs, chosen)]
    others = other_benchmarks_table(runs)
    if others is not None:
        tables.append(others)
    tables.append(iteration_table(runs, chosen))
    deltas = iteration_delta_table(runs)
    if deltas is not None:
        tables.append(deltas)
    if is_lambda_ablation(runs):
        tables.append(lambda_table(runs, chosen))
    return tables


def render_run_tables(runs: list[RunData | str | Path], fmt: str = "markdown",
                      baselines: list[str] | None = None, ci: bool = True) -> str:
    """Every table of ``runs`` (RunData or run folders) rendered in ``fmt``, separated by a blank line;
    ``ci``: show each cell's interval (the significance marks show either way)."""
    loaded = [run if isinstance(run, RunData) else load_run(run) for run in runs]
    return "\n".join(render(table, fmt, ci) for table in run_tables(loaded, baselines))


def write_run_tables(run: RunData | str | Path) -> dict[str, Path]:
    """tables.md and tables.tex in the run folder; returns their paths by format."""
    run = run if isinstance(run, RunData) else load_run(run)
    written = {}
    for fmt, name in TABLE_FILES.items():
        written[fmt] = run.folder / name
        atomic_write_text(written[fmt], render_run_tables([run], fmt))
    return written


__all__ = ["TABLE_FILES", "render_run_tables", "run_tables", "write_run_tables"]
