"""``csr-bench score``: re-score a predictions file without a model.

Each line is one JSON object: the task's dataset fields (image left out) plus ``prediction``, one
line per document. A samples.jsonl written by the evaluator is such a file. Imports no torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import read_jsonl_objects
from csr_bench.reporting.run_data import check_unique_ids
from csr_bench.scorers import SCORERS, ScoringContext
from csr_bench.tasks.config import TaskConfig


def read_predictions(path: Path, task: TaskConfig) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for every line: a JSON object with ``prediction`` (a string) and the
    task's record fields (its image left out), or an error naming the line. A scorer may need fewer
    fields, but a file lacking the task's own is another task's, whose scores would mean nothing
    (a POPE file scored as SEED gave accuracy 0.00). A document id that repeats is refused too."""
    path = Path(path)
    required = ["prediction", *dict.fromkeys(f for f in (*task.fields, *SCORERS[task.scorer].required_fields)
                                             if f != task.image_field)]
    records = []
    for number, record in read_jsonl_objects(path, "predictions"):
        missing = [f for f in required if f not in record]
        if missing:
            raise CsrBenchError(f"{path}:{number}: missing field(s) {', '.join(missing)} of task '{task.name}'"
                                + _other_task(path, task))
        if not isinstance(record["prediction"], str):
            raise CsrBenchError(f"{path}:{number}: 'prediction' must be a string")
        records.append((number, record))
    if not records:
        raise CsrBenchError(f"{path}: no predictions")
    key = task.doc_id if task.doc_id in task.fields else "doc_id"  # "@index" tasks: the evaluator's doc_id
    check_unique_ids(path, [record for _, record in records], key, [number for number, _ in records])
    return records


def _other_task(path: Path, task: TaskConfig) -> str:
    """'; it sits next to task_run.json of task 'pope'' when the evaluator wrote it for another task."""
    try:
        written_for = json.loads((path.parent / "task_run.json").read_text(encoding="utf-8"))["task"]["name"]
    except (OSError, ValueError, TypeError, KeyError):
        return ""
    return f"; it sits next to task_run.json of task '{written_for}'" if written_for != task.name else ""


def rescore(task_name: str, predictions: Path, *, annotations: str | None = None, judge_url: str | None = None,
            judge_model: str | None = None, include_tasks: list[str] | None = None,
            data_root: str | None = None) -> dict[str, Any]:
    """{"task", "n", "metrics", "intervals", "interval_method"} (intervals seeded with 0), or "skipped"
    with the reason when the task cannot be scored here. ``data_root``: the task's data, read only
    for the document images a vision judge looks at (Bingo's)."""
    from csr_bench.evaluation.evaluator import score_records
    from csr_bench.judge import JudgeSettings, make_judge
    from csr_bench.tasks.registry import get_tasks

    tasks = get_tasks([task_name], include_tasks)
    if not tasks:  # "lmms:<task>": lmms-eval's task, run and scored by lmms-eval (evaluation/lmms_bridge.py)
        raise CsrBenchError(f"{task_name}: lmms-eval scores its own tasks; run it with csr-bench eval --tasks {task_name}")
    [task] = tasks
    scorer = SCORERS[task.scorer]
    numbered = read_predictions(Path(predictions), task)
    folder = Path(predictions).resolve().parent
    context = ScoringContext(
        annotations=Path(annotations) if annotations else None,
        judge=make_judge(JudgeSettings.resolve(judge_url, judge_model), cache_path=folder / "judge_cache.jsonl"),
        output_dir=folder, image_of=_images(task, data_root) if data_root else None)
    for number, record in numbered:  # per-record checks, so a bad value is reported with its line
        try:
            record.update(scorer.score_sample(record, context))  # fresh per-sample fields (CHAIR's objects)
        except CsrBenchError as exc:
            raise CsrBenchError(f"{predictions}:{number}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CsrBenchError(f"{predictions}:{number}: record does not fit task '{task.name}' "
                                f"({type(exc).__name__}: {exc})") from None
    records = [record for _, record in numbered]
    caveat = getattr(scorer, "caveat", None)  # what the scorer's numbers cannot say (MMIE: a text-only model's answers)
    return {"task": task.name, "n": len(records), **score_records(scorer, records, context, where=str(predictions)),
            **({"caveat": caveat} if caveat else {})}


def _images(task: TaskConfig, data_root: str):
    """A record's document image from the task's data under ``data_root``, found by its document id
    (the "@index" tasks' doc_id is the row's position)."""
    from csr_bench.tasks.data import load_task_data

    data = load_task_data(task, data_root)
    rows = {json.dumps(data.doc_id(i)): i for i in range(len(data))}
    key = task.doc_id if task.doc_id in task.fields else "doc_id"

    def image_of(record: dict[str, Any]):
        index = rows.get(json.dumps(record.get(key)))
        if index is None:
            raise CsrBenchError(f"{task.name}: no document {key}={record.get(key)!r} in the data under {data_root}")
        return data.image(index)

    return image_of
