#!/usr/bin/env python
"""README.md's measured world tables ("What CSR does in the world"), generated, so they are never stale.

    scripts/readme_results.py RUN_DIR [RUN_DIR ...]   # summarise runs into the summary JSON, print the tables
    scripts/readme_results.py                         # print the tables of the committed summary
    scripts/readme_results.py [RUN_DIR ...] --write   # and replace them in README.md, between the markers

The runs are those of scripts/readme_world_tables.sh: the default run first (all its iterations are
rows), then the reward ablations (their last iteration); each run is labelled by its λ. The summary
(default results/readme/world-summary.json, committed; the runs are not) holds per run and iteration
the numbers the tables show: each metric with its 95% bootstrap interval and whether its paired
difference from the base row excludes 0, the change from the base row with its paired interval, and
the pairs' mean rewards and lengths. They come from csr-bench's own reporting (the iteration and Δ
tables of `csr-bench table RUN_DIR ...`, the base row being the first run's iteration 0), so the
README shows what `csr-bench table` shows. tests/test_readme_results.py checks that README.md holds
exactly what this prints for the committed summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from csr_bench.reporting.tables.iterations import DELTA_COLUMNS, METRIC_COLUMNS  # noqa: E402
from csr_bench.reporting.tables.format import MISSING, Cell  # noqa: E402

SUMMARY = REPO / "results" / "readme" / "world-summary.json"
README = REPO / "README.md"
BEGIN, END = "<!-- readme_results:begin -->", "<!-- readme_results:end -->"
FORMAT = "csr-bench-readme-summary/1"
# runs README's tables show to explain another row, not as a method of the methods table
SUPPORTING_RUNS = ("world-povid-stage1",)
REWARDS = (("chosen_reward", "mean_chosen_reward"), ("rejected_reward", "mean_rejected_reward"),
           ("chosen_words", "mean_chosen_words"), ("rejected_words", "mean_rejected_words"))


def summarize(run_dirs: list[str | Path]) -> dict[str, Any]:
    """The numbers of the README's tables, from run folders (the default run first)."""
    from csr_bench.methods.csr.config import DEFAULT_LAMBDA
    from csr_bench.reporting.run_data import load_run
    from csr_bench.reporting.tables.significance import significance

    runs = [load_run(path) for path in run_dirs]
    comparison = significance(runs)
    base = comparison.base if comparison is not None else runs[0].iterations[0]
    summary: dict[str, Any] = {"format": FORMAT, "written_by": "scripts/readme_results.py",
                               "default_lambda": DEFAULT_LAMBDA, "runs": []}
    if comparison is not None:
        summary["bootstrap"] = {"resamples": comparison.settings.resamples,
                                "confidence": comparison.settings.confidence, "seed": comparison.settings.seed,
                                "base": comparison.base_label}
    for run in runs:
        iterations = []
        for iteration in run.iterations:
            row: dict[str, Any] = {"iteration": iteration.iteration, "metrics": {}, "delta": {}}
            for column in METRIC_COLUMNS:
                header, task, metric, _ = column
                value = iteration.metric(task, metric)
                if value is None:
                    continue
                interval = comparison.interval(iteration, task, metric) if comparison is not None else None
                difference = comparison.difference(iteration, task, metric) if comparison is not None else None
                row["metrics"][header] = {"value": value,
                                          "interval": None if interval is None else [interval.low, interval.high],
                                          "significant": None if difference is None else difference.significant}
                before = base.metric(task, metric)
                if iteration.folder != base.folder and before is not None and column in DELTA_COLUMNS:
                    row["delta"][header] = {"value": value - before,
                                            "interval": None if difference is None else [difference.low, difference.high],
                                            "significant": None if difference is None else difference.significant}
            for key, source in REWARDS:
                found = (iteration.summary or {}).get(source)
                if isinstance(found, (int, float)):
                    row[key] = found
            scored = run.pair_accuracy(iteration)  # None for iteration 0 (no pairs)
            accuracy = scored.chair_i if scored is not None else None
            if accuracy is not None:
                row["pair_accuracy_chair_i"] = {"value": 100 * accuracy.accuracy,
                                                "interval": [100 * bound for bound in accuracy.interval],
                                                "ties": 100 * accuracy.tie_share, "losses": accuracy.losses,
                                                "n": accuracy.n}
            iterations.append(row)
        lam = run.method_config.get("lam")
        method = str(run.config.get("method") or "csr")
        source = (run.last.summary or {}).get("source")
        summary["runs"].append({"name": run.name, "method": method, "lambda": lam, "source": source,
                                "iterations": iterations})
    # the methods table as `csr-bench compare` prints it (scripts/methods_table.sh's runs: all but a run
    # named in SUPPORTING_RUNS, which explains a row rather than being one)
    compared = [run for run in runs if run.name not in SUPPORTING_RUNS]
    if len(compared) > 1:
        from csr_bench.reporting.tables.format import render as render_table
        from csr_bench.reporting.tables.methods import methods_table

        summary["methods_table"] = render_table(methods_table(compared), "markdown").strip("\n")
    return summary


def _label(run: dict[str, Any], default: float | None, first: bool) -> str:
    """The row's name: another method's with its preference set, a CSR run's by its reward weight,
    as the paper's ablation names them."""
    from csr_bench.reporting.tables.paper import method_label

    if run.get("method", "csr") != "csr":  # by method and set, and its run folder (two runs may share both)
        return method_label(run["method"]) + (f" on {run['source']}" if run.get("source") else "") + f" ({run['name']})"
    lam = run["lambda"]
    if lam == 1:
        return "only R_I, λ = 1"
    if lam == 0:
        return "only R_T, λ = 0"
    return f"CSR, λ = {lam:g}" + (" (default)" if first and lam == default else "")


def _cell(entry: dict[str, Any] | None, signed: bool = False) -> str:
    """As csr-bench's markdown tables write a cell: value, † when significant, [interval]."""
    if entry is None:
        return MISSING
    cell = Cell(float(entry["value"]), 2, signed=signed, significant=entry.get("significant"),
                interval=None if entry.get("interval") is None else tuple(entry["interval"]))
    return cell.text() + cell.mark + cell.interval_text()


def _pair(row: dict[str, Any], chosen: str, rejected: str, decimals: int) -> str:
    if row.get(chosen) is None or row.get(rejected) is None:
        return MISSING
    return f"{row[chosen]:.{decimals}f} / {row[rejected]:.{decimals}f}"


def _pair_accuracy(entry: dict[str, Any] | None) -> str:
    """The share of pairs whose chosen response has the lower CHAIR_I, its Wilson interval, the ties."""
    if entry is None:
        return MISSING
    low, high = entry["interval"]
    return f"{entry['value']:.1f} [{low:.1f}, {high:.1f}] ({entry['ties']:.0f}%)"


def _markdown_row(cells: list[str]) -> str:
    return "|" + "".join(f" {cell} |" if cell else " |" for cell in cells)


def render(summary: dict[str, Any]) -> str:
    """The README's two measured tables (per iteration; change at the last iteration), as markdown."""
    if summary.get("format") != FORMAT or not summary.get("runs"):
        raise SystemExit(f"not a README results summary ({FORMAT}) with runs")
    default = summary.get("default_lambda")
    runs = summary["runs"]
    headers = [header for header, *_ in METRIC_COLUMNS]
    lines = [_markdown_row(["run", "iteration", *headers, "chosen / rejected R", "chosen / rejected words",
                            "pair acc CHAIR_I (ties)"]),
             "|" + "---|" * (len(headers) + 5)]
    for number, run in enumerate(runs):
        label = _label(run, default, number == 0)
        rows = run["iterations"] if number == 0 else run["iterations"][-1:]
        named = False  # the run's label on its first row after the base model, blank below it
        for row in rows:
            if number == 0 and row["iteration"] == 0:
                name = "base model"
            else:
                name, named = ("" if named else label), True
            cells = [name, str(row["iteration"])] + [_cell(row["metrics"].get(h)) for h in headers]
            cells += [_pair(row, "chosen_reward", "rejected_reward", 3), _pair(row, "chosen_words", "rejected_words", 1),
                      _pair_accuracy(row.get("pair_accuracy_chair_i"))]
            lines.append(_markdown_row(cells))
    last = {run["iterations"][-1]["iteration"] for run in runs}
    at = f"iteration {last.pop()}" if len(last) == 1 else "each run's last iteration"
    confidence = round(100 * summary.get("bootstrap", {}).get("confidence", 0.95))
    lines += ["", f"The change from the base model at {at}, with its paired {confidence}% interval:", ""]
    delta_headers = [header for header, *_ in DELTA_COLUMNS]
    lines.append(_markdown_row(["run", *[f"Δ {h}" for h in delta_headers]]))
    lines.append("|" + "---|" * (len(delta_headers) + 1))
    for run in runs:
        final = run["iterations"][-1]
        if not final["delta"]:
            continue
        lines.append(_markdown_row([_label(run, default, False)]
                                   + [_cell(final["delta"].get(h), signed=True) for h in delta_headers]))
    if summary.get("methods_table"):
        lines += ["", "The methods table, as `csr-bench compare` prints it (`make methods`; one row per method at its "
                  "last iteration, † against the base row):", "", summary["methods_table"]]
    return "\n".join(lines) + "\n"


def _split(text: str, where: str) -> tuple[str, str, str]:
    """(before the begin marker's line, between the markers, from the end marker on)."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{where}: needs one {BEGIN} line before one {END} line")
    head, rest = text.split(BEGIN, 1)
    inside, tail = rest.split(END, 1)
    return head, inside, tail


def replace_between_markers(text: str, tables: str, where: str = "README.md") -> str:
    """``text`` with the markers' content replaced by ``tables``, a blank line either side (markdown
    then sees the tables as tables, not as part of the comments' HTML blocks)."""
    head, _, tail = _split(text, where)
    return f"{head}{BEGIN}\n\n{tables}\n{END}{tail}"


def between_markers(text: str, where: str = "README.md") -> str:
    """The tables README.md holds between the markers (without the blank lines around them)."""
    inside = _split(text, where)[1]
    return inside[2:-1] if inside.startswith("\n\n") and inside.endswith("\n\n") else inside


def _dumps(value: Any, indent: str = "") -> str:
    """JSON with one line per metric (a dict holding a "value"), so the committed file diffs readably."""
    if isinstance(value, dict) and value and "value" not in value:
        inner = indent + "  "
        items = ",\n".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dumps(v, inner)}" for k, v in value.items())
        return "{\n" + items + "\n" + indent + "}"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="run folders, the default run first; none: read --summary")
    parser.add_argument("--summary", type=Path, default=SUMMARY, help=f"the summary JSON (default {SUMMARY.relative_to(REPO)})")
    parser.add_argument("--write", action="store_true", help="replace the tables between the markers in README.md")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs:
        summary = summarize(args.runs)
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(_dumps(summary) + "\n", encoding="utf-8")
        print(f"summary written: {args.summary}", file=sys.stderr)
    else:
        if not args.summary.is_file():
            raise SystemExit(f"{args.summary}: no summary; give the run folders")
        summary = json.loads(args.summary.read_text(encoding="utf-8"))
    tables = render(summary)
    if args.write:
        text = args.readme.read_text(encoding="utf-8")
        args.readme.write_text(replace_between_markers(text, tables, str(args.readme)), encoding="utf-8")
        print(f"tables written into {args.readme}", file=sys.stderr)
    print(tables, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
