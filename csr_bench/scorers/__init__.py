"""Scorers by name. Task YAMLs refer to them with ``scorer: <name>``; each follows an official script."""

from csr_bench.scorers.base import Scorer, ScoringContext, ScoringSkipped
from csr_bench.scorers.pope import PopeScorer

SCORERS: dict[str, Scorer] = {"pope": PopeScorer()}

__all__ = ["SCORERS", "Scorer", "ScoringContext", "ScoringSkipped"]
