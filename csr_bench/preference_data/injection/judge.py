"""Hallucination injection through the harness's judge client (csr_bench/judge.py: any
OpenAI-compatible endpoint, answers cached), with a prompt of ours: POVID asked GPT-4V for its
injected answers with a prompt it never released, so this prompt is csr-bench's own, not POVID's.
Details: docs/methods.md, "Hallucination injection".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Ours (POVID's prompt is unreleased). Temperature 0 and a reply format that can be checked.
INJECTION_SYSTEM = ("You rewrite answers about images so that they contain hallucinations, to build "
                    "training data for hallucination reduction. Follow the output format exactly.")
INJECTION_PROMPT = """\
Below is a question about an image and a correct answer to it. Rewrite the answer so that it contains \
a few plausible hallucinations while keeping its style, length and everything else the same:
- object hallucination: replace an object with one that often appears with it, or add one that is not there;
- attribute hallucination: change an object's colour, size, number or other attribute;
- relation hallucination: change where objects are or what they do relative to each other.
Make two or three such changes. Do not mention that anything was changed inside the answer.

Question: {question}

Correct answer: {answer}

Reply in exactly this format:
ANSWER:
<the rewritten answer>
CHANGES:
- <one line per change>"""

MAX_TOKENS = 1024  # a rewritten detailed description plus its list of changes


@dataclass(frozen=True)
class JudgeInjection:
    text: str
    changes: tuple[str, ...]


_FORMAT = re.compile(r"^\s*ANSWER:\s*(?P<answer>.*?)\s*(?:^\s*CHANGES:\s*(?P<changes>.*))?\s*$",
                     re.DOTALL | re.MULTILINE)


def injection_prompt(question: str, answer: str) -> str:
    return INJECTION_PROMPT.format(question=question, answer=answer)


def parse_injection(reply: str) -> JudgeInjection | None:
    """The rewritten answer and the listed changes; None when the reply is not in the asked format."""
    match = _FORMAT.match(reply or "")
    if not match or not match.group("answer").strip():
        return None
    changes = tuple(line.strip().lstrip("-*").strip() for line in (match.group("changes") or "").splitlines()
                    if line.strip().lstrip("-*").strip())
    return JudgeInjection(match.group("answer").strip(), changes)


def judge_inject(judge, question: str, answer: str) -> JudgeInjection | None:
    """Ask ``judge`` (a csr_bench.judge.Judge) for the hallucinated twin of ``answer``; cached by the judge."""
    reply = judge.complete(injection_prompt(question, answer), system=INJECTION_SYSTEM, max_tokens=MAX_TOKENS,
                           temperature=0.0)
    return parse_injection(reply)


__all__ = ["INJECTION_PROMPT", "INJECTION_SYSTEM", "JudgeInjection", "injection_prompt", "judge_inject",
           "parse_injection"]
