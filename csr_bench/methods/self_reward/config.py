"""Self-rewarding's settings (one Config dataclass, like CSR's): light, so the CLI turns the fields
into ``csr-bench run --method self-reward`` flags. Defaults from Yuan et al. (2024, arXiv
2401.10020), experimental setup: N = 4 candidates sampled at T = 0.7, p = 0.9, each scored three
times by the model's LLM-as-a-Judge and the scores averaged; the rest is ours, said beside each
field. A model's presets (models/registry.py) go on top."""

from __future__ import annotations

from dataclasses import dataclass, field

from csr_bench.training.config import DpoLoraConfig

JUDGES = ("generate", "likelihood")


@dataclass
class SelfRewardConfig:
    # CSR's prompt set (methods/prompts.py): the same images and questions CSR trains on, so the
    # baseline and CSR learn from the same prompts (the CSR paper compares them on its own data)
    prompt_source: str | None = field(default=None, metadata={
        "help": "image folder, or the reference's CSR-Prompt-Dataset JSON, as CSR's (none: the model's prompt images)"})
    prompt_images: str | None = field(default=None, metadata={
        "help": "image folder of a --prompt-source JSON (e.g. COCO train2014)"})
    prompts: int | None = field(default=None, metadata={"min": 1, "help": "prompts per iteration (none: all)"})
    prompt_seed: int = field(default=0, metadata={"help": "seed of the prompt sample (CSR's)"})
    candidates: int = field(default=4, metadata={
        "min": 2, "help": "responses sampled per prompt (Yuan et al.: N = 4)"})
    temperature: float = field(default=0.7, metadata={
        "flag": "--candidate-temperature", "help": "sampling temperature of the candidates (Yuan et al.: 0.7)"})
    top_p: float = field(default=0.9, metadata={
        "flag": "--candidate-top-p", "help": "nucleus sampling of the candidates (Yuan et al.: 0.9)"})
    # ours: Yuan et al. give no length; 512 is what CHAIR's description task generates (tasks/chair/chair.yaml)
    max_new_tokens: int = field(default=512, metadata={
        "flag": "--candidate-max-new-tokens", "min": 1, "help": "tokens per candidate response"})
    judge: str = field(default="generate", metadata={
        "flag": "--self-reward-judge", "choices": JUDGES,
        "help": "generate: the model writes its judgement and its 'Score: n' is parsed (Yuan et al.); likelihood: "
                "the expected score under the model's probabilities of 'Score: 0'..'Score: 5' (ours, for a model that "
                "cannot write a judgement)"})
    judge_samples: int = field(default=3, metadata={
        "min": 1, "help": "judgements sampled per candidate and averaged (Yuan et al.: 3; generate judge only)"})
    # ours: the paper samples the judge (three different judgements to average) without giving its
    # temperature; we use the candidates' T = 0.7, top-p 0.9
    judge_temperature: float = field(default=0.7, metadata={"help": "sampling temperature of the judge"})
    judge_top_p: float = field(default=0.9, metadata={"help": "nucleus sampling of the judge"})
    # ours: "briefly justify ... up to 100 words" and the score fit in 256 tokens
    judge_max_new_tokens: int = field(default=256, metadata={"min": 1, "help": "tokens per judgement"})
    batch_size: int = field(default=8, metadata={
        "flag": "--self-reward-batch-size", "min": 1,
        "help": "prompts done together and saved together for resume; a model call holds at most this many requests "
                "(never changes a result: each response is seeded by itself)"})
    training: DpoLoraConfig = field(default_factory=DpoLoraConfig)
