"""lmms-eval interop: our metrics in lmms-eval's results layout, and lmms-eval's own POPE task run on
a csr-bench checkpoint, so the two harnesses' scorings can be read side by side.

lmms-eval 0.7.x writes ``<output_path>/<model>/<date>_results.json`` (evaluator + EvaluationTracker):
``results`` {task: {"alias", "<metric>,<filter>": value, "<metric>_stderr,<filter>": ...}},
``group_subtasks``, ``configs``, ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``,
``config`` (model, model_args, batch_size, limit, seeds...), ``date``, ``task_hashes`` and the
tracker's ``model_source``/``model_name``/``model_name_sanitized``/``total_evaluation_time_seconds``.
``export_lmms_eval_results`` fills the same keys, so lmms-eval's readers (e.g. ``make_table``) work.

Metric keys keep lmms-eval's "metric,filter" form. Our official-rule metrics use the filter
``official`` (the official answer parsing is what lmms-eval would call a filter). For POPE we add
the same predictions rescored by lmms-eval's own rule under its default filter ``none``: one table
then shows both scorings of one set of predictions. POPE values are fractions, as in lmms-eval.

No torch import here: only the lmms-eval run, a separate process, loads a model.
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
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from csr_bench import __version__
from csr_bench.errors import CsrBenchError
from csr_bench.io import atomic_write_json

__all__ = [
    "export_lmms_eval_results", "write_lmms_eval_results", "lmms_eval_pope_metrics", "write_pope_task",
    "lmms_eval_command", "run_lmms_eval", "LmmsEvalRun", "compare_pope", "format_comparison", "main",
]

OFFICIAL_FILTER = "official"
LMMS_EVAL_FILTER = "none"
LOCAL_POPE_TASK = "pope_local"
FILTERS = {
    OFFICIAL_FILTER: "csr-bench's score: the benchmark's official rule (for POPE: POPE evaluate.py / "
                     "LLaVA eval_pope.py answer parsing; yes_ratio = share of predicted yes)",
    LMMS_EVAL_FILTER: "the same predictions scored by lmms-eval's own rule (for POPE: exact 'yes'/'no' "
                      "after lower()/strip(); yes_ratio = share of ground-truth yes)",
}
INSTALL_HINT = "install the extra: pip install -c constraints.txt -e '.[lmms]'"
_BUNDLED_POPE = Path(__file__).resolve().parents[1] / "bundled" / "pope" / "pope.jsonl"


@dataclass(frozen=True)
class _MetricMap:
    """How one task's metric names and units map onto lmms-eval's."""
    prefix: str = ""
    scale: float = 1.0
    higher: bool | None = None  # direction of the task's metrics; None: not known here
    no_direction: tuple[str, ...] = ()

    def name(self, metric: str) -> str:
        return self.prefix + re.sub(r"(^|_)f1$", r"\1f1_score", metric)

    def higher_is_better(self, metric: str) -> bool | None:
        return None if any(metric == m or metric.endswith("_" + m) for m in self.no_direction) else self.higher


# lmms-eval's POPE reports pope_accuracy, pope_precision, pope_recall, pope_f1_score, pope_yes_ratio
# as fractions; ours are percentages named accuracy, ..., f1, yes_ratio (+ per split, f1_split_mean).
METRIC_MAPS = {"pope": _MetricMap(prefix="pope_", scale=0.01, higher=True, no_direction=("yes_ratio",))}


# --------------------------------------------------------------------------- export


def lmms_eval_pope_metrics(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """lmms-eval 0.7.3's POPE metrics (tasks/pope/utils.py) for our samples: exact match after
    lower()/strip(); other answers count in accuracy only; yes_ratio counts ground-truth labels."""
    preds = [str(r["prediction"]).lower().strip() for r in records]
    gts = [str(r["answer"]).lower().strip() for r in records]
    tp = sum(g == "yes" and p == "yes" for p, g in zip(preds, gts))
    fp = sum(g == "no" and p == "yes" for p, g in zip(preds, gts))
    fn = sum(g == "yes" and p == "no" for p, g in zip(preds, gts))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    labelled = sum(g in ("yes", "no") for g in gts)
    return {
        "pope_accuracy": sum(p == g for p, g in zip(preds, gts)) / len(gts) if gts else 0.0,
        "pope_precision": precision,
        "pope_recall": recall,
        "pope_f1_score": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "pope_yes_ratio": sum(g == "yes" for g in gts) / labelled if labelled else 0.0,
    }


def export_lmms_eval_results(iteration_dir: str | Path) -> dict[str, Any]:
    """Our ``iter_<k>/results.json`` (and its samples) as an lmms-eval 0.7.x results dict."""
    iteration_dir = Path(iteration_dir)
    path = iteration_dir / "results.json"
    try:
        ours = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CsrBenchError(f"{path}: no results.json (is {iteration_dir} an iter_<k> folder of a run?)") from None
    except ValueError as exc:
        raise CsrBenchError(f"{path}: not valid JSON ({exc})") from None

    results, configs, versions, n_shot, higher, n_samples = {}, {}, {}, {}, {}, {}
    for task, entry in ours.get("results", {}).items():
        mapping = METRIC_MAPS.get(task, _MetricMap())
        row: dict[str, Any] = {"alias": task}
        directions: dict[str, bool | None] = {}
        for metric, value in entry.get("metrics", {}).items():
            name = mapping.name(metric)
            row[f"{name},{OFFICIAL_FILTER}"] = value * mapping.scale if isinstance(value, (int, float)) else value
            row[f"{name}_stderr,{OFFICIAL_FILTER}"] = "N/A"
            directions[name] = mapping.higher_is_better(metric)
        samples = _read_jsonl(iteration_dir / entry["samples"]) if entry.get("samples") else []
        if task == "pope" and samples:
            for name, value in lmms_eval_pope_metrics(samples).items():
                row[f"{name},{LMMS_EVAL_FILTER}"] = value
                row[f"{name}_stderr,{LMMS_EVAL_FILTER}"] = "N/A"
        results[task] = row
        higher[task] = directions
        configs[task] = _task_config(iteration_dir, task, entry)
        versions[task] = f"csr-bench {ours.get('versions', {}).get('csr-bench', __version__)}"
        n_shot[task] = 0
        # "original": the task's size before --limit (results.json's n_documents).
        n_samples[task] = {"original": entry.get("n_documents"), "effective": entry.get("n_samples", len(samples))}

    model = ours.get("model", {})
    config = ours.get("config", {})
    model_name = str(model.get("source") or model.get("name") or "unknown")
    return {
        "results": results,
        "group_subtasks": {task: [] for task in results},
        "configs": configs,
        "versions": versions,
        "n-shot": n_shot,
        "higher_is_better": higher,
        "n-samples": n_samples,
        "config": {
            "model": "csr-bench",
            "model_args": f"pretrained={model_name}",
            "model_backend": f"csr_bench ({model.get('class', 'unknown')})",
            "batch_size": config.get("batch_size"),
            "batch_sizes": [],
            "device": model.get("device"),
            "dtype": model.get("dtype"),
            "limit": config.get("limit"),
            "offset": 0,
            "gen_kwargs": "",
            "random_seed": ours.get("seed"),
            "numpy_seed": None,
            "torch_seed": None,
            "fewshot_seed": None,
        },
        "git_hash": None,
        "git_branch": None,
        "lmms_eval_version": None,
        "date": _date_id(ours.get("created")),
        "task_hashes": {},
        "model_source": "csr-bench",
        "model_name": model_name,
        "model_name_sanitized": sanitize_model_name(model_name),
        "system_instruction": None,
        "chat_template": None,
        "total_evaluation_time_seconds": str(ours.get("timing", {}).get("seconds", "")),
        "csr_bench": {"exported_from": str(path), "filters": FILTERS, "run": ours.get("run"),
                      "versions": ours.get("versions")},
    }


def write_lmms_eval_results(iteration_dir: str | Path, output_path: str | Path | None = None) -> Path:
    """Write the export where lmms-eval would: ``<output_path>/<model>/<date>_results.json``
    (default output_path: ``<iteration_dir>/lmms_eval``). Returns the file written."""
    exported = export_lmms_eval_results(iteration_dir)
    root = Path(output_path) if output_path is not None else Path(iteration_dir) / "lmms_eval"
    path = root / exported["model_name_sanitized"] / f"{exported['date']}_results.json"
    atomic_write_json(path, exported)
    return path


def sanitize_model_name(name: str) -> str:
    """lmms-eval's folder name for a model: its last two path parts, separators replaced by "__"."""
    parts = str(name).rstrip("/").split("/")
    return re.sub(r"[\"<>:/\|\\?\*\[\]]+", "__", "/".join(parts[-2:]))


def _task_config(iteration_dir: Path, task: str, entry: dict[str, Any]) -> dict[str, Any]:
    task_run = iteration_dir / task / "task_run.json"
    config: dict[str, Any] = {"task": task}
    if task_run.exists():
        recorded = json.loads(task_run.read_text(encoding="utf-8"))
        config.update(recorded.get("task", {}))
        config["task"] = task
        config["data"] = recorded.get("data")
    config["generation_kwargs"] = entry.get("generation", config.get("generation"))
    config["output_type"] = "generate_until"
    config["metadata"] = [{"csr_bench_data_source": entry.get("data_source"), "skipped": entry.get("skipped")}]
    return config


def _date_id(created: str | None) -> str:
    """lmms-eval's file date (``%Y%m%d_%H%M%S``) from our ISO timestamp."""
    try:
        moment = datetime.strptime(created or "", "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        moment = datetime.now()
    return moment.strftime("%Y%m%d_%H%M%S")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read without repairing: a last line cut short by a crash is ignored, not removed."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if number == len(lines):
                break
            raise CsrBenchError(f"{path}:{number}: not valid JSON") from None
    return records


# --------------------------------------------------------------------------- running lmms-eval


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
    command = [python or sys.executable, "-m", "csr_bench.interop.run_lmms_eval",
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


def metrics_of(results: dict[str, Any], task: str, filter_name: str = LMMS_EVAL_FILTER) -> dict[str, Any]:
    """{metric: value} of one task and filter of an lmms-eval results dict, stderr entries left out."""
    row = results.get("results", {}).get(task, {})
    out = {}
    for key, value in row.items():
        metric, _, filt = key.partition(",")
        if filt == filter_name and "_stderr" not in metric:
            out[metric] = value
    return out


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


# --------------------------------------------------------------------------- comparing


def compare_pope(iteration_dir: str | Path, lmms_results_path: str | Path) -> dict[str, Any]:
    """Side by side: lmms-eval's POPE metrics and ours (both rules), and how often the two harnesses'
    raw predictions agree on the questions both answered (matched by question_id)."""
    ours = export_lmms_eval_results(iteration_dir)
    lmms_results_path = Path(lmms_results_path)
    theirs = json.loads(lmms_results_path.read_text(encoding="utf-8"))
    task = LOCAL_POPE_TASK if LOCAL_POPE_TASK in theirs.get("results", {}) else "pope"
    lmms = metrics_of(theirs, task)
    rows = []
    for metric in sorted(set(lmms) | set(metrics_of(ours, "pope", OFFICIAL_FILTER))):
        rows.append({"metric": metric,
                     "lmms_eval": lmms.get(metric),
                     "csr_bench_lmms_rule": metrics_of(ours, "pope", LMMS_EVAL_FILTER).get(metric),
                     "csr_bench_official": metrics_of(ours, "pope", OFFICIAL_FILTER).get(metric)})

    entry = json.loads((Path(iteration_dir) / "results.json").read_text(encoding="utf-8"))["results"]["pope"]
    our_samples = {str(r["question_id"]): r for r in _read_jsonl(Path(iteration_dir) / entry["samples"])}
    date = lmms_results_path.name[: -len("_results.json")]
    their_samples = {}
    for record in _read_jsonl(lmms_results_path.parent / f"{date}_samples_{task}.jsonl"):
        qid = str(record["pope_accuracy"]["question_id"])
        their_samples[qid] = {"prediction": _text(record.get("filtered_resps")), "input": record.get("input")}
    common = sorted(set(our_samples) & set(their_samples), key=lambda q: (len(q), q))
    from csr_bench.scorers.pope import parse_yes_no

    def share(pred) -> float | None:
        return sum(map(pred, common)) / len(common) if common else None

    return {
        "metrics": rows,
        "predictions": {
            "common_questions": len(common),
            "identical_prompts": share(lambda q: our_samples[q].get("prompt") == their_samples[q]["input"]),
            "identical_predictions": share(lambda q: our_samples[q]["prediction"].strip()
                                           == their_samples[q]["prediction"].strip()),
            "same_official_answer": share(lambda q: parse_yes_no(our_samples[q]["prediction"])
                                          == parse_yes_no(their_samples[q]["prediction"])),
            "examples": [{"question_id": q, "csr_bench": our_samples[q]["prediction"][:60],
                          "lmms_eval": their_samples[q]["prediction"][:60]} for q in common[:3]],
        },
    }


def format_comparison(comparison: dict[str, Any]) -> str:
    """A plain-text table of ``compare_pope``'s result."""
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, (int, float)) else "-"

    lines = [f"{'metric':<28} {'lmms-eval':>10} {'ours, lmms rule':>16} {'ours, official':>15}"]
    for row in comparison["metrics"]:
        lines.append(f"{row['metric']:<28} {cell(row['lmms_eval']):>10} {cell(row['csr_bench_lmms_rule']):>16} "
                     f"{cell(row['csr_bench_official']):>15}")
    p = comparison["predictions"]
    lines.append(f"questions answered by both: {p['common_questions']}; identical prompts (user text): "
                 f"{cell(p['identical_prompts'])}; identical predictions: {cell(p['identical_predictions'])}; "
                 f"same official yes/no: {cell(p['same_official_answer'])}")
    return "\n".join(lines)


def _text(value: Any) -> str:
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else ""


def main(argv: list[str] | None = None) -> int:
    """``python -m csr_bench.interop.lmms_eval export|run|compare ...`` (kept out of the csr-bench CLI,
    which must not depend on an optional extra)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m csr_bench.interop.lmms_eval",
                                     description="lmms-eval interop for csr-bench runs")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write an iteration's results.json in lmms-eval's layout")
    export.add_argument("iteration_dir")
    export.add_argument("--output", help="lmms-eval style output folder (default: ITERATION_DIR/lmms_eval)")
    run = sub.add_parser("run", help="run lmms-eval's own POPE on a checkpoint folder, offline")
    run.add_argument("checkpoint")
    run.add_argument("output")
    run.add_argument("--data", default="bundled", help="bundled, a POPE .jsonl/.json/.parquet, or a folder")
    run.add_argument("--limit", type=int)
    run.add_argument("--device", default="cpu")
    compare = sub.add_parser("compare", help="lmms-eval's POPE results next to an iteration's")
    compare.add_argument("iteration_dir")
    compare.add_argument("lmms_results", help="lmms-eval's <date>_results.json")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            print(write_lmms_eval_results(args.iteration_dir, args.output))
        elif args.command == "run":
            result = run_lmms_eval(args.checkpoint, args.output, data=args.data, limit=args.limit, device=args.device)
            print(json.dumps({"results": str(result.results_path), "metrics": result.metrics()}, indent=2))
        else:
            print(format_comparison(compare_pope(args.iteration_dir, args.lmms_results)))
    except CsrBenchError as exc:
        print(f"csr-bench: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
