"""HallusionBench scoring: aAcc, fAcc and qAcc as the official evaluator defines them
(tianyi-lab/HallusionBench @ 744007c, utils.py: get_eval_all, get_eval_fig, get_eval_pair_all,
get_eval_pair_easy/hard, assign_correctness), with the yes/no answer read by VLMEvalKit's rule
(open-compass/VLMEvalKit @ e8e78f0, vlmeval/dataset/utils/yorn.py: YOrN_Extraction) instead of the
official per-answer GPT check. Answers the rule cannot read go to the judge with VLMEvalKit's
YOrN_match_prompt when one is configured; the rest are counted as ``unresolved`` and are never right
(the official denominators stay: every question, figure and question group counts). Details:
docs/benchmarks.md, "HallusionBench".
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import Metric, ScoringContext

YES, NO, UNKNOWN = "Yes", "No", "Unknown"
CATEGORIES = ("VD", "VS")  # visual dependent, visual supplement
HARD_INPUT = "2"  # visual_input 2: an edited figure (the leaderboard's "hard" questions); 0/1 are "easy"

# VLMEvalKit's judge prompt for answers its rule cannot read, verbatim (vlmeval/dataset/utils/yorn.py
# @ e8e78f0, YOrN_match_prompt), including its "Question: {}?" after a question that ends in "?".
JUDGE_PROMPT = (
    'You are an AI assistant who will help me to match an answer with two options of a question. '
    'The options are only Yes / No. '
    'You are provided with a question and an answer, '
    'and you need to find which option (Yes / No) is most similar to the answer. '
    'If the meaning of all options are significantly different from the answer, output Unknown. '
    'Your should output a single word among the following 3 choices: Yes, No, Unknown.\n'
    'Example 1: \n'
    "Question: Is the word in this image 'Hello'?\nAnswer: The word in this image is 'Hello'.\nYour output: Yes\n"
    'Example 2: \n'
    "Question: Is the word in this image 'Hello'?\n"
    "Answer: The word in this image is not 'Hello'.\nYour output: No\n"
    'Example 3: \n'
    'Question: {}?\nAnswer: {}\nYour output: '
)
JUDGE_TRIES = 5  # YOrN_auxeval: up to 5 answers, temperature 0.5 * attempt
JUDGE_TEMPERATURE_STEP = 0.5
JUDGE_MAX_TOKENS = 16  # not VLMEvalKit's (its wrapper's default); the answer is one word

# VLMEvalKit's process_punctuation (vlmeval/smp/misc.py), the VQA-style punctuation pass of its rule
_PUNCTUATION = (';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`',
                ',', '?', '!')
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_PERIOD_STRIP = re.compile(r"(?<!\d)\.(?!\d)")
_PERIOD_COUNT = 32  # VLMEvalKit passes re.UNICODE (32) where Pattern.sub takes its count: at most 32 periods go


def _strip_punctuation(text: str) -> str:
    out = text
    comma_number = _COMMA_STRIP.search(text) is not None
    for p in _PUNCTUATION:
        if p + " " in text or " " + p in text or comma_number:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, _PERIOD_COUNT)


def extract_yes_no(prediction: str) -> str:
    """"Yes", "No" or "Unknown" by VLMEvalKit's rule: lower-case, strip punctuation, split on
    whitespace; "yes" without "no" is Yes, "no" without "yes" is No, anything else Unknown."""
    words = _strip_punctuation(str(prediction).lower()).split()
    if "yes" in words and "no" not in words:
        return YES
    if "no" in words and "yes" not in words:
        return NO
    return UNKNOWN


def label_of(record: dict[str, Any]) -> str:
    """The ground truth, "Yes" (gt_answer 1) or "No" (gt_answer 0)."""
    value = str(record["gt_answer"]).strip()
    if value not in ("0", "1"):
        raise CsrBenchError(f"HallusionBench gt_answer must be '0' or '1', got {record['gt_answer']!r}")
    return YES if value == "1" else NO


def _check(record: dict[str, Any]) -> None:
    label_of(record)
    if str(record["category"]) not in CATEGORIES:
        raise CsrBenchError(f"HallusionBench category must be VD or VS, got {record['category']!r}")


def is_correct(record: dict[str, Any], answer: str) -> bool:
    """The official assign_correctness: the answer matches the label; a VS question asked without its
    figure (figure_id 0) also counts as right when the answer is uncertain (here: unreadable)."""
    if answer == UNKNOWN:
        return str(record["category"]) == "VS" and str(record["figure_id"]) == "0"
    return answer == label_of(record)


def figure_key(record: dict[str, Any]) -> tuple[str, ...] | None:
    """get_eval_fig's figure: category, subcategory, set_id, figure_id; None for VS figure 0 (no figure)."""
    if str(record["category"]) == "VS" and str(record["figure_id"]) == "0":
        return None
    return tuple(str(record[k]) for k in ("category", "subcategory", "set_id", "figure_id"))


def group_key(record: dict[str, Any]) -> tuple[str, ...]:
    """get_eval_pair_all's question group: one question asked of every figure of a set."""
    return tuple(str(record[k]) for k in ("category", "subcategory", "set_id", "question_id"))


def set_key(record: dict[str, Any]) -> tuple[str, ...]:
    """The set that holds whole figures and whole question groups (the bootstrap's unit)."""
    return tuple(str(record[k]) for k in ("category", "subcategory", "set_id"))


def _all_right(keys: Sequence[Any], correct: Sequence[bool]) -> dict[Any, bool]:
    found: dict[Any, bool] = {}
    for key, right in zip(keys, correct):
        if key is not None:
            found[key] = found.get(key, True) and bool(right)
    return found


def _share_all_right(keys: Sequence[Any], correct: Sequence[bool]) -> float | None:
    """The share (%) of the keyed units (figures, groups) whose every question is right; None for none."""
    found = _all_right(keys, correct)
    return 100 * sum(found.values()) / len(found) if found else None


def accuracies(records: Sequence[dict[str, Any]], correct: Sequence[bool]) -> dict[str, float]:
    """aAcc, fAcc, qAcc (%) over ``records``, their VD / VS parts, and the leaderboard's easy / hard
    question-pair accuracy (qAcc over the questions with visual_input 0/1, and with 2)."""
    found: dict[str, float | None] = {}
    easy = [str(r["visual_input"]) != HARD_INPUT for r in records]
    parts = [("", [True] * len(records))] + [(f"_{c}", [str(r["category"]) == c for r in records]) for c in CATEGORIES]
    for suffix, keep in parts:
        rows = [r for r, k in zip(records, keep) if k]
        right = [c for c, k in zip(correct, keep) if k]
        if rows:
            found[f"aAcc{suffix}"] = 100 * sum(map(bool, right)) / len(rows)
            found[f"fAcc{suffix}"] = _share_all_right([figure_key(r) for r in rows], right)
            found[f"qAcc{suffix}"] = _share_all_right([group_key(r) for r in rows], right)
    for suffix, keep in (("_easy", easy), ("_hard", [not e for e in easy])):
        found[f"qAcc{suffix}"] = _share_all_right([group_key(r) if k else None for r, k in zip(records, keep)],
                                                  correct)
    return {name: value for name, value in found.items() if value is not None}


def judge_answer(judge, record: dict[str, Any]) -> str:
    """VLMEvalKit's YOrN_auxeval: ask up to 5 times (temperature 0, 0.5, 1.0, ...), read each reply
    with the rule; "Unknown" when none is readable."""
    prompt = JUDGE_PROMPT.format(record["question"], record["prediction"])
    for attempt in range(JUDGE_TRIES):
        reply = judge.complete(prompt, max_tokens=JUDGE_MAX_TOKENS, temperature=JUDGE_TEMPERATURE_STEP * attempt)
        answer = extract_yes_no(reply)
        if answer != UNKNOWN:
            return answer
    return UNKNOWN


def answers(records: Sequence[dict[str, Any]]) -> list[str]:
    """Each record's reading: the rule's, else the judge's stored one (``judge_answer``), else Unknown."""
    found = []
    for record in records:
        answer = extract_yes_no(record["prediction"])
        if answer == UNKNOWN and record.get("judge_answer") in (YES, NO):
            answer = record["judge_answer"]
        found.append(answer)
    return found


class HallusionBenchScorer:
    name = "hallusionbench"
    required_fields = ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id",
                       "question", "gt_answer")
    headline = ("aAcc", "fAcc", "qAcc", "unresolved")
    metrics = (
        Metric("aAcc", "higher", "share of questions answered right (%)"),
        Metric("fAcc", "higher", "share of figures with every question on them right (%)"),
        Metric("qAcc", "higher", "share of question groups (one question over a set's figures) all right (%)"),
        Metric("qAcc_easy", "higher", "qAcc over the original-figure questions (visual_input 0/1), "
                                      "the leaderboard's 'easy aAcc' (%)"),
        Metric("qAcc_hard", "higher", "qAcc over the edited-figure questions (visual_input 2), "
                                      "the leaderboard's 'hard aAcc' (%)"),
        Metric("aAcc_*", "higher", "aAcc within one category (VD: visual dependent, VS: visual supplement) (%)"),
        Metric("fAcc_*", "higher", "fAcc within one category (VD / VS) (%)"),
        Metric("qAcc_*", "higher", "qAcc within one category (VD / VS) (%)"),
        Metric("unresolved", "lower", "answers neither the yes/no rule nor the judge could read (counted wrong)",
               count=True),
        Metric("judged", "none", "answers the rule could not read that were sent to the judge", count=True),
    )
    judge_fields = ("judge_answer",)  # the judge's Yes/No/None where the rule could not read the answer

    def check_record(self, record: dict[str, Any]) -> None:
        _check(record)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        _check(record)
        answer = extract_yes_no(record["prediction"])
        return {"parsed": answer, "correct": is_correct(record, answer)}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        return self.aggregate_items(records, context)[0]

    def aggregate_items(self, records: Sequence[dict[str, Any]],
                        context: ScoringContext | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The metrics and, per record the rule could not read, the judge's reading (``judge_answer``:
        "Yes", "No", or None when the judge's replies were unreadable too; nothing without a judge)."""
        if not records:
            raise CsrBenchError("HallusionBench: no records to score")
        for record in records:
            _check(record)
        judge = context.judge if context is not None else None
        readings = [extract_yes_no(r["prediction"]) for r in records]
        unread = [i for i, a in enumerate(readings) if a == UNKNOWN]
        items: list[dict[str, Any]] = [{} for _ in records]
        if judge is not None and unread:
            from csr_bench.judge import judge_map

            replies = judge_map(judge, lambda i: judge_answer(judge, records[i]), unread, desc="hallusionbench judge")
            for i, reply in zip(unread, replies):
                readings[i] = reply
                items[i] = {"judge_answer": reply if reply != UNKNOWN else None}
        correct = [is_correct(r, a) for r, a in zip(records, readings)]
        metrics = accuracies(records, correct)
        metrics["unresolved"] = float(sum(a == UNKNOWN for a in readings))
        metrics["judged"] = float(len(unread) if judge is not None else 0)
        return metrics, items


def set_rows(records: Sequence[dict[str, Any]], readings: Sequence[str]) -> dict[tuple[str, ...], dict[str, int]]:
    """Per question set (category, subcategory, set_id), in first-appearance order: its questions,
    figures, question groups, easy and hard groups, and how many of each are right."""
    sets: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        sets[set_key(record)].append(i)
    found = {}
    for key, members in sets.items():
        rows = [records[i] for i in members]
        right = [is_correct(records[i], readings[i]) for i in members]
        figures = _all_right([figure_key(r) for r in rows], right)
        groups = _all_right([group_key(r) for r in rows], right)
        hard = [str(r["visual_input"]) == HARD_INPUT for r in rows]
        easy_groups = _all_right([None if h else group_key(r) for r, h in zip(rows, hard)], right)
        hard_groups = _all_right([group_key(r) if h else None for r, h in zip(rows, hard)], right)
        found[key] = {"n_questions": len(rows), "n_right": sum(right),
                      "n_figures": len(figures), "n_figures_right": sum(figures.values()),
                      "n_groups": len(groups), "n_groups_right": sum(groups.values()),
                      "n_easy": len(easy_groups), "n_easy_right": sum(easy_groups.values()),
                      "n_hard": len(hard_groups), "n_hard_right": sum(hard_groups.values())}
    return found
