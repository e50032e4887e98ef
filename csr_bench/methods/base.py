"""What an alignment method is to the harness: it makes preference pairs from the current model;
the shared driver (methods/driver.py) saves them and trains the next model with DPO + LoRA.

A method is a class with ``name``, ``config_class`` (a dataclass whose fields become its
``csr-bench run`` flags, with a ``training: DpoLoraConfig`` field) and ``make_pairs``; the
optional ``loss_term`` adds the method's own term to DPO's loss, the optional ``training_stages``
trains in several stages (POVID's two). docs/methods.md: adding one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol


@dataclass
class IterationInput:
    iteration: int  # the iteration to produce (1 = after the first round of training)
    model_source: str  # what trainers load: a hub id or a llava-hf checkpoint folder
    load_model: Callable[[], Any]  # loads the current model for generation (a VisionLanguageModel)
    work_dir: Path  # <run>/iter_<k>; the next model goes to work_dir/"model"
    # How load_model loads it (dtype, device type): settings a method's generation stage depends on,
    # so they belong in its recorded settings (csr_bench.storage.settings).
    model_settings: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None  # the run's data root (a model's own preference sets live there: world:*)

    @property
    def run_dir(self) -> Path:
        return Path(self.work_dir).parent


@dataclass
class PairSet:
    """A method's preference pairs for one iteration and the statistics reports show beside them.

    Each pair: "image" (a path, relative to ``images_root`` unless absolute), "prompt" (the user
    text, no template), "chosen", "rejected"; any other keys (rewards, scores) are kept.
    """

    pairs: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)  # written to iter_<k>/pairs/summary.json
    images_root: Path | None = None
    why_none: str | None = None  # when there are no pairs: why, e.g. "from 3 prompts (...)" (the run stops with it)


class LossTerm(Protocol):
    """A method's own term, added to DPO's loss on every batch (POVID's noised-image term):
    loss = dpo_weight * trl's DPO loss + term(trainer, model, inputs).

    Optional attributes, read with getattr: ``dpo_weight`` (float, default 1: trl's loss as it is);
    ``image_variant(image, key) -> image`` (each pair's image changed before the pad to square, e.g.
    noised; ``key`` identifies the pair; the batch then holds the variant's pixel values, for the
    chosen rows, under training.dpo_data.VARIANT_PIXELS); ``settings() -> dict`` (what else the
    trained model depends on: recorded in dpo_inputs.json, a rerun with other settings is refused).
    """

    name: str

    def __call__(self, trainer: Any, model: Any, inputs: dict[str, Any]) -> Any:
        """A scalar tensor to add to the batch's (weighted) DPO loss."""
        ...


@dataclass
class TrainingStage:
    """One DPO + LoRA training of an iteration; the driver trains a method's stages in order, each
    from the model the previous one merged (the first from the iteration's start model)."""

    name: str  # a folder name: iter_<k>/stages/<name>/ unless it is the last stage (then iter_<k>/)
    training: Any  # a training.config.DpoLoraConfig
    loss_term: LossTerm | None = None
    pair_set: PairSet | None = None  # its own pairs (None: the iteration's, from make_pairs)


class AlignmentMethod(Protocol):
    name: ClassVar[str]
    config_class: ClassVar[type]
    config: Any  # an instance of config_class

    def __init__(self, config: Any = None, device: str | None = None) -> None: ...

    def make_pairs(self, current: IterationInput) -> PairSet:
        """The pairs to train on. Must resume: called again after a crash (or once the iteration is
        finished), it redoes only what had not finished, and refuses settings other than the
        finished work's. Its own files go to ``method_dir(current, self.name)``."""
        ...

    # Optional: ``require_same_settings(current)`` raises when the iteration's finished work was made
    # with other settings; the driver calls it before returning a finished model.
    # Optional: ``training_stages(pair_set) -> list[TrainingStage]`` trains in several stages instead
    # of once with ``config.training`` and ``loss_term``. The driver calls it with the iteration's
    # PairSet, or with None when the iteration is finished (to check the last stage's settings: only
    # the stages' names and training settings are read then).


def mean_words(pairs: list[dict[str, Any]]) -> dict[str, float | None]:
    """The pairs' mean chosen and rejected lengths in whitespace words, for a PairSet's stats (the
    iteration table's "chosen words" / "rejected words": which way a method's choice leans)."""
    def mean(side: str) -> float | None:
        return sum(len(p[side].split()) for p in pairs) / len(pairs) if pairs else None

    return {"mean_chosen_words": mean("chosen"), "mean_rejected_words": mean("rejected")}


def method_dir(current: IterationInput, name: str) -> Path:
    """``<run>/iter_<k>/<method>``: a method's own working files (CSR's candidate trees)."""
    return Path(current.work_dir) / name
