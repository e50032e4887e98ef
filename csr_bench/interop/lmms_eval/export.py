"""Our results.json in lmms-eval 0.7.x's results layout, so lmms-eval's readers (``make_table``) work:
our official-rule metrics under the filter ``official``, POPE rescored by lmms-eval's own rule under
``none``. The layout: docs/lmms-eval.md, "Implementation notes". No torch import here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from csr_bench import __version__
from csr_bench.errors import CsrBenchError
from csr_bench.scorers.unit_stats import scorer_of
from csr_bench.storage.files import atomic_write_json
from csr_bench.reporting.run_data import read_samples
from csr_bench.scorers import declared_metric

OFFICIAL_FILTER = "official"
LMMS_EVAL_FILTER = "none"
LOCAL_POPE_TASK = "pope_local"
FILTERS = {
    OFFICIAL_FILTER: "csr-bench's score: the benchmark's official rule (for POPE: POPE evaluate.py / "
                     "LLaVA eval_pope.py answer parsing; yes_ratio = share of predicted yes)",
    LMMS_EVAL_FILTER: "the same predictions scored by lmms-eval's own rule (for POPE: exact 'yes'/'no' "
                      "after lower()/strip(); yes_ratio = share of ground-truth yes)",
}



@dataclass(frozen=True)
class _MetricMap:
    """How one task's metric names and units map onto lmms-eval's (directions: the scorer's declaration)."""
    prefix: str = ""
    scale: float = 1.0

    def name(self, metric: str) -> str:
        return self.prefix + re.sub(r"(^|_)f1$", r"\1f1_score", metric)


# lmms-eval's POPE reports pope_accuracy, pope_precision, pope_recall, pope_f1_score, pope_yes_ratio
# as fractions; ours are percentages named accuracy, ..., f1, yes_ratio (+ per split, f1_split_mean).
METRIC_MAPS = {"pope": _MetricMap(prefix="pope_", scale=0.01)}





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


def _builtin_scorer(task: str) -> str | None:
    """The scorer of the built-in task ``task`` (results files written by hand may not name it)."""
    from csr_bench.tasks.registry import load_registry

    try:
        config = load_registry().get(task)
    except CsrBenchError:
        return None
    return None if config is None else config.scorer


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
        scorer = scorer_of(task, entry, iteration_dir / task, default=_builtin_scorer(task))
        row: dict[str, Any] = {"alias": task}
        directions: dict[str, bool | None] = {}
        bridged = entry.get("metric_keys") if entry.get("scorer") == "lmms-eval" else None
        for metric, value in entry.get("metrics", {}).items():
            if isinstance(bridged, dict) and metric in bridged:  # an lmms: task: lmms-eval's own key and value
                name, _, filter_name = bridged[metric].partition(",")
                row[bridged[metric]], row[f"{name}_stderr,{filter_name}"] = value, "N/A"
                directions[name] = (entry.get("higher_is_better") or {}).get(metric)
                continue
            name = mapping.name(metric)
            row[f"{name},{OFFICIAL_FILTER}"] = value * mapping.scale if isinstance(value, (int, float)) else value
            row[f"{name}_stderr,{OFFICIAL_FILTER}"] = "N/A"
            declaration = declared_metric(scorer, metric)
            directions[name] = None if declaration is None else declaration.higher_is_better
        samples = read_samples(iteration_dir / entry["samples"], entry) if entry.get("samples") else []  # those scored
        if task == "pope" and samples:
            for name, value in lmms_eval_pope_metrics(samples).items():
                row[f"{name},{LMMS_EVAL_FILTER}"] = value
                row[f"{name}_stderr,{LMMS_EVAL_FILTER}"] = "N/A"
        results[task] = row
        higher[task] = directions
        configs[task] = _task_config(iteration_dir, task, entry)
        versions[task] = entry.get("scored_by") if isinstance(bridged, dict) else \
            f"csr-bench {ours.get('versions', {}).get('csr-bench', __version__)}"
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


def metrics_of(results: dict[str, Any], task: str, filter_name: str = LMMS_EVAL_FILTER) -> dict[str, Any]:
    """{metric: value} of one task and filter of an lmms-eval results dict, stderr entries left out."""
    row = results.get("results", {}).get(task, {})
    out = {}
    for key, value in row.items():
        metric, _, filt = key.partition(",")
        if filt == filter_name and "_stderr" not in metric:
            out[metric] = value
    return out
