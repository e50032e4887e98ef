"""The main job, ``csr-bench run``: evaluate the starting model (iteration 0), then for each
iteration let the alignment method (``--method``, CSR by default) make preference pairs, train the
next model on them (methods/driver.py) and evaluate it. Every stage resumes: rerunning the same
command after a crash skips what finished.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from csr_bench import distributed
from csr_bench.methods.base import IterationInput
from csr_bench.methods.driver import PAIRS_DIR, run_iteration
from csr_bench.methods.registry import DEFAULT_METHOD, default_config, make_method
from csr_bench.errors import CsrBenchError
from csr_bench.evaluation import EvalConfig, evaluate
from csr_bench.evaluation.evaluator import finished_evaluation, iteration_dir
from csr_bench.storage.files import atomic_write_json
from csr_bench.models.registry import DEFAULT_MODEL, MODELS, resolve_model
from csr_bench.progress import get_logger
from csr_bench.redaction import redact_config

log = get_logger()
# Tasks a run evaluates after every iteration unless --tasks says otherwise.
DEFAULT_RUN_TASKS = ["pope"]


@dataclass
class RunConfig(EvalConfig):
    """An evaluation config plus the iterations; the model defaults to the embedded one."""

    model: str = DEFAULT_MODEL
    tasks: list[str] | None = None  # None: the model's default tasks (the world: registry.WORLD_TASKS)
    iterations: int | None = None  # None: the method's default_iterations (CSR: the paper's three)
    method: str = DEFAULT_METHOD
    method_config: object | None = None  # e.g. a CsrConfig; None: the method's defaults with the model's presets

    def __post_init__(self) -> None:
        if self.iterations is None:
            from csr_bench.methods.registry import default_iterations

            self.iterations = default_iterations(self.method)
        if self.run_name is None and self.iterations and self.method != DEFAULT_METHOD:
            # results/world-dpo beside results/world (CSR's): runs of two methods never share a folder
            from csr_bench.models.registry import run_name_for

            self.run_name = f"{run_name_for(resolve_model(self.model).name)}-{self.method}"
        if self.tasks is None:
            spec = resolve_model(self.model)
            self.tasks = list(spec.default_tasks or DEFAULT_RUN_TASKS)

    def eval_config(self, iteration: int, model: str | None = None, data_root: str | None = None,
                    run_name: str | None = None) -> EvalConfig:
        shared = {f.name: getattr(self, f.name) for f in fields(EvalConfig)}
        overrides = {"iteration": iteration, "model": model or self.model, "data_root": data_root or self.data_root,
                     "run_name": run_name or self.run_name}
        return EvalConfig(**{**shared, **overrides})


def _initial_checkpoint(config: RunConfig, run_dir: Path) -> str:
    """What the first training loads: the model's own checkpoint folder (``ModelSpec.training_checkpoint``:
    the hub snapshot, the embedded model saved to disk) or the folder given as --model."""
    spec = resolve_model(config.model)
    if spec.training_checkpoint is not None:
        return spec.training_checkpoint(run_dir)
    path = Path(config.model).expanduser()
    return str(path.resolve()) if path.is_dir() else config.model


def method_config_for(method: str, model: str, seed: int | None = None):
    """The config ``method`` runs with on ``model`` when no flag says otherwise: the method's
    defaults with the model's presets for it on top (``ModelSpec.method_presets``); DPO's seed is
    the run's ``seed`` (--seed), as csr-bench has always trained, where one is given."""
    config = default_config(method, resolve_model(model).method_presets)
    if seed is not None and hasattr(getattr(config, "training", None), "seed"):
        config = replace(config, training=replace(config.training, seed=seed))
    return config


def _method(config: RunConfig):
    from csr_bench.models.registry import named_prompt_source

    spec = resolve_model(config.model)
    method_config = config.method_config or method_config_for(config.method, config.model, config.seed)
    # a method that draws prompts from images gets the model's own prompt images unless told otherwise
    if getattr(method_config, "prompt_source", "") is None and spec.default_prompt_source:
        method_config = replace(method_config, prompt_source=named_prompt_source(spec.default_prompt_source))
    return make_method(config.method, method_config, device=config.device)


def _model_settings(config: RunConfig) -> dict:
    """How generation loads the model (device type, dtype): part of a method's generation settings."""
    from csr_bench.models.llava import pick_device, pick_dtype

    device = pick_device(config.device).split(":")[0]
    return {"device": device, "dtype": str(pick_dtype(config.dtype, device)).removeprefix("torch.")}


def discard_run(run_dir: Path) -> None:
    """What ``run --overwrite`` discards: everything the run folder holds (every iteration's
    evaluation, pairs, checkpoints and models, run.json, the reports), except the folder's lock."""
    if not run_dir.is_dir():
        return
    log.info("--overwrite: discarding the earlier work in %s", run_dir)
    for child in sorted(run_dir.iterdir()):
        if child.name == ".lock":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def record_origin(model_dir: Path, config: RunConfig, run_name: str, iteration: int, data_root: str | None) -> None:
    """Write what a method's checkpoint came from into it (models.registry.ORIGIN_FILE), so that
    ``eval --model RUN/iter_k/model`` finds the data root and the model's defaults by itself and is
    named after the run and the iteration."""
    from csr_bench.models.registry import ORIGIN_FILE

    base = config.model if config.model in MODELS else str(Path(config.model).expanduser().resolve())
    atomic_write_json(model_dir / ORIGIN_FILE, {"run": run_name, "iteration": iteration, "method": config.method,
                                                "base_model": base, "data_root": data_root})


def _evaluate(config: EvalConfig) -> dict:
    """Evaluate, unless a rerun finds this evaluation finished (results.json of the same config,
    every task scored): then its results, without loading the model again."""
    finished = finished_evaluation(config)
    if distributed.gather(finished is not None)[0]:  # the main one decides
        path = iteration_dir(config) / "results.json"
        log.info("iteration %d: evaluation already finished in %s, not redone", config.iteration, path)
        return finished if finished is not None else json.loads(path.read_text(encoding="utf-8"))
    return evaluate(config)


def run(config: RunConfig) -> dict:
    """The whole run (every iteration's stages and evaluation, the reports) holding the run folder's
    lock; --device is checked first, for DPO's devices too when there are iterations."""
    from csr_bench.models.devices import check_device
    from csr_bench.storage.run_lock import run_lock

    check_device(config.device, training=config.iterations > 0,
                 backend=resolve_model(config.model).backend)
    with run_lock(iteration_dir(config).parent):
        return _run(config)


def _run(config: RunConfig) -> dict:
    if config.iterations < 0:
        raise CsrBenchError(f"--iterations must be 0 or more (got {config.iterations})")
    spec = resolve_model(config.model)
    if config.iterations and spec.backend != "transformers":
        raise CsrBenchError(f"--model {config.model}: the {spec.backend} backend only generates; an alignment "
                            "method's generation and training need the transformers model (a registered name or checkpoint folder without "
                            "'vllm:'), or pass --iterations 0 to evaluate only")
    data_root = config.data_root if config.data_root is not None else spec.default_data_root
    first = config.eval_config(0, data_root=data_root)
    run_dir = iteration_dir(first).parent
    run_name = run_dir.name
    method = _method(config) if config.iterations else None  # bad method options fail before any work
    from csr_bench.evaluation.lmms_bridge import prepare_bridge

    prepare_bridge(config)  # lmms: tasks: their interpreter and names, before iteration 0 (perhaps finished) or any training
    if config.overwrite:  # every stage redone: discard the run's earlier work once, here, not per evaluation
        distributed.init()
        if distributed.is_main():
            discard_run(run_dir)
        distributed.barrier()
        config = replace(config, overwrite=False)
        first = config.eval_config(0, data_root=data_root)
    model_settings = _model_settings(config) if config.iterations else {}
    iterations = [_evaluate(first)]
    train_source = _initial_checkpoint(config, run_dir) if config.iterations else config.model
    model_name = config.model  # what generation loads (a registered name or a checkpoint folder)
    for k in range(1, config.iterations + 1):
        log.info("iteration %d of %d: %s from %s", k, config.iterations, config.method, train_source)

        def load_model(name=model_name):
            spec = resolve_model(name)
            return spec.loader(spec.name, device=config.device, dtype=config.dtype)

        model_dir = run_iteration(method, IterationInput(iteration=k, model_source=train_source,
                                                        load_model=load_model, work_dir=run_dir / f"iter_{k}",
                                                        model_settings=model_settings, data_root=data_root))
        if distributed.is_main():
            record_origin(Path(model_dir), config, run_name, k, data_root)
        iterations.append(_evaluate(config.eval_config(k, model=str(model_dir), data_root=data_root,
                                                       run_name=run_name)))
        train_source = model_name = str(model_dir)
    if not distributed.is_main():  # the main process writes the run's manifest and reports
        return {"run_dir": str(run_dir), "iterations": iterations}
    atomic_write_json(run_dir / "run.json", {
        "config": redact_config({**asdict(config),
                                 "method_config": asdict(method.config) if method is not None else None}),
        "iterations": [{"iteration": k, "results": f"iter_{k}/results.json",
                        **({"model": f"iter_{k}/model", "pairs": f"iter_{k}/{PAIRS_DIR}",
                            "method": f"iter_{k}/{config.method}"} if k else {})}
                       for k in range(config.iterations + 1)],
    })
    from csr_bench.evaluation.document_images import run_images
    from csr_bench.reporting.run_outputs import write_run_outputs

    # each training's log (what trl and transformers would print: training.dpo.TRAIN_LOG), for the run's last lines
    training_logs = [str(path) for k in range(1, config.iterations + 1)
                     if (path := run_dir / f"iter_{k}" / "train.log").is_file()]
    return {"run_dir": str(run_dir), "iterations": iterations, "training_logs": training_logs,
            **write_run_outputs(run_dir, images=run_images(run_dir))}
