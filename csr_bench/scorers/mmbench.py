"""MMBench (dev, en) with circular evaluation, as MMBench's own evaluation scores it (its 2023
answer-reading rules; never a random letter). Details: docs/benchmarks.md,
"csr_bench/scorers/mmbench.py".
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

from csr_bench.scorers.base import Metric, ScoringContext

CIRCULAR_OFFSET = 1_000_000
REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
            "I'm sorry, but without the image provided", "Cannot determine the answer")
JUDGE_PROMPT = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice question. "
    "You are provided with a question, several options, and an answer, and you need to find which option is most "
    "similar to the answer. If the meaning of all options are significantly different from the answer, output Z. "
    "Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: ")


def is_missing(value: Any) -> bool:
    """MMBench marks absent hints/options as NaN (float) or 'nan' strings."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "nan", "none")


def mmbench_options(doc: dict) -> dict[str, str]:
    """Options A, B, ... up to the first missing one (LLaVA's get_options); the prompt
    (tasks/prompts.py) shows the same options the rules read."""
    options = {}
    for letter in "ABCD":
        if letter not in doc or is_missing(doc[letter]):
            break
        options[letter] = str(doc[letter])
    return options


def _infer_option(answer: str, choices: dict[str, str]) -> str | None:
    if any(refusal in answer for refusal in REFUSALS):
        return "Z"
    for char in ".()[],:;!*#{}":
        answer = answer.replace(char, " ")
    words = [w.strip() for w in answer.split()]
    found = [letter for letter in choices if letter in words]
    if len(found) == 1:
        return found[0]
    if not found and sum(1 for z in ("Z", "") if z in words) == 1:
        return "Z"
    return None


def _infer_text(answer: str, choices: dict[str, str]) -> str | None:
    answer = answer.lower()
    found = [letter for letter, text in choices.items() if str(text).lower() in answer]
    return found[0] if len(found) == 1 else None


def infer_choice(answer: str, choices: dict[str, str]) -> str | None:
    """The option letter (or "Z" for none) MMBench's rules read from an answer, or None."""
    return _infer_option(answer, choices) or _infer_text(answer, choices)


def circular_groups(records: Sequence[dict[str, Any]],
                    choices: Sequence[str | None]) -> tuple[dict[int, list[bool]], dict[int, str]]:
    """Per circular group (``index % 1,000,000``, in order of first appearance): whether each copy's
    choice is right, and the group's category (its unrotated row's, else its first copy's)."""
    groups: dict[int, list[bool]] = defaultdict(list)
    category_of: dict[int, str] = {}
    for record, choice in zip(records, choices):
        base = int(record["index"]) % CIRCULAR_OFFSET
        groups[base].append(choice == record["answer"])
        if int(record["index"]) < CIRCULAR_OFFSET or base not in category_of:
            category_of[base] = str(record.get("category", ""))
    return groups, category_of


class MmbenchScorer:
    name = "mmbench"
    required_fields = ("index", "answer")
    headline = ("accuracy", "unresolved")
    metrics = (
        Metric("accuracy", "higher", "share of circular groups with every copy right (%)"),
        Metric("unresolved", "lower", "answers neither the rules nor the judge could read (counted wrong)",
               count=True),
        Metric("category_*", "higher", "circular accuracy within one category (%)"),
    )
    judge_fields = ("judge_choice",)  # stored in samples.jsonl where the judge read the answer (for the bootstrap)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        choice = infer_choice(record["prediction"], mmbench_options(record))
        return {"parsed": choice, "correct": choice == record["answer"]}

    def _judge_choice(self, record: dict[str, Any], context: ScoringContext | None) -> str | None:
        if context is None or context.judge is None:
            return None
        choices = mmbench_options(record)
        options = " ".join(f"{letter}. {text}" for letter, text in choices.items())
        stem = str(record.get("question", "")).strip().rstrip("?").strip()
        reply = context.judge.complete(JUDGE_PROMPT.format(stem, options, record["prediction"]), max_tokens=16)
        return infer_choice(reply, choices) if reply else None

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        return self.aggregate_items(records, context)[0]

    def aggregate_items(self, records: Sequence[dict[str, Any]],
                        context: ScoringContext | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The metrics and, per record the rules could not read, the judge's reading
        (``judge_choice``, None when the judge's reply is unreadable too; nothing without a judge)."""
        unresolved = 0
        choices: list[str | None] = []
        items: list[dict[str, Any]] = []
        for record in records:
            choice = infer_choice(record["prediction"], mmbench_options(record))
            items.append({})
            if choice is None:
                choice = self._judge_choice(record, context)
                unresolved += choice is None
                if context is not None and context.judge is not None:
                    items[-1] = {"judge_choice": choice}
            choices.append(choice)
        groups, category_of = circular_groups(records, choices)
        metrics = {"accuracy": 100 * sum(all(g) for g in groups.values()) / len(groups),
                   "unresolved": float(unresolved)}
        per_category: dict[str, list[bool]] = defaultdict(list)
        for base, results in groups.items():
            if category_of.get(base):
                per_category[category_of[base]].append(all(results))
        for category, results in sorted(per_category.items()):
            metrics[f"category_{category}"] = 100 * sum(results) / len(results)
        return metrics, items
