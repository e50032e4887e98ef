"""CSR's settings (trl style: one Config dataclass per method); light, so the CLI turns the fields
into ``csr-bench run`` flags (field metadata: ``help``, ``flag``, ``choices``, ``min``, ``also``).
Defaults are the reference's (YiyangZhou/CSR); a model's presets (models/registry.py) go on top."""

from __future__ import annotations

from dataclasses import dataclass, field

from csr_bench.training.config import DpoLoraConfig

DEFAULT_LAMBDA = 0.9  # the reference's weight of R_I (docs/csr.md, "Calibration")
CALIBRATIONS = ("reference", "paper")


@dataclass
class SearchConfig:
    """The sentence-level beam search; defaults are the reference's (inference_csr/sample.py)."""

    num_beams: int = field(default=5, metadata={
        "min": 1, "also": ("num_beam_groups",),  # one beam per group, as the reference
        "help": "candidate sentences per step (token-level beams, all returned)"})
    num_beam_groups: int = field(default=5, metadata={"cli": False})
    diversity_penalty: float = field(default=3.0, metadata={"help": "group beam search diversity penalty"})
    sentence_max_new_tokens: int = field(default=70, metadata={"min": 1, "help": "tokens per sentence"})
    max_length: int = field(default=1024, metadata={
        "min": 1, "help": "characters (prompt + response) at which a response ends"})
    max_sentences: int | None = field(default=None, metadata={
        "min": 1, "help": "cap on sentences per response (none, as the reference)"})
    keep_top: int | None = field(default=None, metadata={
        "help": "best unfinished sentences kept per step (none: int(num_beams/2) - 1)"})
    keep_bottom: int | None = field(default=None, metadata={
        "help": "worst unfinished sentences kept per step (none: int(num_beams/2))"})
    length_penalty: float = field(default=1.0, metadata={"cli": False})
    # KV-cache positions per forward pass (beam rows x their longest sequence, the sentence's room
    # included): nodes are batched until this is reached, so memory stays bounded whatever the model;
    # 65536 is about 16 nodes of LLaVA-1.5 (32 GiB of fp16 KV cache for the 7B)
    batch_tokens: int = field(default=65536, metadata={
        "flag": "--search-batch-tokens", "min": 1,
        "help": "KV-cache positions per forward pass of the search (beam rows x sequence length): lower it when "
                "the search runs out of GPU memory"})
    # "crop": the processor's resize + centre crop of the raw image, as the reference's generator; "pad":
    # LLaVA-1.5's pad-to-square, as evaluation and DPO. Square images (the world's) give the same pixels.
    image: str = field(default="crop", metadata={
        "flag": "--search-image", "choices": ("crop", "pad"),
        "help": "the image the generator sees in the search: the processor's centre crop, as the reference, or "
                "LLaVA-1.5's pad to square, as evaluation and DPO"})


@dataclass
class CsrConfig:
    """Everything a CSR iteration needs."""

    prompt_source: str | None = field(default=None, metadata={
        "help": "image folder, or the reference's CSR-Prompt-Dataset JSON (none: the model's prompt images, the "
                "world's training images, bundled images for tiny-llava)"})
    prompt_images: str | None = field(default=None, metadata={
        "help": "image folder of a --prompt-source JSON (e.g. COCO train2014)"})
    prompts: int | None = field(default=None, metadata={"min": 1, "help": "prompts per iteration (none: all)"})
    prompt_seed: int = field(default=0, metadata={"help": "seed of the prompt sample"})
    prompts_per_batch: int = field(default=8, metadata={
        "min": 1, "help": "prompts searched together, and saved together for resume"})
    calibration: str = field(default="reference", metadata={
        "choices": CALIBRATIONS,
        "help": "reward calibration: the reference code's rank-based one, or the paper's equation "
                "lambda R_I + (1 - lambda) R_T"})
    lam: float = field(default=DEFAULT_LAMBDA, metadata={
        "flag": "--lambda", "help": "weight of R_I (0: only R_T, 1: only R_I)"})
    clip_model: str = field(default="ViT-L-14-336-quickgelu", metadata={
        "help": "open_clip model for R_I (LLaVA-1.5's tower; OpenAI weights: QuickGELU)"})
    clip_pretrained: str = field(default="openai", metadata={"help": "open_clip weights name or local file"})
    search: SearchConfig = field(default_factory=SearchConfig)
    training: DpoLoraConfig = field(default_factory=DpoLoraConfig)
