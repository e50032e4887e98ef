"""DPO with LoRA on any method's preference pairs, through trl's ``DPOTrainer`` (unmodified unless
a method adds a loss term) and peft; resumable, and merged in fp32 so that the small update
survives. How it matches the reference, the files it writes, resume: docs/training.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.faults import active as faults_active, fault_point
from csr_bench.storage.files import atomic_write_json, partial_dir, replace_dir
from csr_bench.training.config import DPO_PROMPTS, MERGE_DTYPES, DpoLoraConfig
from csr_bench.training.dpo_data import (VARIANT_PIXELS, PaddedImageCollator, build_preference_dataset,
                                    load_preferences, render_example, vicuna_v1_chat_template)
from csr_bench.models.llava import load_llava_checkpoint
from csr_bench.redaction import RedactingFilter, redact_config
from csr_bench.storage.settings import differences, require_same_settings, run_relative, settings_changed

DONE_MARKER = "csr_dpo.json"
INPUTS_FILE = "dpo_inputs.json"
TRAINER_DIR = "trainer"
MODEL_DIR = "model"
MERGE_CHECK = "merge_check.json"
STAGES_DIR = "stages"  # a stage of a multi-stage method trains in <run>/iter_<k>/stages/<name>/ (methods/driver.py)
TRAIN_LOG = "train.log"  # in output_dir: trl's log dicts (one JSON per line), trl/transformers warnings
# The libraries whose log records and warnings a training writes to TRAIN_LOG rather than the console.
TRAINING_LOGGERS = ("transformers", "trl", "peft", "accelerate")
KEEP_THRESHOLD = 0.99  # a saved model keeping less of its LoRA update than this warns


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

def effective_batch(config: DpoLoraConfig) -> dict:
    """Pairs per optimizer step: per-device batch x gradient accumulation x processes (world size).

    The reference ran batch 1, accumulation 1 on each of its GPUs (``step1.sh`` uses 4), so its
    effective batch was its number of GPUs; ``--gradient-accumulation-steps 4`` on one GPU matches 4."""
    world = distributed.world_size()
    return {"per_device_batch_size": config.batch_size,
            "gradient_accumulation_steps": config.gradient_accumulation_steps,
            "world_size": world, "effective_batch": config.batch_size * config.gradient_accumulation_steps * world}


# DPO settings recorded in dpo_inputs.json that do not change the trained model (resume is exact
# whatever the checkpoint interval: tests/test_fault_injection.py), so a rerun may change them.
NOT_AFFECTING_TRAINING = ("config.save_steps", "config.logging_steps", "config.dataloader_num_workers")


def run_folder(output_dir: Path) -> Path:
    """The run folder of a training into ``output_dir``: <run>/iter_<k>, or a stage of it,
    <run>/iter_<k>/stages/<name> (STAGES_DIR)."""
    output_dir = Path(output_dir)
    parents = output_dir.parents
    if (len(parents) > 2 and parents[0].name == STAGES_DIR and parents[1].name.startswith("iter_")
            and not output_dir.name.startswith("iter_")):  # a stage is never named iter_* (methods/driver.py)
        return parents[2]
    return output_dir.parent


def _model_settings(model_dir: Path, config: DpoLoraConfig, output_dir: Path) -> dict:
    """The settings of a training other than its data: the model (relative to the run folder when
    inside it, so a moved run resumes), the hyper-parameters and the effective batch."""
    return {"model_dir": run_relative(Path(model_dir).resolve(), run_folder(output_dir)),
            "config": redact_config(asdict(config)),  # e.g. a hub_token among extra_args
            # a resume on another number of processes would change the training
            "batch": effective_batch(config)}


def require_same_training(output_dir: Path, model_dir: Path | str, config: DpoLoraConfig) -> None:
    """Refuse a finished model trained with other settings than these (the model it started from,
    the hyper-parameters, the merge dtype), naming them: never return it under the new settings' name."""
    marker = Path(output_dir) / MODEL_DIR / DONE_MARKER
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    current = _model_settings(Path(model_dir), config, Path(output_dir))  # differences() reads both as JSON
    if Path(str(recorded.get("model_dir", ""))).is_absolute():  # written before paths were run-relative
        recorded = {**recorded, "model_dir": run_relative(recorded["model_dir"], run_folder(output_dir))}
    changes = differences({key: recorded.get(key) for key in current}, current, NOT_AFFECTING_TRAINING)
    if changes:
        raise settings_changed("the DPO training and merge", Path(output_dir) / MODEL_DIR, changes)


def _fingerprint(model_dir: Path, records: list[dict], images_root: Path | None, config: DpoLoraConfig,
                 output_dir: Path) -> dict:
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    settings = _model_settings(model_dir, config, output_dir)
    return {"model_dir": settings["model_dir"],
            "images_root": str(Path(images_root).resolve()) if images_root else None,
            "preferences_sha256": digest.hexdigest(), "num_preferences": len(records),
            "config": settings["config"], "batch": settings["batch"]}


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
              config: DpoLoraConfig | None = None, device: str | None = None, label: str = "dpo",
              loss_term=None) -> Path:
    """DPO + LoRA on ``preferences``, then merge the adapter; returns ``output_dir/model``.

    Each record has "image" (a path, relative to ``images_root`` unless absolute), "prompt" (the user
    text, no template), "chosen" and "rejected". Returns at once if ``output_dir/model`` is complete;
    resumes from the newest ``output_dir/trainer/checkpoint-*`` otherwise. ``label``: the progress
    bar's; the training's log goes to ``output_dir/train.log``. ``loss_term`` (methods.base.LossTerm):
    a method's own term, added to DPO's loss (scaled by the term's ``dpo_weight``) on every batch.
    """
    config = config or DpoLoraConfig()
    if not 0.0 <= config.warmup_ratio < 1.0:
        raise CsrBenchError(f"DPO warmup_ratio {config.warmup_ratio} must be in [0, 1)")
    if config.merge_dtype not in MERGE_DTYPES:
        raise CsrBenchError(f"--merge-dtype {config.merge_dtype!r}: choose from {', '.join(MERGE_DTYPES)}")
    if config.dpo_prompt not in DPO_PROMPTS:
        raise CsrBenchError(f"--dpo-prompt {config.dpo_prompt!r}: choose from {', '.join(DPO_PROMPTS)}")
    if config.gradient_accumulation_steps < 1:
        raise CsrBenchError(f"--gradient-accumulation-steps {config.gradient_accumulation_steps} must be 1 or more")
    output_dir = Path(output_dir)
    done = completed_model(output_dir)
    if done is not None:
        return done

    model_dir = Path(model_dir)
    records = load_preferences(preferences)
    fingerprint = _fingerprint(model_dir, records, images_root, config, output_dir)
    if loss_term is not None:  # a run without one keeps the fingerprint it always had
        fingerprint["loss_term"] = loss_term.name
        if hasattr(loss_term, "settings"):  # what else the trained model depends on (POVID's noise)
            fingerprint["loss_term_settings"] = loss_term.settings()
    inputs_file = output_dir / INPUTS_FILE
    require_same_settings(inputs_file, fingerprint, "the DPO training", ignore=NOT_AFFECTING_TRAINING, write=False)
    dataset = build_preference_dataset(records, images_root, prompt_form=config.dpo_prompt)

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
    with training_log(output_dir / TRAIN_LOG):  # its own catch_warnings restores the filter below
        # transformers 5.x renamed gradient_* to activation_checkpointing*; trl/peft still call the old names.
        warnings.filterwarnings("ignore", message=".*deprecated and will be removed in v6.*", category=FutureWarning)
        model, processor, metrics = _train(model_dir, dataset, output_dir, config, device, label, loss_term)
    # In a data-parallel run every process trained the same weights (trl/accelerate's DDP); the main one saves.
    if distributed.is_main():
        _save_merged(model, processor, model_dir, output_dir, fingerprint, metrics, config.merge_dtype, device)
    distributed.barrier()
    return output_dir / MODEL_DIR


@contextlib.contextmanager
def training_log(path: Path):
    """While training, the log records of trl, transformers, peft and accelerate (INFO and above) and
    every Python warning go to ``path`` (appended, secrets redacted), not to the console, where they
    would land between the progress bars; the loggers' own settings and the warning display are
    restored afterwards."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # as on the console's handler: no secret reaches the file
    to_file = logging.getLogger("csr_bench.train_log")  # the warnings' way into the file
    saved = [(logger, logger.handlers[:], logger.propagate, logger.level)
             for logger in map(logging.getLogger, (*TRAINING_LOGGERS, to_file.name))]
    for logger, *_ in saved:
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)

    def show(message, category, filename, lineno, file=None, line=None):
        to_file.warning("%s:%d: %s: %s", filename, lineno, category.__name__, message)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield path
    finally:
        for logger, handlers, propagate, level in saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)
        handler.close()


def dpo_console(log_path: Path, label: str):
    """A transformers ``TrainerCallback`` in place of transformers' console output (its tqdm bar or
    PrinterCallback's ``print`` of every log dict): one bar over all optimizer steps, labelled
    ``label``, with the last logged loss and reward margin (trl's ``rewards/margins``) as postfix; a
    resumed training starts it at the checkpoint's step. Every log dict is appended to ``log_path``
    as one JSON object per line, ``step`` first. Only the main process shows and writes."""
    from transformers import TrainerCallback

    from csr_bench.progress import get_logger, progress_bar

    class DpoConsole(TrainerCallback):
        def __init__(self):
            self.bar, self.postfix = None, {}

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                get_logger().info("%s: %d optimizer steps%s; training log in %s", label, state.max_steps,
                                  f", resumed at step {state.global_step}" if state.global_step else "", log_path)
                self.bar = progress_bar(total=state.max_steps, initial=state.global_step, desc=label, unit="step")

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            record = {"step": state.global_step, **{k: v for k, v in logs.items() if k != "total_flos"}}
            with open(log_path, "a", encoding="utf-8") as file:
                file.write(json.dumps(record, default=str) + "\n")
            values = {"loss": logs.get("loss", logs.get("train_loss")),  # the last dict: the training's mean
                      "margin": logs.get("rewards/margins")}
            latest = {name: f"{value:.4g}" for name, value in values.items() if isinstance(value, (int, float))}
            if self.bar is not None and latest:
                self.postfix.update(latest)  # the latest of each (the last dict may lack the margin)
                self.bar.set_postfix(self.postfix)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return DpoConsole()


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


def _with_loss_term(trainer_class, loss_term):
    """trl's trainer, unmodified, when there is no term; else a subclass whose ``compute_loss`` (its only
    override) returns ``dpo_weight * trl's loss + loss_term(trainer, model, inputs)``. trl's forward
    gets the batch without the term's own inputs (``VARIANT_PIXELS``); the term gets all of it."""
    if loss_term is None:
        return trainer_class
    dpo_weight = float(getattr(loss_term, "dpo_weight", 1.0))

    class DPOTrainerWithTerm(trainer_class):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            standard = {key: value for key, value in inputs.items() if key != VARIANT_PIXELS}
            result = super().compute_loss(model, standard, return_outputs=return_outputs,
                                          num_items_in_batch=num_items_in_batch)
            loss, outputs = result if return_outputs else (result, None)
            if dpo_weight != 1.0:
                loss = dpo_weight * loss
            loss = loss + loss_term(self, model, inputs)
            return (loss, outputs) if return_outputs else loss

    return DPOTrainerWithTerm


def _train(model_dir: Path, dataset, output_dir: Path, config: DpoLoraConfig, device: str, label: str = "dpo",
           loss_term=None):
    dtype, bf16 = _training_precision(device)
    model, processor = load_llava_checkpoint(model_dir, dtype)
    logging.getLogger("transformers").setLevel(logging.INFO)  # the loader quietens it for the console; here: train.log
    original_template = processor.chat_template
    processor.chat_template = vicuna_v1_chat_template(processor.image_token)
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.unk_token or processor.tokenizer.eos_token
    _check_token_boundary(processor, dataset)

    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

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
        # transformers' own bar and log printing off: dpo_console shows one bar and writes the logs to a file
        logging_steps=config.logging_steps, report_to="none", disable_tqdm=True,
        dataloader_num_workers=config.dataloader_num_workers,
        remove_unused_columns=False,  # the collator needs images/prompt/chosen/rejected
        **config.extra_args,
    )
    trainer = _with_loss_term(DPOTrainer, loss_term)(model=model, ref_model=None, args=args, train_dataset=dataset,
                         data_collator=PaddedImageCollator(processor, config.max_length,
                                                           image_variant=getattr(loss_term, "image_variant", None)),
                         processing_class=processor, peft_config=lora)
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for printer in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(printer)
    trainer.add_callback(dpo_console(output_dir / TRAIN_LOG, label))
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


def lora_updates(peft_model) -> dict[str, tuple]:
    """{base module name: (A, B, scaling, fan_in_fan_out)} of every LoRA layer, A and B as fp32 CPU copies.

    The update of a layer is ``B @ A * scaling`` (peft's ``get_delta_weight``), scaling alpha/r."""
    import torch
    from peft.tuners.lora import LoraLayer

    updates = {}
    for name, module in peft_model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        adapters = [a for a in module.active_adapters if a in module.lora_A]
        if len(adapters) != 1:
            raise CsrBenchError(f"DPO merge: {name} has adapters {adapters}; expected exactly one")
        adapter = adapters[0]
        if module.use_dora.get(adapter) or not isinstance(module.lora_A[adapter], torch.nn.Linear):
            raise CsrBenchError(f"DPO merge: {name} is not a plain LoRA linear layer (DoRA or conv)")
        key = name.removeprefix("base_model.model.")
        updates[key] = (module.lora_A[adapter].weight.detach().float().cpu(),
                        module.lora_B[adapter].weight.detach().float().cpu(),
                        float(module.scaling[adapter]), bool(getattr(module, "fan_in_fan_out", False)))
    if not updates:
        raise CsrBenchError("DPO merge: the trained model holds no LoRA layer")
    return updates


def merge_in_fp32(base_model, updates: dict[str, tuple], save_dtype, device: str = "cpu") -> dict:
    """Add each LoRA update to ``base_model``'s weights in fp32, store them in ``save_dtype``; returns the check.

    ``base_model`` holds the checkpoint's own weights read in fp32 (not the bf16 copy training ran on),
    so a fp16 or fp32 checkpoint loses nothing but what ``save_dtype`` cannot hold. For every merged
    weight, W_exact = W_base + B @ A * scaling in fp32 and W_saved = W_exact rounded to ``save_dtype``
    (what is written to disk). The check reports, per layer and overall,

        kept = 1 - ||W_saved - W_exact||_F / ||B @ A * scaling||_F

    the share of the update the saved weights keep: 1 when nothing is lost (fp32), 0 when W_saved is as
    far from W_exact as the base weights are (the update rounded away), below 0 when rounding moves the
    weights further than the update did. "overall" takes the norms over all merged weights together
    (a norm-weighted mean). ``kept_if_loaded_as`` asks the same of the *change between iterations*
    when a later search or evaluation loads both models in another dtype d (LLaVA on a GPU runs fp16
    by default): 1 - ||(d(W_saved) - d(W_base)) - B @ A * scaling||_F / ||B @ A * scaling||_F, so the
    rounding of the base weights, which both iterations share, does not count as a loss. Norms in fp64."""
    import torch

    def share(error_sq: float, delta_sq: float) -> float | None:
        return None if delta_sq == 0 else 1.0 - (error_sq / delta_sq) ** 0.5

    load_dtypes = {name: getattr(torch, name) for name in MERGE_DTYPES}
    layers, total_delta, total_error = {}, 0.0, 0.0
    total_loaded = dict.fromkeys(load_dtypes, 0.0)
    with torch.no_grad():
        for name, (lora_a, lora_b, scaling, fan_in_fan_out) in updates.items():
            module = base_model.get_submodule(name)
            delta = (lora_b @ lora_a) * scaling
            if fan_in_fan_out:
                delta = delta.T
            base = module.weight.detach().float().cpu()
            exact = base + delta
            saved = exact.to(save_dtype)
            delta_sq = float(delta.double().square().sum())
            error_sq = float((saved.double() - exact.double()).square().sum())
            loaded = {}
            for dtype_name, dtype in load_dtypes.items():
                change = saved.to(dtype).double() - base.to(dtype).double()
                loaded_sq = float((change - delta.double()).square().sum())
                total_loaded[dtype_name] += loaded_sq
                loaded[dtype_name] = share(loaded_sq, delta_sq)
            layers[name] = {"update_norm": delta_sq ** 0.5, "kept": share(error_sq, delta_sq),
                            "kept_if_loaded_as": loaded}
            total_delta += delta_sq
            total_error += error_sq
            module.weight.data = saved.to(module.weight.device)
    base_model.to(save_dtype)
    from csr_bench.models.llava import pick_dtype

    overall = share(total_error, total_delta)
    return {
        "definition": "kept = 1 - ||W_saved - W_exact||_F / ||B @ A * alpha/r||_F, W_exact = W_base + B @ A * "
                      "alpha/r in fp32 (W_base: the checkpoint's weights read in fp32); kept_if_loaded_as[d] = "
                      "1 - ||(d(W_saved) - d(W_base)) - B @ A * alpha/r||_F / ||B @ A * alpha/r||_F (the change "
                      "between iterations when both run in dtype d); overall: norms over all merged weights together",
        "merged_in": "float32", "saved_dtype": str(save_dtype).removeprefix("torch."),
        "overall": {"kept": overall, "update_norm": total_delta ** 0.5,
                    "kept_if_loaded_as": {name: share(value, total_delta) for name, value in total_loaded.items()}},
        "default_load_dtype": str(pick_dtype(None, device)).removeprefix("torch."),
        "threshold": KEEP_THRESHOLD,
        "below_threshold": overall is not None and overall < KEEP_THRESHOLD,
        "layers": layers,
    }


def _report_merge(check: dict, path: Path) -> None:
    from csr_bench.progress import get_logger

    log = get_logger()
    overall = check["overall"]
    if overall["kept"] is None:
        log.info("DPO merge: the LoRA update is zero (nothing trained); %s", path)
        return
    loaded = ", ".join(f"{name} {value:.1%}" for name, value in overall["kept_if_loaded_as"].items())
    if check["below_threshold"]:
        log.warning("DPO merge: THE SAVED MODEL (%s) KEEPS ONLY %.1f%% OF THE LoRA UPDATE (below %.0f%%): "
                    "most of what DPO learned is rounded away; rerun with --merge-dtype float32 (see %s)",
                    check["saved_dtype"], 100 * overall["kept"], 100 * check["threshold"], path)
    else:
        log.info("DPO merge: the saved model (%s) keeps %.2f%% of the LoRA update; loaded as %s (%s)",
                 check["saved_dtype"], 100 * overall["kept"], loaded, path)


def _save_merged(peft_model, processor, model_dir: Path, output_dir: Path, fingerprint: dict, metrics: dict,
                 merge_dtype: str = "float32", device: str = "cpu") -> Path:
    """Merge the adapter in fp32 into the checkpoint's own weights and save the model in ``merge_dtype``.

    Written into model.partial/ (weights, processor, merge_check.json, the marker last), then renamed
    to model/. The base weights are read again from ``model_dir`` in fp32 on the CPU rather than taken
    from the model training ran on (bf16 on a GPU): a bf16 merge rounds a small update away (audit 6.4),
    and rounding an fp16 or fp32 checkpoint to bf16 would itself move the weights more than the update.
    The reference merges into its fp16 base in fp16 (LLaVA's merge_lora_weights.py)."""
    import peft
    import torch
    import transformers
    import trl

    save_dtype = getattr(torch, merge_dtype)
    updates = lora_updates(peft_model)
    model_path = output_dir / MODEL_DIR
    partial = partial_dir(model_path)  # what a crash mid-save left there is discarded
    merged, _ = load_llava_checkpoint(model_dir, torch.float32)
    check = merge_in_fp32(merged, updates, save_dtype, device)
    merged.config.use_cache = True
    text_config = merged.config.get_text_config()
    if text_config is not merged.config:
        text_config.use_cache = True
    merged.save_pretrained(partial, safe_serialization=True)
    fault_point("merge:weights")
    processor.save_pretrained(partial)
    atomic_write_json(partial / MERGE_CHECK, check)
    _report_merge(check, model_path / MERGE_CHECK)
    marker = {**fingerprint, "train_metrics": metrics, "merge": {"merged_in": "float32", "saved_dtype": merge_dtype,
                                                                 "kept": check["overall"]["kept"]},
              "versions": {"transformers": transformers.__version__, "trl": trl.__version__,
                           "peft": peft.__version__}}
    atomic_write_json(partial / DONE_MARKER, json.loads(json.dumps(marker, default=str)))
    replace_dir(partial, model_path)  # a model/ without marker (an older version's unfinished save) goes
    fault_point("merge:done")
    return model_path
