"""lmms-eval's POPE results next to a csr-bench iteration's: both scorings, and how often the two
harnesses produced the same answer to the same question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csr_bench.interop.lmms_eval.export import (LMMS_EVAL_FILTER, OFFICIAL_FILTER,
                                                export_lmms_eval_results, metrics_of)
from csr_bench.interop.lmms_eval.run import LOCAL_POPE_TASK
from csr_bench.storage.files import read_jsonl_records
from csr_bench.reporting.run_data import read_samples



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
    ours = read_samples(Path(iteration_dir) / entry["samples"], entry)  # those results.json scored
    our_samples = {str(r["question_id"]): r for r in ours}
    date = lmms_results_path.name[: -len("_results.json")]
    their_samples = {}
    for record in read_jsonl_records(lmms_results_path.parent / f"{date}_samples_{task}.jsonl", repair=False):
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
