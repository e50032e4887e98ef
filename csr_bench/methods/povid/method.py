"""POVID as an alignment method (github.com/YiyangZhou/POVID): one iteration trains twice on the
same preference set, stage 1 plain DPO (ground-truth vs hallucination-injected answer,
``--povid-stage1-epochs``, 3), merged, then stage 2 from the merged model with the noisy-self term
(loss.py: 0.5 DPO(y_w vs own argmax under a noised image) + 0.5 DPO(y_w vs y_hal), 1 epoch).

The set is read as ``--method dpo`` reads it (its make_pairs, inherited): ``<run>/iter_<k>/povid/``
holds settings.json (these settings and the noise's: a rerun with other settings is refused),
read.json and source/. Stage 1 trains in ``iter_<k>/stages/stage1/``, stage 2 in ``iter_<k>/``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.methods.base import IterationInput, PairSet, TrainingStage
from csr_bench.methods.dpo.method import DpoMethod
from csr_bench.methods.povid.config import PovidConfig
from csr_bench.methods.povid.noise import NUM_STEPS

STAGE1, STAGE2 = "stage1", "stage2"


class PovidMethod(DpoMethod):
    name = "povid"
    default_iterations = 1  # the reference trains once (two stages) on a released set
    config_class = PovidConfig

    def __init__(self, config: PovidConfig | None = None, device: str | None = None):
        super().__init__(config or PovidConfig(), device)
        if not 0 <= self.config.noise_step < NUM_STEPS:
            raise CsrBenchError(f"--povid-noise-step {self.config.noise_step} must be in [0, {NUM_STEPS - 1}]")
        if not self.config.stage1_epochs > 0:
            raise CsrBenchError(f"--povid-stage1-epochs {self.config.stage1_epochs} must be above 0")

    def settings(self, current: IterationInput) -> dict[str, Any]:
        """--method dpo's (the set to read) and the stage-1 epochs and the noise; trl's settings are
        checked per stage by training/dpo.py."""
        return {**super().settings(current), "noise_step": self.config.noise_step,
                "noise_clamp": self.config.noise_clamp, "stage1_epochs": self.config.stage1_epochs}

    def make_pairs(self, current: IterationInput) -> PairSet:
        """The preference set, the same pairs for both stages (as the reference's two scripts)."""
        pair_set = super().make_pairs(current)
        pair_set.stats.update({"stages": [STAGE1, STAGE2], "noise_step": self.config.noise_step,
                               "noise_clamp": self.config.noise_clamp})
        return pair_set

    def noise_term(self):
        from csr_bench.methods.povid.loss import PovidNoiseTerm

        return PovidNoiseTerm(beta=self.config.training.beta, noise_step=self.config.noise_step,
                              clamp=self.config.noise_clamp, seed=self.config.training.seed)

    def training_stages(self, pair_set: PairSet | None) -> list[TrainingStage]:
        """Stage 1: plain DPO for ``stage1_epochs``; stage 2: the noisy-self term, ``training.num_epochs``."""
        training = self.config.training
        return [TrainingStage(STAGE1, replace(training, num_epochs=self.config.stage1_epochs)),
                TrainingStage(STAGE2, training, loss_term=self.noise_term())]
