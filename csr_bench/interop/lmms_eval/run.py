"""Run lmms-eval's own POPE task on a csr-bench checkpoint, offline, in a separate process.

A local task (``pope_local``, including lmms-eval's tasks/pope/pope.yaml) reads a parquet copy of
the data; the runner module applies the torchvision shim before lmms-eval starts. lmms-eval exits 0
even when an evaluation fails, so success is read from its results file, never its exit code.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
# The subprocess runner lives with the bridge (`--tasks lmms:<task>`), which the evaluation layer runs.
from csr_bench.evaluation.lmms_bridge import (LOCAL_POPE_TASK, LmmsTaskRun, has_chat_template,  # noqa: F401
                                              lmms_eval_command, run_lmms_task, task_results_of)
from csr_bench.interop.lmms_eval.export import LMMS_EVAL_FILTER, metrics_of

INSTALL_HINT = "install the extra: pip install -c constraints.txt -e '.[lmms]'"
_BUNDLED_POPE = Path(__file__).resolve().parents[2] / "bundled" / "pope" / "pope.jsonl"


def lmms_eval_package_dir() -> Path:
    """Where lmms_eval is installed (found without importing it)."""
    spec = importlib.util.find_spec("lmms_eval")
    if spec is None or not spec.submodule_search_locations:
        raise CsrBenchError(f"lmms-eval is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def write_pope_task(task_dir: str | Path, data: str | Path = "bundled", *, task: str = LOCAL_POPE_TASK) -> Path:
    """A folder for ``--include_path``: lmms-eval's own POPE task (prompt, generation, scoring, by
    ``include`` of its pope.yaml) reading local data instead of the hub.

    ``data``: "bundled", a POPE-schema .jsonl/.json (image = bytes or a path relative to the file),
    a .parquet in the lmms-lab/POPE schema, or a folder of such parquet files (a hub snapshot).
    The task gets its own name: lmms-eval's built-in ``pope`` would shadow one named ``pope``.
    """
    base = lmms_eval_package_dir() / "tasks" / "pope" / "pope.yaml"
    if not base.exists():
        raise CsrBenchError(f"{base}: lmms-eval's POPE task is missing (lmms-eval 0.7.x expected)")
    task_dir = Path(task_dir)
    task_dir.mkdir(parents=True, exist_ok=True)
    files = _pope_parquet_files(data, task_dir / f"{task}.parquet")
    import yaml

    config = {
        "include": str(base),
        "task": task,
        "dataset_path": "parquet",
        "dataset_kwargs": {"data_files": {"test": [str(f) for f in files]}},
        "test_split": "test",
    }
    path = task_dir / f"{task}.yaml"
    path.write_text("# Written by csr_bench.interop.lmms_eval: lmms-eval's POPE task on local data.\n"
                    + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _pope_parquet_files(data: str | Path, converted: Path) -> list[Path]:
    source = _BUNDLED_POPE if str(data) == "bundled" else Path(data).expanduser().resolve()
    if source.is_dir():
        parquet = sorted(source.rglob("*.parquet"))
        if parquet:
            return parquet
        jsonl = [p for p in (source / "pope.jsonl", source / "pope.json") if p.exists()]
        if not jsonl:
            raise CsrBenchError(f"{source}: no .parquet files and no pope.jsonl in this folder")
        source = jsonl[0]
    if not source.exists():
        raise CsrBenchError(f"{source}: no such POPE data file")
    if source.suffix == ".parquet":
        return [source]
    if source.suffix not in (".jsonl", ".json"):
        raise CsrBenchError(f"{source}: POPE data must be .jsonl, .json or .parquet")
    _jsonl_to_parquet(source, converted)
    return [converted]


def _jsonl_to_parquet(source: Path, target: Path) -> None:
    """Embed the images as bytes with the datasets Image feature, as the hub's parquet files do,
    so lmms-eval's ``doc["image"]`` is a PIL image."""
    import datasets

    text = source.read_text(encoding="utf-8")
    rows = json.loads(text) if source.suffix == ".json" else [json.loads(l) for l in text.splitlines() if l.strip()]
    for number, row in enumerate(rows, start=1):
        image = row.get("image")
        if isinstance(image, str):
            image_path = (source.parent / image).resolve()
            if not image_path.exists():
                raise CsrBenchError(f"{source}: row {number}: image {image} not found")
            row["image"] = {"bytes": image_path.read_bytes(), "path": image_path.name}
        elif not (isinstance(image, dict) and image.get("bytes") is not None):
            raise CsrBenchError(f"{source}: row {number}: 'image' must be a path or {{'bytes': ...}}")
    dataset = datasets.Dataset.from_list(rows).cast_column("image", datasets.Image())
    dataset.to_parquet(str(target))


@dataclass
class LmmsEvalRun(LmmsTaskRun):
    """What one lmms-eval run left behind (evaluation.lmms_bridge.LmmsTaskRun), with its POPE metrics."""

    def metrics(self, task: str = LOCAL_POPE_TASK, filter_name: str = LMMS_EVAL_FILTER) -> dict[str, Any]:
        return metrics_of(self.results, task, filter_name)


def run_lmms_eval(checkpoint: str | Path, output_path: str | Path, *, data: str | Path = "bundled",
                  limit: int | None = None, device: str = "cpu", force_simple: bool | None = None,
                  python: str | None = None, timeout: float | None = None) -> LmmsEvalRun:
    """Run lmms-eval's own POPE task on a llava-hf format checkpoint folder, offline; read its results.

    Writes ``output_path/tasks`` (the local task), ``output_path/results`` (lmms-eval's output) and
    ``output_path/lmms_eval.log``. ``force_simple=None`` picks the plain llava_hf mode when the
    checkpoint has no chat template. Raises CsrBenchError when no results file for the task appears.
    """
    output_path = Path(output_path).resolve()
    task_dir = output_path / "tasks"
    write_pope_task(task_dir, data)
    run = run_lmms_task(checkpoint, output_path, LOCAL_POPE_TASK, include_path=task_dir, limit=limit,
                        device=device, force_simple=force_simple, python=python, timeout=timeout)
    return LmmsEvalRun(**vars(run))


