"""Scorers by name. Task YAMLs refer to them with ``scorer: <name>``; each follows an official script."""

from csr_bench.scorers.base import Metric, Scorer, ScoringContext, ScoringSkipped, declared
from csr_bench.scorers.chair import ChairScorer
from csr_bench.scorers.gqa import GqaScorer
from csr_bench.scorers.llava_bench import LlavaBenchScorer
from csr_bench.scorers.mmbench import MmbenchScorer
from csr_bench.scorers.mme import MmeScorer
from csr_bench.scorers.mmvet import MMVetScorer
from csr_bench.scorers.pope import PopeScorer
from csr_bench.scorers.scienceqa import ScienceQaScorer
from csr_bench.scorers.seed import SeedScorer
from csr_bench.scorers.vqa_accuracy import VizWizSubmissionScorer, VqaAccuracyScorer

SCORERS: dict[str, Scorer] = {
    "pope": PopeScorer(),
    "chair": ChairScorer(),
    "mme": MmeScorer(),
    "seed": SeedScorer(),
    "mmbench": MmbenchScorer(),
    "scienceqa": ScienceQaScorer(),
    "vqa_accuracy": VqaAccuracyScorer(),
    "vizwiz_submission": VizWizSubmissionScorer(),
    "gqa": GqaScorer(),
    "mmvet": MMVetScorer(),
    "llava_bench": LlavaBenchScorer(),
}



def declared_metric(scorer: str, key: str) -> Metric | None:
    """How the scorer named ``scorer`` declares its aggregate's ``key``; None for an unknown scorer or key."""
    found = SCORERS.get(scorer)
    return None if found is None else declared(found.metrics, key)


__all__ = ["SCORERS", "Metric", "Scorer", "ScoringContext", "ScoringSkipped", "declared_metric"]
