"""DPO + LoRA hyper-parameters, shared by every alignment method; light (no torch) so the CLI can
turn its fields into flags. Defaults are the CSR reference's (``scripts/run_train.sh``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MERGE_DTYPES = ("float32", "float16", "bfloat16")
DPO_PROMPTS = ("clean", "reference")  # training/dpo_data.py: the evaluation prompt, or the reference's doubled one


@dataclass
class DpoLoraConfig:
    """Field metadata gives each field's ``csr-bench run`` flag (``flag``, ``choices``, ``min``, ``help``)."""

    beta: float = field(default=0.1, metadata={"help": "DPO beta"})
    loss_type: str = field(default="sigmoid", metadata={
        "help": "trl DPO loss, or several combined with equal weights ('sigmoid,sft' adds the NLL of the chosen "
                "responses, RPO)"})
    learning_rate: float = field(default=1e-7, metadata={"help": "DPO learning rate"})
    num_epochs: float = field(default=1, metadata={"help": "DPO epochs"})
    batch_size: int = field(default=1, metadata={"flag": "--dpo-batch-size", "min": 1,
                                                 "help": "DPO batch size per device"})
    gradient_accumulation_steps: int = field(default=1, metadata={
        "min": 1, "help": "DPO gradient accumulation; effective batch = batch x N x processes (the reference's was "
                          "its GPU count, 4 in step1.sh)"})
    lr_scheduler: str = field(default="cosine", metadata={"help": "transformers learning-rate schedule"})
    warmup_ratio: float = field(default=0.03, metadata={"help": "share of the steps spent warming up, in [0, 1)"})
    weight_decay: float = field(default=0.0, metadata={"help": "DPO weight decay"})
    lora_r: int = field(default=128, metadata={"min": 1, "help": "LoRA rank"})
    lora_alpha: int = field(default=256, metadata={"min": 1, "help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_targets: list[str] | None = field(default=None, metadata={
        "help": "comma-separated module names for LoRA (none: every linear layer of the language model)"})
    # csr-bench run sets it to the run's --seed unless --dpo-seed is given (42: train_dpo called on its own)
    seed: int = field(default=42, metadata={"flag": "--dpo-seed", "shown_default": "the run's --seed",
                                            "help": "DPO training seed"})
    gradient_checkpointing: bool = field(default=True, metadata={"help": "recompute activations to save memory"})
    max_length: int | None = field(default=None, metadata={
        "flag": "--dpo-max-length", "min": 1, "help": "tokens per DPO sequence, prompt + completion (none: no "
                                                      "truncation)"})
    disable_dropout: bool = field(default=True, metadata={
        "help": "trl's disable_dropout: every dropout off during DPO, the LoRA dropout included"})
    save_steps: int = field(default=100, metadata={
        "min": 1, "help": "DPO checkpoint interval in optimizer steps, for resume after a crash"})
    merge_dtype: str = field(default="float32", metadata={
        "choices": MERGE_DTYPES, "help": "dtype of the saved merged model (float32 keeps the whole LoRA update; the "
                                         "merge itself is always fp32; model/merge_check.json says what each keeps)"})
    dpo_prompt: str = field(default="clean", metadata={
        "choices": DPO_PROMPTS, "help": "DPO prompt: clean = the evaluation prompt; reference = the reference's, "
                                        "system message twice and 'ASSISTANT: ASSISTANT:'"})
    logging_steps: int = field(default=10, metadata={"min": 1, "help": "optimizer steps between train.log lines"})
    dataloader_num_workers: int = field(default=0, metadata={"cli": False})
    extra_args: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})  # passed to trl's DPOConfig as is
