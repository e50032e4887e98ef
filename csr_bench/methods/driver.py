"""One iteration of any alignment method: its preference pairs -> ``iter_<k>/pairs/`` -> DPO + LoRA
-> the next model. Every method shares it, so pairs, resume and training behave the same for all.
A method with ``training_stages`` trains several times in a row (POVID): every stage but the last in
``iter_<k>/stages/<name>/``, the last in ``iter_<k>/``, so ``iter_<k>/model`` is the iteration's model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_json, atomic_write_text
from csr_bench.methods.base import IterationInput, PairSet, TrainingStage
from csr_bench.progress import get_logger

log = get_logger()
PAIRS_DIR = "pairs"  # iter_<k>/pairs/: preferences.jsonl + summary.json, whatever the method
PREFERENCES_FILE = "preferences.jsonl"
SUMMARY_FILE = "summary.json"


def write_pairs(folder: Path, method: str, pair_set: PairSet) -> None:
    """The pairs and the method's statistics; the summary first, so a run without pairs says why."""
    summary = {"method": method, "pairs": len(pair_set.pairs), **pair_set.stats}
    if pair_set.images_root is not None:  # where the pairs' relative image paths are (reports read it)
        summary["images_root"] = str(pair_set.images_root)
    if pair_set.pairs:
        atomic_write_text(folder / PREFERENCES_FILE, "".join(json.dumps(p) + "\n" for p in pair_set.pairs))
    atomic_write_json(folder / SUMMARY_FILE, summary)


def run_iteration(method: Any, current: IterationInput) -> Path:
    """The next model (a llava-hf checkpoint folder), resumed: a finished iteration is returned as it is
    once the method has checked that its settings are the finished work's. A method without
    ``training_stages`` trains once, in iter_<k>/ (its stage is named "dpo")."""
    from csr_bench.training.dpo import completed_model, require_same_training, train_dpo

    work = Path(current.work_dir)
    require_same_method(method, work)
    finished = completed_model(work)
    if finished is not None:  # never relabelled: made with this method's settings and this training
        if hasattr(method, "require_same_settings"):
            method.require_same_settings(current)
        stages = training_stages(method, None)
        last = len(stages) - 1
        require_same_training(work, stage_start(current, stages, last), stages[last].training)
        return finished
    pair_set = method.make_pairs(current)
    if distributed.is_main():  # every process made the same pairs; the main one writes them
        write_pairs(work / PAIRS_DIR, method.name, pair_set)
    if not pair_set.pairs:
        raise CsrBenchError(f"{method.name}: no preference pair {pair_set.why_none or '(the method made none)'}; "
                            f"nothing to train on (see {work / PAIRS_DIR / SUMMARY_FILE})")
    stages = training_stages(method, pair_set)
    model = Path(current.model_source)
    for index, stage in enumerate(stages):
        output = stage_output(work, stages, index)
        pairs = stage.pair_set if stage.pair_set is not None else pair_set
        if not pairs.pairs:
            raise CsrBenchError(f"{method.name}: training stage {stage.name} has no preference pair")
        require_same_training(output, model, stage.training)  # a finished stage is kept only under its settings
        log.info("%s: %s%d preference pairs, training DPO + LoRA", method.name,
                 f"stage {index + 1}/{len(stages)} ({stage.name}): " if len(stages) > 1 else "", len(pairs.pairs))
        model = train_dpo(model, pairs.pairs, pairs.images_root, output, stage.training,
                          device=getattr(method, "device", None),
                          label=f"iter {current.iteration} {stage.name}", loss_term=stage.loss_term)
    return model


def require_same_method(method: Any, work: Path) -> None:
    """Refuse an iteration folder another method began (its pairs/summary.json names it): its pairs
    and model must never be taken for this method's (a run folder reused with --run-name)."""
    try:
        recorded = json.loads((work / PAIRS_DIR / SUMMARY_FILE).read_text(encoding="utf-8")).get("method")
    except (OSError, ValueError, AttributeError):
        return
    if recorded and recorded != method.name:
        raise CsrBenchError(f"{work} holds an iteration of --method {recorded}, not {method.name}: give this run "
                            "another --run-name, or pass --overwrite to discard that run's work")


def stage_output(work: Path, stages: list[TrainingStage], index: int) -> Path:
    """Where stage ``index`` trains: iter_<k>/stages/<name>/, the last stage iter_<k>/ itself."""
    from csr_bench.training.dpo import STAGES_DIR  # the trainer reads the layout back (run_folder)

    return Path(work) if index == len(stages) - 1 else Path(work) / STAGES_DIR / stages[index].name


def stage_start(current: IterationInput, stages: list[TrainingStage], index: int) -> Path:
    """The model stage ``index`` starts from: the iteration's start model, or the previous stage's."""
    if index == 0:
        return Path(current.model_source)
    from csr_bench.training.dpo import MODEL_DIR

    return stage_output(Path(current.work_dir), stages, index - 1) / MODEL_DIR


def training_stages(method: Any, pair_set: PairSet | None) -> list[TrainingStage]:
    """The method's stages (``training_stages``, checked: plain, unique folder names), or its one
    training: ``config.training`` with its ``loss_term``, if any."""
    if not hasattr(method, "training_stages"):
        return [TrainingStage("dpo", method.config.training, getattr(method, "loss_term", None))]
    stages = list(method.training_stages(pair_set))
    names = [getattr(stage, "name", None) for stage in stages]
    if not stages:
        raise CsrBenchError(f"{method.name}: training_stages gave no stage")
    for name in names:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name) or name.startswith("iter_"):
            raise CsrBenchError(f"{method.name}: training stage name {name!r} is not a plain folder name (not "
                                "iter_*: an iteration's)")
    if len(set(names)) != len(names):
        raise CsrBenchError(f"{method.name}: training stage names {names} repeat")
    return stages
