"""Runs tasks over a model: prompts in length-sorted batches, samples saved as they finish, metrics
from the task's scorer, one results.json per evaluation; a rerun resumes. Details (layout, several
processes): docs/output-layout.md, "csr_bench/evaluation/evaluator.py".
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.evaluation.config import EvalConfig
from csr_bench.evaluation.prefetch import batch_images
from csr_bench.evaluation.results import write_results
from csr_bench.evaluation.samples import document_order, sample_store
from csr_bench.models.base import GenerationRequest, VisionLanguageModel
from csr_bench.models.registry import resolve_model, run_name_for
from csr_bench.progress import get_logger, progress_bar
from csr_bench.scorers import SCORERS, ScoringContext, ScoringSkipped
from csr_bench.storage.keyed_store import KeyedStore
from csr_bench.storage.settings import differences, run_relative
from csr_bench.tasks.data import TaskData, load_task_data
from csr_bench.tasks.registry import LMMS_PREFIX, get_tasks, split_task_names
from csr_bench.evaluation.lmms_bridge import discard_bridged, prepare_bridge, run_bridged_tasks
from csr_bench.tasks.subset import select_documents

log = get_logger()


def iteration_dir(config: EvalConfig) -> Path:
    run_name = config.run_name or run_name_for(resolve_model(config.model).name)
    return Path(config.output) / run_name / f"iter_{config.iteration}"


def run_identity(model: VisionLanguageModel, run_dir: Path) -> dict[str, Any]:
    """The model's identity with a checkpoint inside the run folder written relative to it (a moved run resumes)."""
    identity = dict(model.identity())
    if isinstance(identity.get("source"), str):
        identity["source"] = run_relative(identity["source"], run_dir)
    return identity


def recorded_config(config: EvalConfig, data_root: str | None, run_dir: Path) -> dict[str, Any]:
    """The config as results.json records it: the data root resolved, a model inside the run folder run-relative."""
    return {**asdict(config), "data_root": data_root, "model": run_relative(config.model, run_dir)}


def scoring_context(data: TaskData, task_dir: Path, config: EvalConfig) -> ScoringContext:
    """Annotations from --annotations (or the task's folder under the data root), the judge from
    flags/env, and the task folder for artefacts such as a submission file."""
    from csr_bench.judge import JudgeSettings, make_judge

    annotations = Path(config.annotations) if config.annotations else data.annotations
    judge = make_judge(JudgeSettings.resolve(config.judge_url, config.judge_model),
                       cache_path=task_dir / "judge_cache.jsonl")
    return ScoringContext(annotations=annotations, judge=judge, output_dir=task_dir,
                          image_of=lambda record: data.image(record["doc_index"]))


def score_records(scorer, records: list[dict[str, Any]], context: ScoringContext, *, seed: int = 0,
                  where: str = "") -> dict[str, Any]:
    """{"metrics": ..., "intervals": ..., "interval_method": ...} or, when the task cannot be scored
    here, {"metrics": {}, "skipped": reason}.

    A scorer whose per-item outcome comes from a judge also returns those outcomes; they are merged
    into ``records`` (in place, replacing earlier ones), so the bootstrap resamples the judge's own
    decisions and the caller can store them in samples.jsonl."""
    try:
        with_items = getattr(scorer, "aggregate_items", None)
        if with_items is None:
            metrics = scorer.aggregate(records, context)
        else:
            metrics, items = with_items(records, context)
            for record, item in zip(records, items):
                for name in scorer.judge_fields:
                    record.pop(name, None)
                record.update(item)
    except ScoringSkipped as skipped:
        return {"metrics": {}, "skipped": str(skipped)}
    return {"metrics": metrics, **metric_intervals(scorer.name, records, metrics, seed, where)}


def metric_intervals(scorer_name: str, records: list[dict[str, Any]], metrics: dict[str, float], seed: int,
                     where: str = "", resamples: int | None = None) -> dict[str, Any]:
    """The 95% bootstrap interval of each reported metric the task's unit statistics recompute
    (scorers.unit_stats, scorers.uncertainty), and how it was made; {} when there are none.
    ``resamples``: the bootstrap's draws (default: BootstrapSettings')."""
    from csr_bench.scorers.uncertainty import BootstrapSettings, intervals
    from csr_bench.scorers.unit_stats import task_stats

    where = where or scorer_name
    try:
        stats = task_stats(scorer_name, records, where, scorer=scorer_name)
        names = []
        for name in stats.metrics():
            if name not in metrics:
                continue
            point = float(stats.value(name))
            if abs(point - metrics[name]) > 1e-6:  # never an interval around another number than the one reported
                log.warning("%s: %s is %.6f by its unit statistics but %.6f as scored; no interval for it",
                            where, name, point, metrics[name])
                continue
            names.append(name)
        settings = BootstrapSettings(seed=seed, **({"resamples": resamples} if resamples else {}))
        found = intervals(stats, names, settings)
    except CsrBenchError as exc:
        log.warning("%s: no confidence intervals: %s", where, exc)
        return {}
    if not found:
        return {}
    return {"intervals": {name: interval.to_json() for name, interval in found.items()},
            "interval_method": settings.describe(stats)}


def evaluate_task(model: VisionLanguageModel, data: TaskData, task_dir: Path, config: EvalConfig,
                  context: ScoringContext) -> dict[str, Any] | None:
    """Evaluate one task, resuming from its samples.jsonl; returns its entry of results.json (None
    on the other processes of a data-parallel run: the main one scores)."""
    task = data.task
    scorer = SCORERS[task.scorer]
    settings = task.generation
    if config.max_new_tokens is not None:
        settings = replace(settings, max_new_tokens=config.max_new_tokens)
    identity = {k: v for k, v in run_identity(model, task_dir.parent.parent).items() if k != "name"}
    identity["device"] = str(identity.get("device", "")).split(":")[0]  # cuda:0 and cuda:1 make the same samples
    store = sample_store(task_dir, {"task": task.to_dict(), "model": identity,
                                    "generation": asdict(settings), "data": data.source})

    subset = select_documents(task, data.rows, config.limit)  # --limit: spread over the task's strata
    selected, count = subset.indices, len(subset.indices)
    prompts = {i: task.render_prompt(data.rows[i]) for i in selected}
    pending = [i for i in selected if data.doc_id(i) not in store]
    if count - len(pending):
        log.info("%s: %d of %d samples already done in %s, resuming", task.name, count - len(pending), count,
                 store.path)
    # Longest prompts first, ties in document order: similar lengths share a batch (little
    # padding) and an out-of-memory batch shows up at the start, not hours in.
    pending.sort(key=lambda i: (-model.prompt_length(prompts[i]), i))
    distributed.barrier()  # every process has read the finished samples before any process adds more
    mine = distributed.shard(pending)
    batches = [mine[start:start + config.batch_size] for start in range(0, len(mine), config.batch_size)]

    started = time.perf_counter()
    label = f"iter {config.iteration} {task.name}"  # the run's iteration folder it fills
    if distributed.is_distributed():
        process = f"[process {distributed.rank()} of {distributed.world_size()}]"
        bar = progress_bar(total=len(mine), desc=f"{label} {process}")
    else:
        bar = progress_bar(total=count, initial=count - len(pending), desc=label)
    with bar:
        for batch, images in batch_images(data, batches, config.num_workers):
            requests = [GenerationRequest(image=image, prompt=prompts[i]) for i, image in zip(batch, images)]
            predictions = model.generate(requests, settings)
            records = []
            for i, prediction in zip(batch, predictions):
                record = {"doc_id": data.doc_id(i), "doc_index": i, **{f: data.rows[i][f] for f in task.fields},
                          "prompt": prompts[i], "prediction": prediction}
                record.update(scorer.score_sample(record, context))
                records.append(record)
            store.append(records)
            bar.update(len(batch))
    seconds = time.perf_counter() - started
    distributed.barrier()  # every shard is written
    if not distributed.is_main():
        return None
    if store.shards():  # the processes' files (this run's, or a killed one's) merged into samples.jsonl
        store.reload()  # what the other processes appended since this store was opened
        store.merge(document_order(store))

    ordered = [store[data.doc_id(i)] for i in selected]
    def judged() -> list[dict[str, Any]]:  # the judge's per-item decisions the records carry
        return [{name: r.get(name) for name in getattr(scorer, "judge_fields", ())} for r in ordered]

    before = judged()
    try:
        scored = score_records(scorer, ordered, context, seed=config.seed, where=str(task_dir))
    except CsrBenchError as exc:  # e.g. the judge is down: keep the other tasks' results, fail at the end
        log.error("%s: scoring failed: %s", task.name, exc)
        scored = {"metrics": {}, "error": str(exc)}
    if judged() != before:
        _store_judged(store)
    if "skipped" in scored:
        log.warning("%s: not scored: %s", task.name, scored["skipped"])
    else:
        metrics = scored["metrics"]
        log.info("%s: %s", task.name, ", ".join(f"{k} {metrics[k]:.2f}" for k in scorer.headline if k in metrics))
    caveat = getattr(scorer, "caveat", None)  # what the scorer's numbers cannot say (MMIE: a text-only model's answers)
    if caveat:
        log.warning("%s: %s", task.name, caveat)
        scored["caveat"] = caveat
    # On a subset, which documents were scored: samples.jsonl may hold more (an earlier, larger
    # --limit), and every reader of the samples takes only these (reporting.run_data.read_samples).
    scope = {"subset": subset.describe(), "doc_ids": [data.doc_id(i) for i in selected]} if subset.is_subset else {}
    return {**scored, "scorer": task.scorer, "n_samples": count, "n_documents": len(data), "n_generated": len(pending), "data_source": data.source,
            **scope, "generation": asdict(settings), "samples": str(store.path.relative_to(task_dir.parent)),
            "seconds": round(seconds, 3),
            # what the task measures, as its YAML tagged it then: `csr-bench table --by-aspect` reads it
            **({"aspects": list(task.aspects)} if task.aspects else {})}


def _store_judged(store: KeyedStore) -> None:
    """Rewrite samples.jsonl (atomically, document order) with the judge's per-item decisions that
    scoring merged into its records, so reports and `csr-bench check` bootstrap them from the samples."""
    store.merge(document_order(store))


def discard_evaluation(out_dir: Path) -> None:
    """What --overwrite discards: the iteration's results.json and task folders (those with a
    task_run.json or samples), not the rest of the folder: in a CSR run iter_<k>/ also holds the
    iteration's csr/, trainer/ and the merged model/ that is about to be evaluated."""
    (out_dir / "results.json").unlink(missing_ok=True)
    for child in sorted(out_dir.iterdir()):
        if child.is_dir() and ((child / "task_run.json").exists() or any(child.glob("samples*.jsonl"))):
            shutil.rmtree(child)


# EvalConfig fields that never change results: where the run folder is (a moved run is the same
# run) and how the work is batched (predictions do not depend on it).
NOT_AFFECTING_RESULTS = ("output", "batch_size", "num_workers")


def finished_evaluation(config: EvalConfig) -> dict[str, Any] | None:
    """The results.json of an evaluation that already finished with exactly this config (every
    task scored, none failed or skipped), else None. ``csr-bench run`` returns it instead of
    loading the model again to re-score samples that are all there."""
    if config.overwrite:
        return None
    data_root = config.data_root if config.data_root is not None else resolve_model(config.model).default_data_root
    path = iteration_dir(config) / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    from csr_bench.redaction import redact_config

    wanted = redact_config(json.loads(json.dumps(recorded_config(config, data_root, path.parent.parent))))
    if not isinstance(results, dict) or not isinstance(results.get("config"), dict) or \
            differences(results["config"], wanted, NOT_AFFECTING_RESULTS):  # results.json holds the config redacted
        return None
    tasks = results.get("results") or {}
    try:
        names = [task.name for task in get_tasks(config.tasks, config.include_tasks)]
    except CsrBenchError:
        return None
    names += [LMMS_PREFIX + name for name in split_task_names(config.tasks)[1]]  # lmms-eval's, by the bridge
    for name in names:
        entry = tasks.get(name)
        if not isinstance(entry, dict) or "error" in entry or "skipped" in entry or not entry.get("metrics"):
            return None
    return results


def evaluate(config: EvalConfig, model: VisionLanguageModel | None = None) -> dict[str, Any]:
    """Evaluate ``config.model`` (or an already loaded ``model``) on ``config.tasks``. --device is
    checked and the run folder made and locked (one process per folder) before any work."""
    from csr_bench.models.devices import check_device
    from csr_bench.storage.run_lock import run_lock

    if model is None:
        check_device(config.device, backend=resolve_model(config.model).backend)
    with run_lock(iteration_dir(config).parent):
        return _evaluate_locked(config, model)


def _evaluate_locked(config: EvalConfig, model: VisionLanguageModel | None) -> dict[str, Any]:
    spec = resolve_model(config.model)
    if config.batch_size is None:
        config = replace(config, batch_size=spec.eval_batch_size)
    if config.batch_size < 1:
        raise CsrBenchError(f"--batch-size must be at least 1 (got {config.batch_size})")
    if config.num_workers < 0:
        raise CsrBenchError(f"--num-workers must be 0 or more (got {config.num_workers})")
    if config.limit is not None and config.limit < 1:
        raise CsrBenchError(f"--limit must be at least 1 (got {config.limit})")
    tasks = get_tasks(config.tasks, config.include_tasks)
    bridge = prepare_bridge(config)  # lmms: tasks (evaluation/lmms_bridge.py): interpreter and names checked now
    data_root = config.data_root if config.data_root is not None else spec.default_data_root
    # Load every task's data before the model: a missing file should cost seconds, not a model load.
    task_data = [load_task_data(task, data_root) for task in tasks]
    for data in task_data:
        log.info("%s: %d documents from %s", data.task.name, len(data), data.source)

    out_dir = iteration_dir(config)
    contexts = {}
    for data in task_data:
        context = scoring_context(data, out_dir / data.task.name, config)
        check = getattr(SCORERS[data.task.scorer], "check", None)
        if check is not None:  # e.g. CHAIR's annotations: fail before the model loads, not after generating
            check(context)
        contexts[data.task.name] = context
    # Only now, with every input checked, may --overwrite discard earlier work.
    distributed.init()
    if config.overwrite and out_dir.exists() and distributed.is_main():
        discard_evaluation(out_dir)
        discard_bridged(out_dir)
    distributed.barrier()
    out_dir.mkdir(parents=True, exist_ok=True)

    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    import transformers

    transformers.set_seed(config.seed)
    started = time.perf_counter()
    # lmms-eval's tasks first, in their own process, before this one holds the model in memory
    bridged = run_bridged_tasks(bridge, config, out_dir, data_root) if bridge and distributed.is_main() else {}
    if model is None and task_data:
        log.info("loading model %s", config.model)
        model = spec.loader(spec.name, device=distributed.local_device(config.device), dtype=config.dtype)
    task_results = {data.task.name: evaluate_task(model, data, out_dir / data.task.name, config,
                                                  contexts[data.task.name])
                    for data in task_data}
    task_results.update(bridged)
    error = results = None
    if distributed.is_main():
        results = write_results(out_dir / "results.json",
                                run={"name": out_dir.parent.name, "iteration": config.iteration,
                                     "dir": str(out_dir)},
                                model=run_identity(model, out_dir.parent) if model is not None else
                                {"name": spec.name, "source": run_relative(config.model, out_dir.parent)},
                                config=recorded_config(config, data_root, out_dir.parent),
                                task_results=task_results, seconds=time.perf_counter() - started)
        log.info("results written to %s", out_dir / "results.json")
        failed = {name: entry["error"] for name, entry in task_results.items() if "error" in entry}
        if failed:
            name, message = next(iter(failed.items()))
            error = (f"scoring failed for {', '.join(failed)} ({name}: {message}); samples and the other "
                     f"results are saved in {out_dir}; rerun the same command to retry the scoring")
    error = distributed.gather(error)[0]  # the other processes wait for the main one's scoring
    if error:
        raise CsrBenchError(error)
    return results if results is not None else json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
