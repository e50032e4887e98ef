"""What a method's own loss term (methods.base.LossTerm) computes with, on the shared trainer's batch:
a sequence's summed log-prob, the sigmoid DPO loss, and the reference pass (the separate reference
model, or the policy with its LoRA adapter switched off, as trl and the references compute it).
POVID's noisy-self term and SIMA's top-1/top-2 rejected term both build on these."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


def sequence_logps(logits, input_ids, completion_mask):
    """Sum over the completion of log p(token_{t+1} | <= t): trl's (and the references'
    ``_get_batch_logps``) summed log-prob of a sequence."""
    import torch

    log_probs = logits[:, :-1].float().log_softmax(-1)
    per_token = torch.gather(log_probs, 2, input_ids[:, 1:].unsqueeze(2)).squeeze(2)
    return (per_token * completion_mask[:, 1:]).sum(-1)


def sigmoid_dpo_losses(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float):
    """-log sigmoid(beta * ((pi_c - pi_r) - (ref_c - ref_r))) per example (the references' ``dpo_loss``)."""
    import torch.nn.functional as F

    return -F.logsigmoid(beta * ((policy_chosen - policy_rejected) - (reference_chosen - reference_rejected)))


def no_grad_passes(trainer: Any):
    """As trl's reference pass: gradient checkpointing off (no warning under no_grad)."""
    from trl.models.utils import disable_gradient_checkpointing

    return disable_gradient_checkpointing(trainer.model, trainer.args.gradient_checkpointing_kwargs)


@contextlib.contextmanager
def reference_network(trainer: Any) -> Iterator[Any]:
    """The reference model under no_grad: trl's ``ref_model`` if it has one, else the policy with its
    LoRA adapter disabled (the start model of the training, as the references' trainers use)."""
    import torch
    from accelerate.utils import is_peft_model
    from trl.trainer.utils import use_adapter

    with torch.no_grad(), no_grad_passes(trainer):
        if trainer.ref_model is not None:
            yield trainer.ref_model
            return
        adapter = contextlib.nullcontext()
        if is_peft_model(trainer.model):
            unwrapped = trainer.accelerator.unwrap_model(trainer.model)
            adapter = use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None)
        with adapter:
            yield trainer.model


def log_metrics(trainer: Any, values: dict[str, Any]) -> None:
    """Append the batch's values (tensors, averaged) to trl's logged metrics (train.log)."""
    metrics = getattr(trainer, "_metrics", None)
    if metrics is None:
        return
    mode = metrics["train" if trainer.model.training else "eval"]
    for name, value in values.items():
        mode[name].append(float(value.mean().detach()))


__all__ = ["log_metrics", "no_grad_passes", "reference_network", "sequence_logps", "sigmoid_dpo_losses"]
