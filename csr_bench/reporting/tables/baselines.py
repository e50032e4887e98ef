"""Published baseline rows (the CSR paper's Table 1, iteration and λ-ablation tables) as data files.

They live in the repository's results/baselines/ (shipped in the wheel as csr_bench/baselines) as
small YAML files, each with its source and caveat, and are picked by name: ``--baselines llava15-7b``.
A path to a YAML file of the same shape works too, so users can add their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import csr_bench
from csr_bench.errors import CsrBenchError
from csr_bench.reporting.tables.columns import COLUMNS_BY_HEADER


def baseline_dir() -> Path:
    package = Path(csr_bench.__file__).resolve().parent
    if (package / "baselines").is_dir():  # installed from a wheel
        return package / "baselines"
    return package.parent / "results" / "baselines"  # source checkout / editable install


@dataclass
class Baseline:
    name: str
    title: str
    source: str
    caveat: str
    rows: list[dict[str, Any]]  # {"method": ..., Table 1 header: value, ...}
    iterations: list[dict[str, Any]] = field(default_factory=list)  # the paper's iteration table
    lambdas: list[dict[str, Any]] = field(default_factory=list)  # the paper's λ ablation
    # the paper's reward ablation: {"method", "average"} (it gives only the average score of each row)
    reward_ablation: list[dict[str, Any]] = field(default_factory=list)


def available_baselines() -> list[str]:
    return sorted(path.stem for path in baseline_dir().glob("*.yaml"))


def _numbers(row: dict[str, Any], where: str, allowed: set[str]) -> dict[str, Any]:
    for key, value in row.items():
        if key not in allowed:
            raise CsrBenchError(f"{where}: unknown column '{key}' (known: {', '.join(sorted(allowed))})")
        if key != "method" and not isinstance(value, (int, float)):
            raise CsrBenchError(f"{where}: '{key}' must be a number, got {value!r}")
    return row


def load_baseline(name_or_path: str) -> Baseline:
    """A baseline by name (a YAML file in results/baselines/) or by path; one-line errors."""
    import yaml

    path = Path(name_or_path).expanduser()
    if not path.is_file():
        path = baseline_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise CsrBenchError(f"unknown baseline '{name_or_path}' (available: {', '.join(available_baselines())}; "
                            "or the path of a YAML file)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CsrBenchError(f"{path}: not readable YAML ({reason})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise CsrBenchError(f"{path}: expected a mapping with 'name', 'source', 'caveat' and a list of 'rows'")
    for key in ("source", "caveat"):
        if not data.get(key):
            raise CsrBenchError(f"{path}: a baseline needs its '{key}'")
    table1 = {"method", *COLUMNS_BY_HEADER}
    rows = [_numbers(row, f"{path}: rows[{i}]", table1) for i, row in enumerate(data["rows"])]
    if any("method" not in row for row in rows):
        raise CsrBenchError(f"{path}: every row needs its 'method'")
    iteration_keys = {"iteration", "pope_accuracy", "pope_f1", "chair_s", "chair_i"}
    iterations = [_numbers(row, f"{path}: iterations[{i}]", iteration_keys)
                  for i, row in enumerate(data.get("iterations") or [])]
    lambdas = [_numbers(row, f"{path}: lambda[{i}]", {"lambda", "iterations", *COLUMNS_BY_HEADER})
               for i, row in enumerate(data.get("lambda") or [])]
    rewards = [_numbers(row, f"{path}: reward_ablation[{i}]", {"method", "average"})
               for i, row in enumerate(data.get("reward_ablation") or [])]
    if any(not {"method", "average"} <= set(row) for row in rewards):
        raise CsrBenchError(f"{path}: every reward_ablation row needs its 'method' and 'average'")
    return Baseline(name=str(data.get("name", path.stem)), title=str(data.get("title", path.stem)),
                    source=str(data["source"]), caveat=str(data["caveat"]), rows=rows, iterations=iterations,
                    lambdas=lambdas, reward_ablation=rewards)


__all__ = ["Baseline", "available_baselines", "baseline_dir", "load_baseline"]
