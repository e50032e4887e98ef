"""A file of truthful answers turned into a POVID-schema preference file (`csr-bench inject`):
each row's answer (chosen) and its hallucinated twin (rejected), from the rule-based or the judge
injector, written as POVID's released JSON (id, image, conversations, rejected_conversations) with
the edits kept under "injected"."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csr_bench.storage.files import read_json_or_jsonl
from csr_bench.preference_data.rows import IMAGE_TAG, clean_prompt

ANSWER_KEYS = ("answer", "chosen", "response")  # the truthful answer, by the first of these a row has
PROMPT_KEYS = ("prompt", "question")


@dataclass
class SourceRow:
    id: Any
    image: str
    human: str  # the human turn as POVID writes it: "<image>\n" + the prompt
    prompt: str  # without <image>
    answer: str


@dataclass
class InjectionOutcome:
    rows: list[dict[str, Any]]
    read: int
    skipped: Counter = field(default_factory=Counter)


def read_rows(path: Path) -> list[Any]:
    """The rows of a JSON list or a JSONL file."""
    return read_json_or_jsonl(path, "answers")


def source_row(row: Any, index: int) -> SourceRow | str:
    """The row's image, prompt and answer, or the reason it cannot be used."""
    if not isinstance(row, dict):
        return "not a JSON object"
    image = row.get("image")
    if not isinstance(image, str) or not image.strip():
        return "no image"
    row_id = row.get("id", index)
    turns = row.get("conversations")
    if turns is not None:
        if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
            return "conversations is not a list of turns"
        if len(turns) != 2:
            return "not a single question and answer (multi-turn conversation)"
        human, gpt = turns
        if human.get("from") != "human" or gpt.get("from") != "gpt":
            return "conversations are not a human turn then a gpt turn"
        question, answer = human.get("value"), gpt.get("value")
        prompt = clean_prompt(question)
        if prompt is None:
            return "no prompt"
        if not isinstance(answer, str) or not answer.strip():
            return "no answer"
        return SourceRow(row_id, image, question, prompt, answer.strip())
    question = next((row[k] for k in PROMPT_KEYS if k in row), None)
    answer = next((row[k] for k in ANSWER_KEYS if k in row), None)
    prompt = clean_prompt(question)
    if prompt is None:
        return "no prompt"
    if not isinstance(answer, str) or not answer.strip():
        return "no answer"
    return SourceRow(row_id, image, f"{IMAGE_TAG}\n{prompt}", prompt, answer.strip())


def povid_row(row: SourceRow, rejected: str, injected: list[Any]) -> dict[str, Any]:
    """POVID's released layout (its README): the same human turn in both conversations."""
    return {"id": row.id, "image": row.image,
            "conversations": [{"from": "human", "value": row.human}, {"from": "gpt", "value": row.answer}],
            "rejected_conversations": [{"from": "human", "value": row.human}, {"from": "gpt", "value": rejected}],
            "injected": injected}


def inject_rows(rows: list[Any], *, rules=None, judge=None, seed: int = 0) -> InjectionOutcome:
    """Each usable row with its hallucinated twin: ``rules`` (an InjectionRules, seeded by ``seed``
    and the row's id) or ``judge`` (a csr_bench.judge.Judge, its prompts in flight together)."""
    from csr_bench.progress import progress_bar

    outcome = InjectionOutcome([], read=len(rows))
    usable = []
    for index, row in enumerate(rows):
        parsed = source_row(row, index)
        if isinstance(parsed, str):
            outcome.skipped[parsed] += 1
        else:
            usable.append(parsed)
    results: list[tuple[str | None, list[Any], str]] = []
    if judge is not None:
        from csr_bench.judge import judge_map
        from csr_bench.preference_data.injection.judge import judge_inject

        def ask(row: SourceRow):
            made = judge_inject(judge, row.prompt, row.answer)
            if made is None:
                return None, [], "judge reply not in the ANSWER:/CHANGES: format"
            return made.text, [{"kind": "judge", "change": c} for c in made.changes], "judge returned the answer unchanged"

        results = judge_map(judge, ask, usable, desc="inject (judge)")
    else:
        from csr_bench.preference_data.injection.rules import inject

        with progress_bar(total=len(usable), desc="inject (rules)") as bar:
            for row in usable:
                made = inject(row.answer, rules, seed=f"{seed}:{row.id}")
                results.append((made.text, made.records(), "nothing to inject (no known object, colour, size or count word)"))
                bar.update(1)
    for row, (text, injected, reason) in zip(usable, results):
        if text is None:
            outcome.skipped[reason] += 1
        elif text.strip() == row.answer or (judge is None and not injected):
            outcome.skipped[reason] += 1
        else:
            outcome.rows.append(povid_row(row, text, injected))
    return outcome


__all__ = ["InjectionOutcome", "SourceRow", "inject_rows", "povid_row", "read_rows", "source_row"]
