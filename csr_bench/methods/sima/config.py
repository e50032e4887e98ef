"""SIMA's settings (one Config dataclass, like CSR's): light, so the CLI turns the fields into
``csr-bench run --method sima`` flags. Defaults are the reference's (umd-huang-lab/SIMA @ ba9e7ed:
llava/sima/generate_samples.py, model_self_rewarding.py, scripts/run_dpo.sh, tool/dpo_trainer.py);
a model's presets (models/registry.py WORLD_SIMA_PRESETS) go on top."""

from __future__ import annotations

from dataclasses import dataclass, field

from csr_bench.training.config import DpoLoraConfig

HUB_PROMPTS = "furonghuang-lab/SIMA_prompts"  # the reference's prompt set (README), COCO train2017 images
VERDICT_MODES = ("generate", "likelihood")
REJECTED_MODES = ("code", "paper")


def sima_training() -> DpoLoraConfig:
    """The reference's DPO (scripts/run_dpo.sh): LoRA r128/a256, lr 1e-7, cosine, warmup 0.03, batch 1,
    beta 0.1 (the trainer's default), 3 epochs."""
    return DpoLoraConfig(num_epochs=3)


@dataclass
class SimaConfig:
    prompts: str = field(default=HUB_PROMPTS, metadata={
        "flag": "--sima-prompts",
        "help": f"prompts with ground-truth answers: the hub set {HUB_PROMPTS} (self_generation_prompts.jsonl), a "
                "local .jsonl/.json in its schema {image, text, ground_truth} (images in --prompt-images), or a "
                "model's own set <model>:<set> (world:captions)"})
    prompt_images: str | None = field(default=None, metadata={
        "help": "image folder the prompt set's image file names are resolved in (COCO train2017 for the hub set)"})
    prompts_limit: int | None = field(default=None, metadata={
        "flag": "--sima-prompts-limit", "min": 1,
        "help": "prompts per iteration, drawn with --sima-prompts-seed as CSR's prompt set draws its images (none: "
                "all)"})
    prompts_seed: int = field(default=0, metadata={
        "flag": "--sima-prompts-seed", "help": "seed of the prompt draw (CSR's --prompt-seed draws the same images)"})
    max_new_tokens: int = field(default=1024, metadata={
        "flag": "--sima-max-new-tokens", "min": 1, "help": "tokens per self-generated response (greedy and sampled)"})
    temperature: float = field(default=0.8, metadata={
        "flag": "--sima-temperature", "help": "temperature of the sampled response"})
    top_p: float = field(default=0.9, metadata={"flag": "--sima-top-p", "help": "top-p of the sampled response"})
    critic_max_new_tokens: int = field(default=4096, metadata={
        "flag": "--sima-critic-max-new-tokens", "min": 1,
        "help": "tokens of the critic's judgement (capped to what the context leaves)"})
    verdict: str = field(default="generate", metadata={
        "flag": "--sima-verdict", "choices": VERDICT_MODES,
        "help": "how the critic decides: generate = the reference (write a judgement, parse [[1]]/[[2]]); "
                "likelihood = ours, the more likely of the two verdict lines after the critic prompt"})
    rejected: str = field(default="code", metadata={
        "flag": "--sima-rejected", "choices": REJECTED_MODES,
        "help": "the rejected log-prob in DPO: code = the reference trainer's (per position the top-1 token, or the "
                "top-2 where top-1 is the rejected token); paper = the rejected response's own tokens (plain DPO)"})
    # the reference judges and trains on them too: with --sima-rejected code such a pair still has a gradient
    # (its rejected log-prob is the top-1/top-2 tokens', not the response's own)
    drop_identical: bool = field(default=False, metadata={
        "flag": "--sima-drop-identical",
        "help": "drop prompts whose greedy and sampled responses are the same text before the critic (ours; the "
                "reference judges and trains on them)"})
    context: int | None = field(default=None, metadata={
        "flag": "--sima-context", "min": 1,
        "help": "tokens the critic prompt, its image and the verdict must fit in (none: the model's own context)"})
    batch_size: int = field(default=8, metadata={
        "flag": "--sima-batch-size", "min": 1,
        "help": "prompts generated or judged together, and saved together for resume (never changes results)"})
    training: DpoLoraConfig = field(default_factory=sima_training)
