"""SIMA's DPO as its reference trainer computes it (umd-huang-lab/SIMA tool/dpo_trainer.py), for
``--sima-rejected code``: the chosen log-prob is the usual one, but the rejected log-prob is
``_get_noisy_batch_logps(rejected_logits, rejected_logits, labels)`` (L496-543, used at L616): at
every response position of the rejected sequence, the model's top-1 token, or its top-2 token where
the top-1 is the rejected response's own token, scored under the same log-softmax and summed. The
reference pass (LoRA disabled) runs the same function on its own logits.

A loss term on the shared trainer (methods.base.LossTerm) with ``dpo_weight`` 0: trl's own loss is
still computed but weighted 0; this term is the whole loss, -log sigmoid(beta * margin), batch mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from csr_bench.training.loss_terms import log_metrics, reference_network, sequence_logps, sigmoid_dpo_losses

TERM_NAME = "sima-top2-rejected"


def top2_rejected_logps(logits, input_ids, completion_mask):
    """Sum over the completion of log p(v_t | <= t), v_t = the top-1 token of position t's logits,
    or the top-2 one where the top-1 equals the sequence's next token (the reference's
    ``_get_noisy_batch_logps`` with the same logits twice). The choice takes no gradient; the
    log-prob does."""
    import torch

    logits = logits[:, :-1].float()
    labels = input_ids[:, 1:]
    top_two = torch.topk(logits.detach(), 2, dim=2).indices
    chosen = torch.where(top_two[:, :, 0] == labels, top_two[:, :, 1], top_two[:, :, 0])
    per_token = torch.gather(logits.log_softmax(-1), 2, chosen.unsqueeze(2)).squeeze(2)
    return (per_token * completion_mask[:, 1:]).sum(-1)


@dataclass
class SimaRejectedTerm:
    """The reference trainer's DPO loss (chosen: own tokens; rejected: top-1/top-2 tokens)."""

    beta: float = 0.1
    name: str = TERM_NAME
    dpo_weight: float = 0.0  # trl's loss (the rejected response's own tokens) is replaced, not added to

    def settings(self) -> dict[str, Any]:
        """What the trained model depends on besides trl's settings (recorded in dpo_inputs.json)."""
        return {"rejected": "code", "beta": self.beta}

    def logps(self, network, inputs: dict[str, Any]):
        """(chosen, rejected) summed log-probs of trl's batch, [chosen rows; rejected rows]."""
        model_inputs = {key: value for key, value in inputs.items()
                        if key not in {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}}
        model_inputs["use_cache"] = False
        logits = network(**model_inputs).logits
        input_ids, completion = inputs["input_ids"], inputs["completion_mask"]
        rows = input_ids.shape[0] // 2
        return (sequence_logps(logits[:rows], input_ids[:rows], completion[:rows]),
                top2_rejected_logps(logits[rows:], input_ids[rows:], completion[rows:]))

    def __call__(self, trainer: Any, model: Any, inputs: dict[str, Any]):
        policy_chosen, policy_rejected = self.logps(model, inputs)
        with reference_network(trainer) as reference:  # the adapter disabled, as the reference trainer
            reference_chosen, reference_rejected = self.logps(reference, inputs)
        losses = sigmoid_dpo_losses(policy_chosen, policy_rejected, reference_chosen, reference_rejected, self.beta)
        margin = self.beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))
        log_metrics(trainer, {"sima/loss": losses, "sima/margin": margin, "sima/logps_rejected_top2": policy_rejected,
                              "sima/logps_chosen": policy_chosen})
        return losses.mean()
