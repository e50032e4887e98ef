"""DPO with LoRA on CSR preference pairs, through trl's ``DPOTrainer`` (unmodified) and peft.

What runs, and how it matches the reference (YiyangZhou/CSR ``train_dpo_lora.py`` + ``run_train.sh``):

* Model: a llava-hf format checkpoint (``LlavaForConditionalGeneration`` + its processor, PIL image
  backend, safetensors weights only). fp32 on the CPU; on a GPU bf16 weights with bf16 mixed precision
  (the reference's ``--bf16 True``), fp32 where the GPU has no bf16.
* LoRA r 128, alpha 256, dropout 0.05 on every ``nn.Linear`` of the *language model* only: the names are
  resolved from the loaded model (full module paths, so the vision tower's ``q_proj``/``fc1`` and the
  projector are never matched), never the ``lm_head``.
* DPO: beta 0.1, sigmoid loss on summed completion log-probs, lr 1e-7, cosine, warmup 3 %, 1 epoch,
  batch 1. The reference model is the same network with the adapter switched off: we hand trl the bare
  model plus a ``LoraConfig``; trl wraps it with ``get_peft_model``, keeps ``ref_model=None`` and computes
  the reference log-probs under ``model.disable_adapter()``. (Handing trl an already wrapped PeftModel
  would instead make it copy the adapter into a second "ref" adapter.)
* Data (dpo_data.py): LLaVA-1.5's vicuna_v1 prompt with the system message once (the reference
  repeats it), completions ``" " + answer + "</s>"``, images padded square as evaluation does.
* trl's ``disable_dropout`` (default True, as in the old trl the reference patched) switches every dropout
  off, the LoRA dropout included; set ``DpoLoraConfig.disable_dropout=False`` to train with it.

Outputs under ``output_dir``: ``trainer/`` (trl/transformers checkpoints, logs, final adapter) and
``model/`` (the adapter merged into the weights, saved with ``save_pretrained(safe_serialization=True)``
together with the processor). The merged model is written into ``model.partial/``, its marker
``csr_dpo.json`` last, and the folder then renamed to ``model/``: a ``model/`` with its marker is
finished (a second call returns it at once), and a crash mid-save leaves only ``model.partial/``,
which the next call discards.

Resume: checkpoints are saved every ``save_steps`` optimizer steps (and at the end), only the last one
kept. A call that finds ``trainer/checkpoint-*`` resumes from the newest *complete* one with
transformers' ``resume_from_checkpoint`` (adapter, optimizer, scheduler, RNG and data position).
transformers writes a checkpoint in place, file after file, ``trainer_state.json`` last, so a
checkpoint whose trainer_state.json is missing or unreadable (a crash mid-save) is removed, never
resumed from. On the CPU a resumed training ends with the same weights, bit for bit, as an
uninterrupted one, LoRA dropout on or off (tests/test_fault_injection.py). ``dpo_inputs.json``
records the inputs a run started with; a different model, preference set or config in the same
``output_dir`` is refused instead of mixing two trainings.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.faults import active as faults_active, fault_point
from csr_bench.io import atomic_write_json, partial_dir, replace_dir
from csr_bench.csr.dpo_data import (PaddedImageCollator, build_preference_dataset, load_preferences,
                                    render_example, vicuna_v1_chat_template)
from csr_bench.models.llava import load_llava_checkpoint
from csr_bench.redaction import redact_config

DONE_MARKER = "csr_dpo.json"
INPUTS_FILE = "dpo_inputs.json"
TRAINER_DIR = "trainer"
MODEL_DIR = "model"


@dataclass
class DpoLoraConfig:
    """DPO + LoRA hyper-parameters; the defaults are the reference's (``scripts/run_train.sh``)."""

    beta: float = 0.1
    loss_type: str = "sigmoid"  # trl's loss name; "sigmoid,sft" adds the chosen responses' NLL (RPO), equal weights
    learning_rate: float = 1e-7
    num_epochs: float = 1
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lora_r: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    # None: every nn.Linear of the language model (resolved from the model). Otherwise peft target names.
    lora_targets: list[str] | None = None
    seed: int = 42
    gradient_checkpointing: bool = True
    max_length: int | None = None  # tokens per sequence (prompt + completion); None: no truncation
    disable_dropout: bool = True  # trl's default: also switches the LoRA dropout off
    save_steps: int = 100  # checkpoint interval (optimizer steps) for resume
    logging_steps: int = 10
    dataloader_num_workers: int = 0
    extra_args: dict[str, Any] = field(default_factory=dict)  # passed to trl's DPOConfig as is


def language_model_linear_names(model) -> list[str]:
    """Full names of every ``nn.Linear`` inside the language model (not vision tower, projector, lm_head)."""
    import torch

    language_model = None
    inner = getattr(model, "model", None)
    for owner in (inner, model):
        if owner is not None and isinstance(getattr(owner, "language_model", None), torch.nn.Module):
            language_model = owner.language_model
            break
    if language_model is None:
        language_model = model.get_decoder()
    inside = {id(module) for module in language_model.modules()}
    names = [name for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and id(module) in inside]
    if not names:
        raise CsrBenchError(f"{type(model).__name__}: no linear layers found in its language model")
    return names


# -- bookkeeping -------------------------------------------------------------------------------

def _fingerprint(model_dir: Path, records: list[dict], images_root: Path | None, config: DpoLoraConfig) -> dict:
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    return {"model_dir": str(Path(model_dir).resolve()),
            "images_root": str(Path(images_root).resolve()) if images_root else None,
            "preferences_sha256": digest.hexdigest(), "num_preferences": len(records),
            "config": redact_config(asdict(config))}  # e.g. a hub_token among extra_args


def completed_model(output_dir: Path) -> Path | None:
    """``output_dir/model`` when it holds a finished merged model (its marker file exists), else None."""
    model = Path(output_dir) / MODEL_DIR
    return model if (model / DONE_MARKER).is_file() else None


def checkpoint_is_complete(folder: Path) -> bool:
    """Whether transformers finished writing the checkpoint ``folder`` (``checkpoint-<step>``).

    transformers saves a checkpoint in place, one file after the other (weights, optimizer,
    scheduler, RNG state) and ``trainer_state.json`` last, none of them atomically. So a
    checkpoint is complete when its trainer_state.json reads back whole, for the step in its name,
    and its weights are there (a checkpoint that transformers was rotating away may have lost them)."""
    folder = Path(folder)
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(state, dict) or f"checkpoint-{state.get('global_step')}" != folder.name:
        return False
    weights = ("adapter_model.safetensors", "adapter_model.bin", "model*.safetensors", "pytorch_model*.bin")
    return any(any(folder.glob(pattern)) for pattern in weights)


def _checkpoints(trainer_dir: Path) -> list[Path]:
    """trainer_dir/checkpoint-<step> folders, oldest first."""
    if not trainer_dir.is_dir():
        return []
    found = [path for path in trainer_dir.iterdir() if path.is_dir() and path.name.startswith("checkpoint-")
             and path.name.removeprefix("checkpoint-").isdigit()]
    return sorted(found, key=lambda path: int(path.name.removeprefix("checkpoint-")))


def discard_incomplete_checkpoints(trainer_dir: Path) -> list[Path]:
    """Remove the checkpoints a crash left half written (see ``checkpoint_is_complete``); returns them."""
    from csr_bench.progress import get_logger

    removed = [path for path in _checkpoints(trainer_dir) if not checkpoint_is_complete(path)]
    for path in removed:
        get_logger().warning("DPO: %s was not written to the end (a crash while saving it); removing it", path)
        shutil.rmtree(path)
    return removed


def _last_checkpoint(trainer_dir: Path) -> Path | None:
    complete = [path for path in _checkpoints(trainer_dir) if checkpoint_is_complete(path)]
    return complete[-1] if complete else None


def _training_precision(device: str):
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16, True
    return torch.float32, False


# -- training ----------------------------------------------------------------------------------

def train_dpo(model_dir: Path, preferences: list[dict] | Path, images_root: Path | None, output_dir: Path,
              config: DpoLoraConfig | None = None, device: str | None = None) -> Path:
    """DPO + LoRA on ``preferences``, then merge the adapter; returns ``output_dir/model``.

    Each record has "image" (a path, relative to ``images_root`` unless absolute), "prompt" (the user
    text, no template), "chosen" and "rejected". Returns at once if ``output_dir/model`` is complete;
    resumes from the newest ``output_dir/trainer/checkpoint-*`` otherwise.
    """
    config = config or DpoLoraConfig()
    if not 0.0 <= config.warmup_ratio < 1.0:
        raise CsrBenchError(f"DPO warmup_ratio {config.warmup_ratio} must be in [0, 1)")
    output_dir = Path(output_dir)
    done = completed_model(output_dir)
    if done is not None:
        return done

    model_dir = Path(model_dir)
    records = load_preferences(preferences)
    fingerprint = _fingerprint(model_dir, records, images_root, config)
    inputs_file = output_dir / INPUTS_FILE
    if inputs_file.is_file():
        try:
            previous = json.loads(inputs_file.read_text(encoding="utf-8"))
        except ValueError:
            previous = None
        if previous != json.loads(json.dumps(fingerprint, default=str)):
            raise CsrBenchError(f"{output_dir} holds a DPO run started with other inputs (model, preferences or "
                                f"config, see {inputs_file}); use another output folder or delete it")
    dataset = build_preference_dataset(records, images_root)

    from csr_bench.models.llava import check_llava_checkpoint, pick_device

    check_llava_checkpoint(model_dir)
    device = pick_device(device)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CsrBenchError(f"device {device} requested but CUDA is not available")
        if device not in ("cuda", "cuda:0"):
            raise CsrBenchError(f"device {device}: DPO training runs on 'cuda' (select the GPU with "
                                "CUDA_VISIBLE_DEVICES) or 'cpu'")
    elif device != "cpu":
        raise CsrBenchError(f"device {device}: DPO training runs on 'cuda' or 'cpu'")

    output_dir.mkdir(parents=True, exist_ok=True)
    if distributed.is_main():
        atomic_write_json(inputs_file, json.loads(json.dumps(fingerprint, default=str)))
        discard_incomplete_checkpoints(output_dir / TRAINER_DIR)
    distributed.barrier()  # every process resumes from the same, complete, checkpoint
    with warnings.catch_warnings():
        # transformers 5.x renamed gradient_* to activation_checkpointing*; trl/peft still call the old names.
        warnings.filterwarnings("ignore", message=".*deprecated and will be removed in v6.*", category=FutureWarning)
        model, processor, metrics = _train(model_dir, dataset, output_dir, config, device)
    # In a data-parallel run every process trained the same weights (trl/accelerate's DDP); the main one saves.
    if distributed.is_main():
        _save_merged(model, processor, output_dir, fingerprint, metrics)
    distributed.barrier()
    return output_dir / MODEL_DIR


def _check_token_boundary(processor, dataset) -> None:
    """Warn if tokenizing prompt and completion apart (as trl does) differs from tokenizing them together."""
    from csr_bench.progress import get_logger

    first = dataset[0]
    rendered = render_example(processor, {**first, "images": [None] * len(first["images"])})
    tokenizer = processor.tokenizer
    for key in ("chosen", "rejected"):
        apart = tokenizer(rendered["prompt"])["input_ids"] + tokenizer(rendered[key], add_special_tokens=False)[
            "input_ids"]
        together = tokenizer(rendered["prompt"] + rendered[key])["input_ids"]
        if apart != together:
            get_logger().warning("DPO: the %s completion tokenizes differently on its own than after the prompt "
                                 "(%s vs %s); trl tokenizes them apart", key,
                                 tokenizer.convert_ids_to_tokens(apart[-8:]),
                                 tokenizer.convert_ids_to_tokens(together[-8:]))


def _train(model_dir: Path, dataset, output_dir: Path, config: DpoLoraConfig, device: str):
    dtype, bf16 = _training_precision(device)
    model, processor = load_llava_checkpoint(model_dir, dtype)
    original_template = processor.chat_template
    processor.chat_template = vicuna_v1_chat_template(processor.image_token)
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.unk_token or processor.tokenizer.eos_token
    _check_token_boundary(processor, dataset)

    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from csr_bench.progress import is_quiet

    targets = config.lora_targets or language_model_linear_names(model)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")
    trainer_dir = output_dir / TRAINER_DIR
    args = DPOConfig(
        output_dir=str(trainer_dir),
        beta=config.beta, loss_type=[name.strip() for name in config.loss_type.split(",")],
        learning_rate=config.learning_rate, num_train_epochs=config.num_epochs,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=float(config.warmup_ratio),  # transformers 5: a float < 1 is a ratio of the steps
        weight_decay=config.weight_decay, seed=config.seed, data_seed=config.seed,
        activation_checkpointing=config.gradient_checkpointing,  # transformers 5 name of gradient_checkpointing
        max_length=config.max_length,
        disable_dropout=config.disable_dropout,
        bf16=bf16, fp16=False, use_cpu=(device == "cpu"),
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=1,
        logging_steps=config.logging_steps, report_to="none", disable_tqdm=is_quiet(),
        dataloader_num_workers=config.dataloader_num_workers,
        remove_unused_columns=False,  # the collator needs images/prompt/chosen/rejected
        **config.extra_args,
    )
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset,
                         data_collator=PaddedImageCollator(processor, config.max_length),
                         processing_class=processor, peft_config=lora)
    if faults_active():
        _install_fault_points(trainer)
    checkpoint = _last_checkpoint(trainer_dir)
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.save_model(str(trainer_dir))  # the final adapter, for inspection
    trainer.save_state()
    metrics = dict(result.metrics)
    metrics["resumed_from"] = checkpoint.name if checkpoint else None
    metrics["lora_targets"] = len(targets)
    processor.chat_template = original_template
    return trainer.model, processor, metrics


def _install_fault_points(trainer) -> None:
    """The ``train:*`` kill points of csr_bench.faults (installed only when a fault is requested)."""
    from transformers import TrainerCallback

    class FaultPoints(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            fault_point("train:step")

        def on_save(self, args, state, control, **kwargs):
            fault_point("train:saved")

    trainer.add_callback(FaultPoints())
    save_optimizer = trainer._save_optimizer_and_scheduler  # runs after the checkpoint's weights are written

    def save_optimizer_with_fault(*args, **kwargs):
        fault_point("train:checkpoint")
        return save_optimizer(*args, **kwargs)

    trainer._save_optimizer_and_scheduler = save_optimizer_with_fault


def _save_merged(peft_model, processor, output_dir: Path, fingerprint: dict, metrics: dict) -> Path:
    """Merge the adapter and save the model into model.partial/, marker last, then rename it to model/."""
    import peft
    import transformers
    import trl

    model_path = output_dir / MODEL_DIR
    partial = partial_dir(model_path)  # what a crash mid-save left there is discarded
    merged = peft_model.merge_and_unload()
    merged.config.use_cache = True
    text_config = merged.config.get_text_config()
    if text_config is not merged.config:
        text_config.use_cache = True
    merged.save_pretrained(partial, safe_serialization=True)
    fault_point("merge:weights")
    processor.save_pretrained(partial)
    marker = {**fingerprint, "train_metrics": metrics,
              "versions": {"transformers": transformers.__version__, "trl": trl.__version__,
                           "peft": peft.__version__}}
    atomic_write_json(partial / DONE_MARKER, json.loads(json.dumps(marker, default=str)))
    replace_dir(partial, model_path)  # a model/ without marker (an older version's unfinished save) goes
    fault_point("merge:done")
    return model_path
