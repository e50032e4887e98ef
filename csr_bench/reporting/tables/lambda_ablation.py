"""The λ ablation table: runs that differ only in λ (the weight of the image reward R_I), one row per
λ at the runs' last iteration, after the base row. When runs count as an ablation: docs/reporting.md,
"Implementation notes".
"""

from __future__ import annotations

from typing import Any

from csr_bench.reporting.tables.baselines import Baseline
from csr_bench.reporting.tables.columns import COLUMNS_BY_HEADER
from csr_bench.reporting.run_data import RunData
from csr_bench.reporting.tables.significance import base_iteration, describe, measured_cell, significance
from csr_bench.reporting.tables.format import Cell, Table

COLUMNS = ("LLaVA-W", "POPE", "CHAIR_S", "CHAIR_I")
# Config keys that name a run rather than change it.
_NAMING_KEYS = {"output", "run_name"}


def _without_lambda(config: dict[str, Any]) -> dict[str, Any]:
    method = {k: v for k, v in (config.get("method_config") or {}).items() if k != "lam"}
    return {**{k: v for k, v in config.items() if k not in _NAMING_KEYS}, "method_config": method}


def is_lambda_ablation(runs: list[RunData]) -> bool:
    """Two or more CSR runs whose configs differ in λ and in nothing else."""
    if len(runs) < 2 or any(not run.method_config or "lam" not in run.method_config for run in runs):
        return False
    lambdas = {run.method_config["lam"] for run in runs}
    first = _without_lambda(runs[0].config)
    return len(lambdas) == len(runs) and all(_without_lambda(run.config) == first for run in runs[1:])


def lambda_table(runs: list[RunData], baselines: list[Baseline] = ()) -> Table:
    table = Table("λ ablation (weight of R_I; last iteration of each run)",
                  ["λ", "iterations"] + [COLUMNS_BY_HEADER[h].label for h in COLUMNS])
    for baseline in baselines:
        if not baseline.lambdas:
            continue
        note = table.note(f"{baseline.title}: {baseline.source}.")
        for row in baseline.lambdas:
            table.rows.append([Cell(f"{row['lambda']} ({baseline.title})", note=note), Cell(row.get("iterations"))]
                              + [Cell(row.get(header)) for header in COLUMNS])
    comparison = significance(runs)
    rows = [("base", base_iteration(runs[0]))] + [(str(run.method_config["lam"]), run.last)
                                                 for run in sorted(runs, key=lambda run: run.method_config["lam"])]
    for label, iteration in rows:
        cells = [Cell(label), Cell(iteration.iteration)]
        cells += [measured_cell(comparison, iteration, COLUMNS_BY_HEADER[h].task, COLUMNS_BY_HEADER[h].metric,
                                table=table) for h in COLUMNS]
        table.rows.append(cells)
    describe(table, comparison, [COLUMNS_BY_HEADER[h].task for h in COLUMNS])
    base_row = len(table.rows) - len(rows)  # the base row is the reference, not a contender for best
    for index, header in enumerate(COLUMNS, start=2):
        table.mark_best(index, COLUMNS_BY_HEADER[header].lower_is_better,
                        among=[i for i in range(len(table.rows)) if i != base_row])
    return table


__all__ = ["is_lambda_ablation", "lambda_table"]
