"""One iteration of any alignment method: its preference pairs -> ``iter_<k>/pairs/`` -> DPO + LoRA
-> the next model. Every method shares it, so pairs, resume and training behave the same for all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_json, atomic_write_text
from csr_bench.methods.base import IterationInput, PairSet
from csr_bench.progress import get_logger

log = get_logger()
PAIRS_DIR = "pairs"  # iter_<k>/pairs/: preferences.jsonl + summary.json, whatever the method
PREFERENCES_FILE = "preferences.jsonl"
SUMMARY_FILE = "summary.json"


def write_pairs(folder: Path, method: str, pair_set: PairSet) -> None:
    """The pairs and the method's statistics; the summary first, so a run without pairs says why."""
    summary = {"method": method, "pairs": len(pair_set.pairs), **pair_set.stats}
    if pair_set.pairs:
        atomic_write_text(folder / PREFERENCES_FILE, "".join(json.dumps(p) + "\n" for p in pair_set.pairs))
    atomic_write_json(folder / SUMMARY_FILE, summary)


def run_iteration(method: Any, current: IterationInput) -> Path:
    """The next model (a llava-hf checkpoint folder), resumed: a finished iteration is returned as it is
    once the method has checked that its settings are the finished work's."""
    from csr_bench.training.dpo import completed_model, require_same_training, train_dpo

    work = Path(current.work_dir)
    training = method.config.training
    finished = completed_model(work)
    if finished is not None:  # never relabelled: made with this method's settings and this training
        if hasattr(method, "require_same_settings"):
            method.require_same_settings(current)
        require_same_training(work, current.model_source, training)
        return finished
    pair_set = method.make_pairs(current)
    if distributed.is_main():  # every process made the same pairs; the main one writes them
        write_pairs(work / PAIRS_DIR, method.name, pair_set)
    if not pair_set.pairs:
        raise CsrBenchError(f"{method.name}: no preference pair {pair_set.why_none or '(the method made none)'}; "
                            f"nothing to train on (see {work / PAIRS_DIR / SUMMARY_FILE})")
    log.info("%s: %d preference pairs, training DPO + LoRA", method.name, len(pair_set.pairs))
    return train_dpo(Path(current.model_source), pair_set.pairs, pair_set.images_root, work, training,
                     device=getattr(method, "device", None), label=f"iter {current.iteration} dpo",
                     loss_term=getattr(method, "loss_term", None))
