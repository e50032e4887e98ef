"""``--method dpo``'s settings (one Config dataclass, like CSR's): light, so the CLI turns the fields
into ``csr-bench run --method dpo`` flags. Training defaults are the reference's (DpoLoraConfig:
YiyangZhou/CSR's DPO + LoRA hyper-parameters); a model's presets go on top."""

from __future__ import annotations

from dataclasses import dataclass, field

from csr_bench.preference_data.sources import source_help
from csr_bench.training.config import DpoLoraConfig


@dataclass
class DpoConfig:
    preferences: str | None = field(default=None, metadata={
        "help": f"the preference set to train on: {source_help()} (schema detected: RLHF-V, RLAIF-V, VLFeedback, "
                "POVID, or csr-bench's own iter_<k>/pairs/)"})
    prompt_images: str | None = field(default=None, metadata={
        "help": "image folder the set's image file names are resolved in (COCO train2014 for POVID; the extracted "
                "merged_images/ for VLFeedback; the images of a csr-bench preferences.jsonl)"})
    preferences_limit: int | None = field(default=None, metadata={
        "min": 1, "help": "train on this many pairs of the set, drawn with --preferences-seed (none: all; --limit "
                          "is the number of documents evaluated)"})
    preferences_seed: int | None = field(default=None, metadata={
        "shown_default": "the run's --seed", "help": "seed of the --preferences-limit draw"})
    training: DpoLoraConfig = field(default_factory=DpoLoraConfig)
