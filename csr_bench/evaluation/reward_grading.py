"""``csr-bench grade-reward``: a reward function (csr_bench/models/rewards.py) scores both sides of a
reward_pairs task's pairs (MJ-Bench) and is graded by MJ-Bench's rule (csr_bench/scorers/mjbench.py).

Writes ``<output>/<task>-<reward>/`` (one process at a time: storage.run_lock):
``reward_scores.jsonl`` (per pair: id, s0, s1), appended in sealed batches so a crash loses at most one
batch and a rerun scores only the rest; ``grading_settings.json`` (the reward, the data and its
fingerprint: a rerun with another is refused); ``scores.jsonl`` (per graded pair: id, subcategory, s0,
s1, pred, label, credit, threshold) and ``results.json`` (metrics, bootstrap intervals, reward, unit,
tie threshold, data source), written at the end. The tie threshold is not a setting of the scores: a
rerun with another threshold re-decides every pair from the stored scores without scoring again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.progress import get_logger, progress_bar

log = get_logger()
DEFAULT_OUTPUT = "results/reward_grading"
WORLD_REWARD_TASKS = ("mjbench_world_images", "mjbench_world_captions")  # read the world's data by default
# (world/reward_pairs.py names them too; evaluation may not import the world, docs/architecture.md)
REWARD_SCORES_FILE = "reward_scores.jsonl"  # the resumable store of the reward's raw scores
SCORES_FILE = "scores.jsonl"
SETTINGS_FILE = "grading_settings.json"
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class GradeConfig:
    task: str
    reward: str
    tie_threshold: float = 0.0
    data_root: str | None = None
    output: str = DEFAULT_OUTPUT
    limit: int | None = None
    include_tasks: list[str] = field(default_factory=list)
    device: str | None = None
    batch_size: int = 16
    bootstrap: int = 1000
    seed: int = 0


def folder_name(task: str, reward: str) -> str:
    return f"{task}-{re.sub(r'[^A-Za-z0-9._-]+', '_', reward)}"


def _pair_inputs(data, index: int) -> tuple:
    row = data.rows[index]
    if data.shape == "images":
        return row["caption"], data.image(index, "image0"), data.image(index, "image1")
    return data.image(index, "image"), row["caption0"], row["caption1"]


def grade_reward(config: GradeConfig, reward=None) -> dict[str, Any]:
    """Grade ``config.reward`` (or an already loaded ``reward``) on ``config.task``; returns results.json's
    content (and ``output_dir``)."""
    from csr_bench.storage.run_lock import run_lock

    spec, task, data, chosen = _inputs(config, reward)
    out = Path(config.output) / folder_name(task.name, spec.name)
    with run_lock(out):
        return _grade_locked(config, reward, spec, task, data, chosen, out)


def _inputs(config: GradeConfig, reward):
    """The reward's spec, the task, its pairs and the indices graded: checked before anything is written."""
    from csr_bench.models.rewards import parse_reward
    from csr_bench.tasks.pair_data import load_pairs
    from csr_bench.tasks.registry import get_tasks

    if config.tie_threshold < 0:
        raise CsrBenchError(f"--tie-threshold must be 0 or more (got {config.tie_threshold})")
    if config.limit is not None and config.limit < 1:
        raise CsrBenchError(f"--limit must be at least 1 (got {config.limit})")
    spec = parse_reward(config.reward) if reward is None else reward.spec
    [task] = get_tasks([config.task], config.include_tasks, kind="reward_pairs")
    data_root = config.data_root
    if data_root is None and task.name in WORLD_REWARD_TASKS:
        data_root = "world"
    data = load_pairs(task, data_root)
    chosen = list(range(len(data) if config.limit is None else min(config.limit, len(data))))
    log.info("%s: %d pairs (%s) from %s", task.name, len(chosen), data.shape, data.source)
    return spec, task, data, chosen


def _grade_locked(config: GradeConfig, reward, spec, task, data, chosen: list[int], out: Path) -> dict[str, Any]:
    from csr_bench.scorers import SCORERS
    from csr_bench.storage.files import atomic_write_json, atomic_write_jsonl
    from csr_bench.storage.keyed_store import KeyedStore

    settings = {"task": task.name, "pair_shape": data.shape, "reward": spec.describe(),
                "data": {"source": data.source, "pairs": len(data), "fingerprint": data.digest()}}
    store = KeyedStore(out / REWARD_SCORES_FILE, "id", settings=settings, settings_file=out / SETTINGS_FILE,
                       stage=f"grade-reward {task.name} with {spec.name}")
    todo = [i for i in chosen if data.rows[i]["id"] not in store]
    if todo:
        if reward is None:
            from csr_bench.models.rewards import RewardFunction

            reward = RewardFunction(spec, device=config.device)
        score = reward.score_image_pairs if data.shape == "images" else reward.score_caption_pairs
        with progress_bar(len(chosen), f"grade-reward {task.name}", unit="pair", initial=len(chosen) - len(todo)) as bar:
            for start in range(0, len(todo), config.batch_size):
                batch = todo[start:start + config.batch_size]
                values = score([_pair_inputs(data, i) for i in batch])
                store.append([{"id": data.rows[i]["id"], "s0": s0, "s1": s1} for i, (s0, s1) in zip(batch, values)])
                bar.update(len(batch))

    scorer = SCORERS["mjbench"]
    records = []
    for position, i in enumerate(chosen):
        row = data.rows[i]
        stored = store[row["id"]]
        record = {"id": row["id"], "subcategory": row.get("subcategory") or "", "s0": stored["s0"], "s1": stored["s1"],
                  "threshold": config.tie_threshold, "label": row.get("label"), "label_0": row.get("label_0")}
        decided = scorer.score_sample(record)
        records.append({"id": row["id"], "subcategory": record["subcategory"], "s0": stored["s0"], "s1": stored["s1"],
                        **decided, "threshold": config.tie_threshold, "doc_id": row["id"], "doc_index": position})
    # the graded pairs, in the data's order, with this threshold's decisions (the raw scores stay in the store)
    atomic_write_jsonl(out / SCORES_FILE, records)
    metrics = scorer.aggregate(records)
    results = {"task": task.name, "scorer": "mjbench", "pair_shape": data.shape, "n": len(records),
               "reward": spec.describe(), "unit": spec.unit,
               "tie_threshold": {"value": config.tie_threshold, "unit": spec.unit},
               "data_source": data.source, "limit": config.limit, "metrics": metrics}
    if config.bootstrap > 0:  # as an evaluation's: each reported metric's interval, and how it was made
        from csr_bench.evaluation.evaluator import metric_intervals

        results.update(metric_intervals("mjbench", records, metrics, config.seed, str(out / SCORES_FILE),
                                        resamples=config.bootstrap))
    atomic_write_json(out / RESULTS_FILE, results)
    results["output_dir"] = str(out)
    return results


def format_table(results: dict[str, Any]) -> str:
    """The results as a small table: metric, value, 95% interval."""
    intervals = results.get("intervals", {})
    lines = [f"{results['task']}: reward {results['reward']['name']} ({results['unit']}), tie threshold "
             f"{results['tie_threshold']['value']:g} ({results['unit']}), {results['n']} pairs from {results['data_source']}",
             f"{'metric':<32} {'value':>7}  interval"]
    for name, value in results["metrics"].items():
        low_high = intervals.get(name)
        shown = f"[{low_high[0]:.1f}, {low_high[1]:.1f}]" if low_high else ""
        lines.append(f"{name:<32} {value:>7.2f}  {shown}")
    return "\n".join(lines)


__all__ = ["GradeConfig", "folder_name", "format_table", "grade_reward"]
