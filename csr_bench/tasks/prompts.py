"""Prompt builders for tasks whose prompt is not a plain template (optional hints and options).

A task YAML names one with ``prompt_builder: NAME`` instead of ``prompt``. Each reproduces the
prompt LLaVA-1.5's evaluation used (see ../shared/protocols.md), so scores stay comparable.
"""

from __future__ import annotations

from typing import Callable

from csr_bench.prompt_text import LETTER_SUFFIX, LETTERS, SHORT_SUFFIX
from csr_bench.scorers.mmbench import is_missing, mmbench_options


def mme(doc: dict) -> str:
    # LLaVA-1.5 swaps MME's own instruction for its short-answer one.
    return doc["question"].replace(" Please answer yes or no.", SHORT_SUFFIX)


def seed(doc: dict) -> str:
    options = "\n".join(f"{letter}. {doc[f'choice_{letter.lower()}']}" for letter in "ABCD")
    return f"{doc['question']}\n{options}{LETTER_SUFFIX}"


def scienceqa(doc: dict) -> str:
    context = f"Context: {doc['hint']}\n" if not is_missing(doc.get("hint")) else ""
    options = "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(doc["choices"]))
    return f"{context}{doc['question']}\n{options}{LETTER_SUFFIX}"


def mmbench(doc: dict) -> str:
    question = doc["question"]
    if not is_missing(doc.get("hint")):
        question = f"{doc['hint']}\n{question}"
    for letter, option in mmbench_options(doc).items():
        question += f"\n{letter}. {option}"
    return question + LETTER_SUFFIX


def amber_world(doc: dict) -> str:
    """AMBER's query for a description; a yes/no question followed by LLaVA-1.5's short-answer instruction,
    the only form in which the world VLM learned to answer yes/no (without it, it describes the image:
    docs/world-benchmarks.md, "The AMBER-like task"). Ours, not AMBER's: AMBER adds no instruction."""
    return doc["query"] if doc["part"] == "generative" else doc["query"] + SHORT_SUFFIX


PROMPT_BUILDERS: dict[str, Callable[[dict], str]] = {
    "mme": mme, "seed": seed, "scienceqa": scienceqa, "mmbench": mmbench, "amber_world": amber_world}
