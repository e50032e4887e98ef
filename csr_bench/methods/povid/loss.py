"""POVID's stage-2 loss (tool/dpo_trainer_inherent.py of YiyangZhou/POVID), as a loss term on the
shared trainer: loss = 0.5 * DPO(y_w vs noisy-self) + 0.5 * DPO(y_w vs y_hal). trl computes the second
DPO term as usual (scaled by the term's ``dpo_weight``); this module adds the first.

The noisy-self "rejected" log-prob (``_get_noisy_batch_logps``): teacher-force the chosen answer with
the noised image, take the argmax token at every response position (no gradient), and score those
tokens under the clean-image log-softmax of the same chosen sequence (gradient through the clean
pass), summed over the response. The reference model (LoRA disabled = the merged stage-1 model)
gets the same computation on the same noisy tensor, with its own argmax."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from csr_bench.methods.povid.noise import DEFAULT_NOISE_STEP, example_generator, noisy_image
from csr_bench.training.dpo_data import VARIANT_PIXELS  # the batch key of the noisy images' pixel values
from csr_bench.training.loss_terms import (log_metrics, no_grad_passes, reference_network, sequence_logps,
                                          sigmoid_dpo_losses)

TERM_NAME = "povid-noisy-self"


def noisy_argmax_logps(noisy_logits, clean_logits, completion_mask):
    """Sum over the completion of log p_clean(argmax_v p_noisy(v | <= t) | <= t), the reference's
    ``_get_noisy_batch_logps`` (top-1; its top-2 variant is commented out there). Gradient flows only
    through ``clean_logits``."""
    import torch

    indices = noisy_logits[:, :-1].detach().argmax(-1)  # the reference: torch.max(logits, dim=2) indices
    log_probs = clean_logits[:, :-1].float().log_softmax(-1)
    per_token = torch.gather(log_probs, 2, indices.unsqueeze(2)).squeeze(2)
    return (per_token * completion_mask[:, 1:]).sum(-1)


@dataclass
class PovidNoiseTerm:
    """The noisy-self DPO term (methods.base.LossTerm): ``weight`` times its sigmoid DPO loss is added
    to trl's loss, which is scaled by ``dpo_weight`` = 1 - weight: the reference's
    ``losses = 0.5 * self_losses + 0.5 * losses``, averaged over the batch."""

    beta: float = 0.1
    noise_step: int = DEFAULT_NOISE_STEP
    clamp: bool = False
    seed: int = 0
    weight: float = 0.5
    name: str = TERM_NAME

    @property
    def dpo_weight(self) -> float:
        return 1.0 - self.weight

    def settings(self) -> dict[str, Any]:
        """What the trained model depends on besides trl's settings (recorded in dpo_inputs.json)."""
        return {"noise_step": self.noise_step, "noise_clamp": self.clamp, "noise_seed": self.seed,
                "weight": self.weight, "beta": self.beta}

    def image_variant(self, image, key: str):
        """The noisy twin of one example's image (before pad-to-square), drawn from (seed, example)."""
        return noisy_image(image, self.noise_step, self.clamp, example_generator(self.seed, key))

    def __call__(self, trainer: Any, model: Any, inputs: dict[str, Any]):
        import torch

        noisy = inputs[VARIANT_PIXELS]
        rows = noisy.shape[0]  # trl's batch is [chosen rows; rejected rows]: the term uses the chosen ones
        skip = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps", VARIANT_PIXELS}
        chosen = {key: value[:rows] if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == 2 * rows
                  else value for key, value in inputs.items() if key not in skip}
        chosen["use_cache"] = False
        completion = inputs["completion_mask"][:rows]
        input_ids = chosen["input_ids"]

        def logps(network):
            clean_logits = network(**chosen).logits
            with torch.no_grad(), no_grad_passes(trainer):
                noisy_logits = network(**{**chosen, "pixel_values": noisy.to(chosen["pixel_values"].dtype)}).logits
            return (sequence_logps(clean_logits, input_ids, completion),
                    noisy_argmax_logps(noisy_logits, clean_logits, completion))

        policy_chosen, policy_noisy = logps(model)
        with reference_network(trainer) as reference:  # the adapter disabled = the stage-1 model
            reference_chosen, reference_noisy = logps(reference)
        losses = sigmoid_dpo_losses(policy_chosen, policy_noisy, reference_chosen, reference_noisy, self.beta)
        margin = self.beta * ((policy_chosen - reference_chosen) - (policy_noisy - reference_noisy))
        log_metrics(trainer, {"povid/noisy_loss": losses, "povid/noisy_margin": margin,
                              "povid/logps_noisy_self": policy_noisy, "povid/logps_chosen": policy_chosen})
        return self.weight * losses.mean()
