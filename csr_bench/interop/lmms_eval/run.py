"""Run lmms-eval's own POPE task on a csr-bench checkpoint, offline, in a separate process.

A local task (``pope_local``, including lmms-eval's tasks/pope/pope.yaml) reads a parquet copy of
the data; the runner module applies the torchvision shim before lmms-eval starts. lmms-eval exits 0
even when an evaluation fails, so success is read from its results file, never its exit code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.interop.lmms_eval.export import LMMS_EVAL_FILTER, metrics_of

INSTALL_HINT = "install the extra: pip install -c constraints.txt -e '.[lmms]'"
LOCAL_POPE_TASK = "pope_local"
_BUNDLED_POPE = Path(__file__).resolve().parents[1] / "bundled" / "pope" / "pope.jsonl"




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


def has_chat_template(checkpoint: str | Path) -> bool:
    """Whether a saved processor/tokenizer carries a chat template (lmms-eval's chat llava_hf needs one)."""
    checkpoint = Path(checkpoint)
    if any((checkpoint / name).exists() for name in ("chat_template.jinja", "chat_template.json")):
        return True
    for name in ("processor_config.json", "tokenizer_config.json"):
        try:
            if json.loads((checkpoint / name).read_text(encoding="utf-8")).get("chat_template"):
                return True
        except (OSError, ValueError):
            continue
    return False


def lmms_eval_command(checkpoint: str | Path, task_dir: str | Path, output_path: str | Path, *,
                      task: str = LOCAL_POPE_TASK, limit: int | None = None, device: str = "cpu",
                      force_simple: bool = False, python: str | None = None) -> list[str]:
    """The lmms-eval 0.7.3 command line, run through our shim runner (see run_lmms_eval.py).

    llava_hf needs ``device_map`` in --model_args (else it moves the model itself), refuses a
    batch size above 1, and its default chat mode needs a chat template in the checkpoint;
    ``--force_simple`` selects the plain mode, which falls back to the vicuna_v1 template.
    """
    checkpoint = str(Path(checkpoint).resolve())
    if "," in checkpoint or "=" in checkpoint:
        raise CsrBenchError(f"{checkpoint}: lmms-eval's --model_args cannot hold a path with ',' or '='")
    command = [python or sys.executable, "-m", "csr_bench.interop.lmms_eval.launch",
               "--model", "llava_hf", "--model_args", f"pretrained={checkpoint},device_map={device}",
               "--tasks", task, "--include_path", str(task_dir), "--device", device, "--batch_size", "1",
               "--output_path", str(output_path), "--log_samples"]
    if limit is not None:
        command += ["--limit", str(limit)]
    if force_simple:
        command.append("--force_simple")
    return command


@dataclass
class LmmsEvalRun:
    """What one lmms-eval run left behind, read from its files (its exit status means nothing)."""
    command: list[str]
    returncode: int
    results_path: Path
    results: dict[str, Any]
    samples_paths: dict[str, Path]
    log_path: Path
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

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
    results_dir = output_path / "results"
    write_pope_task(task_dir, data)
    if force_simple is None:
        force_simple = not has_chat_template(checkpoint)
    command = lmms_eval_command(checkpoint, task_dir, results_dir, limit=limit, device=device,
                                force_simple=force_simple, python=python)
    env = dict(os.environ)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.setdefault(name, "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    log_path = output_path / "lmms_eval.log"
    output_path.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with log_path.open("w", encoding="utf-8") as log:
        try:
            proc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CsrBenchError(f"lmms-eval did not finish within {timeout} s; see {log_path}") from None
    seconds = time.time() - started
    results_path = _newest_results(results_dir, since=started)
    if results_path is None:
        raise CsrBenchError(f"lmms-eval wrote no results file (exit status {proc.returncode}; it exits 0 "
                            f"even when an evaluation fails); see {log_path}:\n{_tail(log_path)}")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    if LOCAL_POPE_TASK not in results.get("results", {}):
        raise CsrBenchError(f"{results_path}: no results for {LOCAL_POPE_TASK}; see {log_path}")
    date = results_path.name[: -len("_results.json")]
    samples = {task: results_path.parent / f"{date}_samples_{task}.jsonl" for task in results["results"]}
    return LmmsEvalRun(command=command, returncode=proc.returncode, results_path=results_path, results=results,
                       samples_paths={t: p for t, p in samples.items() if p.exists()}, log_path=log_path,
                       seconds=seconds, extra={"force_simple": force_simple})


def _newest_results(root: Path, since: float) -> Path | None:
    found = [p for p in root.glob("*/*_results.json") if p.stat().st_mtime >= since - 1]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # loguru colours
    return "\n".join(text.splitlines()[-lines:])
