"""HELM's reference-overlap metrics for open-ended answers, as VHELM reports them beside the judge
(Bingo's second protocol): exact_match, quasi_exact_match, quasi_leave_articles_exact_match,
f1_score and rouge_l, each of one gold answer and one prediction, in 0-1 as HELM computes them.

Followed line by line from stanford-crfm/helm @ 63754d05db6f,
src/helm/benchmark/metrics/evaluate_reference_metrics.py (f1_score, rouge_l, exact_match and
quasi_exact_match unchanged since 1b3731270, 2024-01, before VHELM's runs; quasi_leave_articles_exact_match
added in 49cd8efe3, 2025-01, and in get_bingo_spec's list since then): normalize_text (from
the QuAC scorer), the exact-match variants, f1_score (nltk's f_measure of the two token *sets*) and
rouge_l (``rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)``, the F-measure). HELM strips the
prediction first (``completion.text.strip()``); so does ``reference_metrics``.

ROUGE-L is computed here as rouge-score 0.1.2 does (HELM pins ``rouge-score~=0.1.2``), so csr-bench
needs no new dependency: rouge_score/tokenize.py's tokenizer (lower-case, every run of characters
outside [a-z0-9] a space, nltk's PorterStemmer in its default NLTK_EXTENSIONS mode on tokens longer
than 3 characters, tokens outside ^[a-z0-9]+$ dropped) and rouge_score/rouge_scorer.py's
``_score_lcs`` (LCS over tokens, precision = LCS / prediction tokens, recall = LCS / target tokens,
F = 2PR / (P + R), 0 when either side has no token). A consequence HELM shares: text in a script
outside a-z (Chinese, Japanese, Arabic; accented letters split words) has no ROUGE-L tokens.
nltk is a csr-bench dependency; it is imported on first use (no downloaded nltk data is needed).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

# rouge_score/tokenize.py (google-research/rouge, rouge-score 0.1.2)
_NON_ALPHANUM_RE = re.compile(r"[^a-z0-9]+")
_SPACES_RE = re.compile(r"\s+")
_VALID_TOKEN_RE = re.compile(r"^[a-z0-9]+$")
_PUNCTUATION = set(string.punctuation)


def normalize_text(text: str, should_remove_articles: bool = True) -> str:
    """HELM's normalize_text: lower-case, drop ASCII punctuation, then the articles a/an/the, then
    collapse whitespace (in that order: "the-end" becomes "theend", whose "the" is no article)."""
    normalized = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    if should_remove_articles:
        normalized = re.sub(r"\b(a|an|the)\b", " ", normalized)
    return " ".join(normalized.split())


def exact_match(gold: str, pred: str) -> float:
    if not pred:
        return 0
    return 1 if gold.strip() == pred.strip() else 0


def quasi_exact_match(gold: str, pred: str) -> float:
    if not pred:
        return 0
    return 1 if normalize_text(gold) == normalize_text(pred) else 0


def quasi_prefix_exact_match(gold: str, pred: str) -> bool:
    """The normalised answer starts with the normalised gold ("10" for gold "1" counts; an empty answer
    never): VHELM's Unicorn metric."""
    if not pred:
        return False
    return normalize_text(pred).startswith(normalize_text(gold))


def quasi_leave_articles_exact_match(gold: str, pred: str) -> float:
    if not pred:
        return 0
    return 1 if normalize_text(gold, False) == normalize_text(pred, False) else 0


def f1_score(gold: str, pred: str) -> float:
    """nltk's f_measure of the normalised token sets (alpha 0.5); 0.0 when either side is empty."""
    from nltk.metrics.scores import f_measure

    found = f_measure(set(normalize_text(gold).split()), set(normalize_text(pred).split()))
    return 0.0 if found is None else float(found)


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import porter

    return porter.PorterStemmer()  # rouge_score/tokenizers.py's DefaultTokenizer(use_stemmer=True)


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's tokenize(text, PorterStemmer())."""
    text = _NON_ALPHANUM_RE.sub(" ", text.lower())
    stemmer = _stemmer()
    tokens = [stemmer.stem(x) if len(x) > 3 else x for x in _SPACES_RE.split(text)]
    return [x for x in tokens if _VALID_TOKEN_RE.match(x)]


def _lcs_length(ref: list[str], can: list[str]) -> int:
    """rouge_score's _lcs_table(ref, can)[-1][-1], one row at a time."""
    previous = [0] * (len(can) + 1)
    for token in ref:
        current = [0]
        for j, other in enumerate(can, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(gold: str, pred: str) -> float:
    """RougeScorer(["rougeL"], use_stemmer=True).score(gold, pred)["rougeL"].fmeasure."""
    target, prediction = rouge_tokens(gold), rouge_tokens(pred)
    if not target or not prediction:
        return 0.0
    lcs = _lcs_length(target, prediction)
    precision, recall = lcs / len(prediction), lcs / len(target)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


METRICS = {"exact_match": exact_match, "quasi_exact_match": quasi_exact_match,
           "quasi_leave_articles_exact_match": quasi_leave_articles_exact_match,
           "f1_score": f1_score, "rouge_l": rouge_l}


def reference_metrics(gold: str, prediction: str) -> dict[str, float]:
    """Each of METRICS on one gold answer and the prediction, stripped as HELM strips it."""
    pred = prediction.strip()
    return {name: float(fn(gold, pred)) for name, fn in METRICS.items()}


__all__ = ["METRICS", "normalize_text", "reference_metrics", "rouge_l", "rouge_tokens", "f1_score"]
