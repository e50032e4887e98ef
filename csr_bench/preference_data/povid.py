"""POVID (YiyangAiLab/POVID_preference_data_for_VLLMs, arXiv 2402.11411): ground-truth answers
(chosen) and their GPT-4V hallucination-injected twins (rejected), over COCO train2014 images.

Hub layout (the repo's README and the hub file list, ../shared/research/siblings.md §1): one JSON
list, now ``POVID_preference_data_for_VLLMs_version_1.json``, of LLaVA conversations:
{"id", "image", "conversations": [{"from": "human", "value": "<image>\\nQ"}, {"from": "gpt", ...}],
"rejected_conversations": [same human turn, {"from": "gpt", <hallucinated>}]}. "image" is a COCO
file name, possibly prefixed "./data/coco/": resolved by its base name in --prompt-images (the
reference joins it with --image_folder, train_dpo.py L662). The "<image>" tag and its newline are
removed from the human turn. Only single-turn rows are used (the exact row count and whether any
row is multi-turn: unverified).
"""

from __future__ import annotations

from pathlib import Path

from csr_bench.preference_data import rows as R
from csr_bench.preference_data.base import SourceContext
from csr_bench.preference_data.records import read_json_rows, table_files

SCHEMA = "povid"
MULTI_TURN = "multi-turn conversation (only one question and answer is supported)"
PROMPTS_DIFFER = "chosen and rejected conversations ask different questions"


def matches(keys: set[str]) -> bool:
    return {"conversations", "rejected_conversations"} <= keys


def _turns(conversation) -> tuple[str | None, str | None, str | None]:
    """(reason, question, answer) of a [human, gpt] conversation."""
    if not isinstance(conversation, list) or not conversation:
        return R.MISSING.format("conversation"), None, None
    turns = [t for t in conversation if isinstance(t, dict)]
    if len(turns) != len(conversation) or len(turns) > 2:
        return MULTI_TURN, None, None
    if len(turns) < 2 or turns[0].get("from") != "human" or turns[1].get("from") != "gpt":
        return "conversation is not one human turn then one gpt turn", None, None
    return None, R.clean_prompt(turns[0].get("value")), turns[1].get("value")


def read(path: Path, context: SourceContext) -> R.Reading:
    files = table_files(path)
    reading = R.Reading(details={"file": ", ".join(str(f) for f in files)})
    for index, row in enumerate(row for f in files for row in read_json_rows(f)):
        reading.rows += 1
        reason, question, chosen = _turns(row.get("conversations"))
        if not reason:
            reason, rejected_question, rejected = _turns(row.get("rejected_conversations"))
            if not reason and rejected_question != question:
                reason = PROMPTS_DIFFER
        if not reason:
            reason, texts = R.check_texts(question, chosen, rejected)
        if reason:
            reading.skipped[reason] += 1
            continue
        candidate = R.Candidate(str(row.get("id", index)), *texts)
        reason = R.attach_image(candidate, None, row.get("image"), context, reading)
        if reason:
            reading.skipped[reason] += 1
            continue
        candidate.extra["image_name"] = Path(str(row.get("image"))).name
        reading.candidates.append(candidate)
    return reading
