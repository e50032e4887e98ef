"""POVID's settings (one Config dataclass, like CSR's): light, so the CLI turns the fields into
``csr-bench run --method povid`` flags. Defaults are the reference's (YiyangZhou/POVID
scripts/run_dpo.sh, scripts/run_povid.sh, llava/train/train_dpo_inherent.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from csr_bench.methods.povid.noise import DEFAULT_NOISE_STEP, NUM_STEPS
from csr_bench.preference_data.sources import source_help
from csr_bench.training.config import DpoLoraConfig

DEFAULT_PREFERENCES = "povid"  # the hub preset: YiyangAiLab/POVID_preference_data_for_VLLMs


@dataclass
class PovidConfig:
    preferences: str = field(default=DEFAULT_PREFERENCES, metadata={
        "help": f"the preference set both stages train on, read as --method dpo reads it: {source_help()} "
                "(povid: the released POVID set)"})
    prompt_images: str | None = field(default=None, metadata={
        "help": "image folder the set's image file names are resolved in (COCO train2014 for the POVID set)"})
    preferences_limit: int | None = field(default=None, metadata={
        "min": 1, "help": "train on this many pairs of the set, drawn with --preferences-seed (none: all)"})
    preferences_seed: int | None = field(default=None, metadata={
        "shown_default": "the run's --seed", "help": "seed of the --preferences-limit draw"})
    noise_step: int = field(default=DEFAULT_NOISE_STEP, metadata={
        "flag": "--povid-noise-step", "min": 0,
        "help": f"diffusion step t of the stage-2 image noise, on the {NUM_STEPS}-step sigmoid schedule"})
    noise_clamp: bool = field(default=False, metadata={
        "flag": "--povid-noise-clamp",
        "help": "clamp the noised image to [0, 1] before it becomes an image again; the reference does not (its "
                "out-of-range pixels wrap around in uint8)"})
    stage1_epochs: float = field(default=3, metadata={
        "flag": "--povid-stage1-epochs", "help": "epochs of stage 1 (plain DPO); --num-epochs is stage 2's"})
    training: DpoLoraConfig = field(default_factory=DpoLoraConfig)  # the reference's: lr 1e-7, r128/a256, beta 0.1
