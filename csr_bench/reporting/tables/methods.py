"""The methods table (`csr-bench compare RUN...`): the CSR paper's Table 1 with one row per method run
at its final iteration, after the base row they all started from, and how good each method's reward
was (the pair accuracy of its final iteration's pairs). The layout rules: docs/reporting.md.

- The base row is the first run's iteration 0, shown once. Every run must have started from it: a
  run whose iteration 0 is another model or gave other numbers is refused with one line (its paired
  marks against this base would compare it with a model it did not start from).
- Rows are named by the method run.json records ("+ CSR (iter 3)", "+ DPO on world:rlhf-v", "+ POVID");
  CSR runs that differ from the first CSR run only in λ are its ablation rows, right after it
  ("CSR, only R_I (λ = 1)", "CSR, only R_T (λ = 0)", "CSR, λ = 0.5").
- Every measured cell has its interval and † where the paired difference from the base row excludes
  0 (tables/significance.py, through tables/paper.py's Table 1 rows); the paper's average score.
- Published rows (a baseline file's Table 1 rows and λ ablation) come last, marked "(published)",
  plain and never in bold: they are other data.
"""

from __future__ import annotations

from pathlib import Path

from csr_bench.errors import CsrBenchError
from csr_bench.reporting.run_data import IterationData, RunData
from csr_bench.reporting.tables.baselines import Baseline
from csr_bench.reporting.tables.columns import PAPER_COLUMNS
from csr_bench.reporting.tables.format import Cell, Table
from csr_bench.reporting.tables.iterations import pair_accuracy_cells, pair_accuracy_headers
from csr_bench.reporting.tables.lambda_ablation import is_lambda_ablation
from csr_bench.reporting.tables.paper import average_score, method_label, paper_table
from csr_bench.reporting.tables.significance import base_iteration

ITERATIVE = {"csr", "self-reward"}  # iterated methods: the row says which iteration ("+ CSR (iter 3)")
TITLE = ("Methods: Table 1 layout, one row per method at its final iteration (↓ lower is better; best of the runs "
         "in bold)")


def require_finished(run: RunData) -> None:
    """One line when the run is unfinished: run.json (written when a run finishes) absent, or fewer
    iterations with results than it was run for."""
    if not run.manifest:
        raise CsrBenchError(f"{run.folder}: unfinished run (no run.json, which a run writes when it finishes); "
                            "rerun its command to finish it, or leave it out")
    planned = run.config.get("iterations")
    if isinstance(planned, int) and run.last.iteration < planned:
        raise CsrBenchError(f"{run.folder}: unfinished run: results up to iteration {run.last.iteration} of "
                            f"{planned}; rerun its command to finish it, or leave it out")


def _base_difference(base_run: RunData, base: IterationData, run: RunData, other: IterationData) -> str | None:
    """Why ``other`` (a run's iteration 0) is not the same starting point as ``base``; None when it is:
    the same model and the same numbers on every task both evaluated."""
    if other.iteration != 0:
        return f"it has no iteration 0 (its first is {other.iteration})"
    if run.model != base_run.model:
        return f"model {run.model}, not {base_run.model}"
    common = [task for task in base.results if task in other.results]
    if not common:
        return "no task evaluated by both"
    for task in common:
        mine, theirs = base.results[task].get("metrics", {}), other.results[task].get("metrics", {})
        for name in sorted(set(mine) | set(theirs)):
            if mine.get(name) != theirs.get(name):
                return f"{task} {name} {theirs.get(name)} vs {mine.get(name)}"
    return None


def check_shared_base(runs: list[RunData]) -> None:
    """Refuse (one line) a run whose iteration 0 is not the first run's: another model, or other numbers."""
    base_run, base = runs[0], base_iteration(runs[0])
    for run in runs[1:]:
        why = _base_difference(base_run, base, run, base_iteration(run))
        if why is not None:
            raise CsrBenchError(f"{run.folder}: its iteration 0 is not the base row ({base_run.name}'s iteration 0): "
                                f"{why}; the methods table compares methods started from one base model (compare "
                                "other runs with `csr-bench table`)")


def lambda_label(lam: float) -> str:
    """An ablation row's name: λ = 1 keeps only the image reward R_I, λ = 0 only the text reward R_T."""
    if lam == 1:
        return "CSR, only R_I (λ = 1)"
    if lam == 0:
        return "CSR, only R_T (λ = 0)"
    return f"CSR, λ = {lam:g}"


def row_label(run: RunData, iteration: IterationData) -> str:
    """'+ CSR (iter 3)', '+ DPO on world:rlhf-v', '+ POVID': the method, the preference set a DPO run
    trained on, the iteration of an iterated method (or of any method run more than once)."""
    method = str(run.method or "method")
    name = method_label(method)
    source = (iteration.summary or {}).get("source")
    on = f" on {source}" if source and method == "dpo" else ""
    shown = method in ITERATIVE or iteration.iteration != 1
    return f"+ {name}{on}" + (f" (iter {iteration.iteration})" if shown else "")


def table_runs(runs: list[RunData], table: Table) -> list[tuple[RunData, IterationData, str]]:
    """(run, iteration, label) of each row: the base row, then each run's final iteration in the order
    given, the CSR ablations right after the first CSR run. A run with no method iteration is the base
    row itself (first) or left out with a footnote."""
    model = runs[0].model
    rows = [(runs[0], base_iteration(runs[0]), f"{Path(model).name if '/' in model else model} (base)")]
    main = next((run for run in runs if run.method == "csr" and run.last.iteration > 0), None)
    ablations = [run for run in runs if run is not main and main is not None and run.method == "csr"
                 and run.last.iteration > 0 and is_lambda_ablation([main, run])]
    for run in runs:
        if run.last.iteration == 0:
            if run is not runs[0]:
                table.note(f"{run.name} has no method iteration: its iteration 0 is the base row")
            continue
        if run in ablations:
            continue
        rows.append((run, run.last, row_label(run, run.last)))
        if run is main:
            rows += [(item, item.last, lambda_label(float(item.method_config["lam"]))) for item in ablations]
    labels = [label for _, _, label in rows]
    return [(run, iteration, f"{label} ({run.name})" if labels.count(label) > 1 else label)
            for run, iteration, label in rows]


def _published_rows(baseline: Baseline, table: Table, width: int) -> list[list[Cell]]:
    """A baseline file's Table 1 rows, λ and reward ablations, plain, named '(published)', with its source."""
    note = table.note(f"published: {baseline.title}: {baseline.source}. {baseline.caveat}")
    rows = [{**row, "method": f"{row['method']} (published)"} for row in baseline.rows]
    if baseline.lambdas:
        after = baseline.lambdas[0].get("iterations")
        lambda_note = table.note(f"published λ ablation of {baseline.title}: after {after} iterations, its columns only")
        rows += [{**{k: v for k, v in row.items() if k not in ("lambda", "iterations")},
                  "method": f"+ CSR, λ = {row['lambda']:g} (published)", "note": lambda_note}
                 for row in baseline.lambdas]
    if baseline.reward_ablation:
        reward_note = table.note(f"published reward ablation of {baseline.title}: the paper gives its average "
                                 "score over the Table 1 columns only")
        rows += [{"method": f"+ CSR, {row['method']} (published)", "note": reward_note, "average": row["average"]}
                 for row in baseline.reward_ablation]
    cells = []
    for row in rows:
        values = {column.header: float(row[column.header]) for column in PAPER_COLUMNS if column.header in row}
        # the paper averages its Table 1 rows, not its λ ablation's three columns; its reward ablation gives
        # the average alone (over its 12 columns)
        average, count = (None, 0) if "note" in row else average_score(values) or (None, 0)
        if "average" in row:
            average, count = float(row["average"]), len(PAPER_COLUMNS)
        line = [Cell(str(row["method"]), note=row.get("note", note))]
        line += [Cell(values.get(column.header), 1 if column.header.startswith("MME") else 2)
                 for column in PAPER_COLUMNS]
        line.append(Cell(average, suffix=f" ({count})" if average is not None else ""))
        cells.append(line + [Cell(None) for _ in range(width - len(line))])
    return cells


def methods_table(runs: list[RunData], baselines: list[Baseline] = ()) -> Table:
    """The methods table of ``runs`` (the first one's iteration 0 is the base row); one-line errors for
    an unfinished run or one that did not start from that base."""
    if not runs:
        raise CsrBenchError("compare: no run given")
    for run in runs:
        require_finished(run)
    check_shared_base(runs)
    notes = Table(TITLE, [])
    rows = table_runs(runs, notes)
    # Table 1's rows of just these iterations: each a one-iteration run, the first one the base row
    trimmed = [RunData(run.folder, [iteration], run.manifest) for run, iteration, _ in rows]
    table = paper_table(trimmed)
    table.title = TITLE
    table.headers = table.headers + pair_accuracy_headers()
    for row, (run, iteration, label) in zip(table.rows, rows):
        row[0] = Cell(label, note=row[0].note)
        row += pair_accuracy_cells(run, iteration, table)
    table.rows[0][0].note = table.note(
        f"base row: iteration 0 of {runs[0].name}"
        + ("; every run's iteration 0 is the same model with the same numbers" if len(runs) > 1 else "")
        + "; a method's row is its final iteration, and its pair accuracy that of the final iteration's pairs")
    for text in notes.notes:
        table.note(text)
    for baseline in baselines:
        table.rows += _published_rows(baseline, table, len(table.headers))
    return table


__all__ = ["ITERATIVE", "check_shared_base", "lambda_label", "methods_table", "require_finished", "row_label",
           "table_runs"]
