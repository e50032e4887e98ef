"""One preference pair per prompt from its candidates' judge scores, as Yuan et al. (2024,
"Instruction Following Training") build them: the highest-scored candidate is chosen, the
lowest-scored rejected, and a prompt whose candidates all score the same gives no pair. A
candidate's score is the mean of its parsed judge samples; a candidate with none is left out. Ties
inside the top (or bottom) go to the earliest candidate (ours: the paper does not say). Two texts
that are the same give no pair either (ours: DPO cannot prefer a response to itself)."""

from __future__ import annotations

from typing import Sequence

TIE, TOO_FEW_SCORED, IDENTICAL = "tie", "fewer_than_2_scored", "identical_responses"


def candidate_score(scores: Sequence[float | None]) -> float | None:
    """The mean of a candidate's parsed judgements; None when none parsed."""
    parsed = [s for s in scores if s is not None]
    return sum(parsed) / len(parsed) if parsed else None


def pick_pair(candidates: Sequence[str], scores: Sequence[float | None]) -> tuple[int, int] | str:
    """(chosen index, rejected index), or why there is no pair (TOO_FEW_SCORED, TIE or IDENTICAL)."""
    scored = [(index, score) for index, score in enumerate(scores) if score is not None]
    if len(scored) < 2:
        return TOO_FEW_SCORED
    best = max(score for _, score in scored)
    worst = min(score for _, score in scored)
    if best == worst:
        return TIE
    chosen = next(index for index, score in scored if score == best)
    rejected = next(index for index, score in scored if score == worst)
    if candidates[chosen].strip() == candidates[rejected].strip():
        return IDENTICAL
    return chosen, rejected
