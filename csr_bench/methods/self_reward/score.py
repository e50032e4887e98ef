"""The judge's score: parsed from its text (the paper's judge), or its expected value under the
model's own probabilities of the six verdicts (our stand-in for a model that cannot write one).

Parsing rule (ours: the paper gives the format, “Score: <total points>”, not a parser): the LAST
"Score:" in the text (any case, optional markdown asterisks or spaces around the colon) followed by a
number; the judge is told to conclude with it, and a justification may quote the format or an
earlier draft score before it. The number must lie in 0..5 (the additive scale); "4/5" reads as 4.
No such "Score:" -> dropped as ``no_score``; a number outside 0..5 -> dropped as ``out_of_range``.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

MIN_SCORE, MAX_SCORE = 0, 5
SCORES = tuple(range(MIN_SCORE, MAX_SCORE + 1))
NO_SCORE, OUT_OF_RANGE = "no_score", "out_of_range"
_SCORE = re.compile(r"score\**\s*:\s*\**\s*([-+]?\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_score(text: str) -> tuple[float | None, str | None]:
    """(score, None) or (None, why it was dropped: NO_SCORE or OUT_OF_RANGE)."""
    found = _SCORE.findall(text or "")
    if not found:
        return None, NO_SCORE
    value = float(found[-1])
    if not MIN_SCORE <= value <= MAX_SCORE:
        return None, OUT_OF_RANGE
    return value, None


def verdict(score: int) -> str:
    """The continuation whose likelihood the ``likelihood`` judge reads for ``score``: the answer the
    prompt asks for, “Score: <total points>”, without the quotes."""
    return f"Score: {score}"


def expected_score(logprobs: Sequence[float]) -> float:
    """sum_s s * p(s), with p the model's probabilities of the verdicts "Score: 0" .. "Score: 5"
    (summed token log-probabilities) renormalised over those six."""
    if len(logprobs) != len(SCORES):
        raise ValueError(f"expected {len(SCORES)} verdict log-probabilities, got {len(logprobs)}")
    top = max(logprobs)
    weights = [math.exp(value - top) for value in logprobs]
    total = sum(weights)
    return sum(score * weight for score, weight in zip(SCORES, weights)) / total
