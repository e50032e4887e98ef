"""The iteration table: one row per iteration of a run, the hallucination metrics first, then the
other benchmarks' headline numbers and CSR's reward trend (mean chosen / rejected reward).

Read from the files a run leaves (``iter_<k>/results.json``, ``iter_<k>/csr/summary.json``), so it
works on a finished, resumed or half-finished run alike. Columns no iteration has are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (header, task, metric); ↓ marks lower-is-better.
METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("POPE acc", "pope", "accuracy"), ("POPE F1", "pope", "f1_split_mean"),
    ("F1 rand", "pope", "random_f1"), ("F1 pop", "pope", "popular_f1"), ("F1 adv", "pope", "adversarial_f1"),
    ("CHAIR_S↓", "chair", "chair_s"), ("CHAIR_I↓", "chair", "chair_i"), ("CHAIR rec", "chair", "recall"),
    ("words", "chair", "len"), ("MME-P", "mme", "perception"), ("MME-C", "mme", "cognition"),
    ("SEED", "seed", "accuracy"), ("MMB", "mmbench", "accuracy"), ("SQA-I", "scienceqa", "accuracy"),
    ("VizWiz", "vizwiz", "accuracy"), ("GQA", "gqa", "accuracy"))
# (header, key of csr/summary.json)
REWARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("pairs", "pairs"), ("chosen R", "mean_chosen_reward"), ("rejected R", "mean_rejected_reward"))


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def iteration_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    """``{"iteration": k, header: value, ...}`` for every iteration folder with a results.json."""
    run_dir = Path(run_dir)
    rows = []
    folders = sorted((p for p in run_dir.glob("iter_*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
    for folder in folders:
        results = _read(folder / "results.json")
        if results is None:
            continue
        row: dict[str, Any] = {"iteration": int(folder.name[5:])}
        for header, task, metric in METRIC_COLUMNS:
            value = results.get("results", {}).get(task, {}).get("metrics", {}).get(metric)
            if value is not None:
                row[header] = value
        summary = _read(folder / "csr" / "summary.json") or {}
        for header, key in REWARD_COLUMNS:
            if summary.get(key) is not None:
                row[header] = summary[key]
        rows.append(row)
    return rows


def format_iteration_table(rows: list[dict[str, Any]], tablefmt: str = "github") -> str:
    """The rows as a table (tabulate's ``tablefmt``: github markdown by default); '–' where a value is missing."""
    from tabulate import tabulate

    headers = ["iteration"] + [h for h, _, _ in METRIC_COLUMNS] + [h for h, _ in REWARD_COLUMNS]
    present = [h for h in headers if any(h in row for row in rows)]

    def cell(header: str, value: Any) -> str:
        if value is None:
            return "–"
        return str(value) if header in ("iteration", "pairs") else f"{value:.2f}"

    body = [[cell(h, row.get(h)) for h in present] for row in rows]
    return tabulate(body, headers=present, tablefmt=tablefmt, disable_numparse=True,
                    colalign=["right"] * len(present))


__all__ = ["METRIC_COLUMNS", "REWARD_COLUMNS", "format_iteration_table", "iteration_rows"]
