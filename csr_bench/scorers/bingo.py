"""Bingo (Cui et al., 2023, arXiv 2311.03287): bias (Region, OCR, Factual) and interference (image-to-
image, text-to-image) in open answers, scored two ways, each named.

``bingo``: VHELM's judge. Prometheus-Vision rates each answer 1-5 against the reference, looking at
the image, with HELM's prompt, criterion and rubric verbatim (stanford-crfm/helm @ 63754d05db6f,
src/helm/benchmark/metrics/prometheus_vision_critique_metrics.py, unchanged since c049cfbc6,
2024-06-14; run spec get_bingo_spec in src/helm/benchmark/run_specs/vlm_run_specs.py: max_tokens 200,
one respondent). The score is read from after "[RESULT]" (see ``parse_score``; HELM's own reading,
``helm_score``, is kept for comparison). Means per subcategory (the official GPT-4V script's
``main_category/subcategory`` aggregation, gzcch/Bingo @ 0d950ca^, Bingo_benchmark/bingo_gpt_eval.py),
per subset (VHELM's per-subject number) and over all (ours; neither reports one).

``bingo_rules``: HELM's rule metrics beside the judge (csr_bench/scorers/helm_text.py), per subset and
subcategory. Details and what differs: docs/benchmarks.md, "Bingo".
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import JudgedAggregate, Metric, ScoringContext, document_image, require_images
from csr_bench.scorers.sample_columns import Columns, codes, memo, ratio

# VHELM's generation instruction (get_bingo_spec), which the task's prompt puts before the question.
INSTRUCTION = "Answer the question with a complete and clear explanation in sentences without listing it out."

# HELM's METRIC_PROMPT, verbatim (its backslash-continued lines included: each leaves the next line's
# indentation in the string), split where a chat server's template takes over: HELM sends the whole
# string, prefixed with "\n", as a raw prompt to the image-to-text pipeline, with the llava-v1
# conversation wrapper ("A chat ...\nUSER:<image>" ... "ASSISTANT:\n") written into it. To an
# OpenAI-compatible server (vLLM) the wrapper's sentence goes as the system message, the part between
# as the user message after the image, and the server's chat template writes the roles and the image
# token (a literal "<image>" in the text would be a second image placeholder).
PROMPT_SYSTEM = """A chat between a curious human and an artificial intelligence assistant. \
        The assistant gives helpful, detailed, and polite answers to the human's questions."""
PROMPT_USER_PREFIX = "\nUSER:<image>"  # HELM's text between the two parts (for helm_prompt)
PROMPT_TASK = """###Task Description:
An instruction (might include an Input inside it), a response to evaluate, a reference answer that gets a score of 5, \
    image and a score rubric representing an evaluation criterion is given.
1. Write a detailed feedback that assesses the quality of the response strictly based on the given score rubric, not \
    evaluating in general.
2. After writing a feedback, write a score that is an integer between 1 and 5. You should refer to the score rubric.
3. The output format should look as follows: Feedback: (write a feedback for criteria) [RESULT] (an integer number \
    between 1 and 5)
4. Please do not generate any other opening, closing, and explanations.

###The instruction to evaluate:
{{orig_instruction}}

###Response to evaluate:
{{orig_response}}

###Reference Answer (Score 5):
{{orig_reference_answer}}

###Score Rubrics:
[{{orig_criteria}}]
Score 1: {{orig_score1_description}}
Score 2: {{orig_score2_description}}
Score 3: {{orig_score3_description}}
Score 4: {{orig_score4_description}}
Score 5: {{orig_score5_description}}

###Feedback:
"""
PROMPT_ASSISTANT = "ASSISTANT:\n"  # HELM's closing line (the server's template writes its own)

# PrometheusVisionCritiqueMetric.evaluate_generation's fields, verbatim ("reponse" [sic]).
CRITERIA = {
    "orig_criteria": "similarity between the reponse and the reference.",
    "orig_score1_description": "The model's responses do not follow the instructions provided.",
    "orig_score2_description": "The resulting response follows the instructions, but the answer \
                    is completely wrong relative to the reference answer.",
    "orig_score3_description": "The resulting response follows the instructions, but the answer is \
                    partially wrong relative to the reference answer.",
    "orig_score4_description": "The resulting response follows the instructions, the overall answer \
                    is relatively perfect with only a very few errors.",
    "orig_score5_description": "The overall answer is completely correct compared to the reference \
                    answer, and conforms to the instructions provided.",
}
JUDGE_MAX_TOKENS = 200  # get_bingo_spec: _get_prometheus_vision_critique_metric_specs(max_tokens=200)
JUDGE_TEMPERATURE = 0.0  # HELM's pipeline call passes only max_new_tokens: the model's greedy default
SCORES = range(1, 6)
SCORE_BOUNDS = (1.0, 5.0)  # the rubric's range (csr-bench table --by-aspect normalises with it)


def judge_fields(record: dict[str, Any]) -> dict[str, str]:
    """HELM's fields for one answer. ``orig_instruction`` is the request's first text part, which in
    VHELM's prompt is the instruction above, not the question (the judge never sees the question)."""
    return {"orig_instruction": INSTRUCTION, "orig_response": record["prediction"],
            "orig_reference_answer": record["reference"], **CRITERIA}


def _interpolate(text: str, fields: dict[str, str]) -> str:
    """ModelCritiqueClient._interpolate_fields: each "{{key}}" replaced in turn, in the fields' order."""
    for key, value in fields.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def judge_messages(record: dict[str, Any]) -> tuple[str, str]:
    """(system message, user message text) sent with the document image."""
    return PROMPT_SYSTEM, _interpolate(PROMPT_TASK, judge_fields(record))


def helm_prompt(record: dict[str, Any]) -> str:
    """HELM's whole filled METRIC_PROMPT (what its pipeline receives after a leading "\\n")."""
    system, user = judge_messages(record)
    return system + PROMPT_USER_PREFIX + user + PROMPT_ASSISTANT


# After "[RESULT]": an integer 1-5, optionally "Score"/":"/brackets around it; not one followed by
# a decimal part or another digit ("4.5", "45").
_AFTER_RESULT = re.compile(r"\s*(?:score\s*)?[:=]?\s*[(\[]?([1-5])[)\]]?(?!\.?\d)", re.IGNORECASE)
_MARKER = re.compile(r"\[RESULT\]", re.IGNORECASE)
# A reply that is nothing but a score ("4", "Score: 4", "4.").
_BARE = re.compile(r"\s*(?:(?:score|result|rating|similarity)\s*[:=]?\s*)?[(\[]?([1-5])[)\]]?\.?\s*", re.IGNORECASE)


def parse_score(reply: str | None) -> int | None:
    """The judge's 1-5 score: the integer right after "[RESULT]" (Prometheus's output format); several
    "[RESULT]"s must agree. A reply with no "[RESULT]" counts only when it is a bare score ("4",
    "Score: 4"). Anything else is unparsed (None), never guessed: "4.5", no score, several scores."""
    text = str(reply or "")
    markers = list(_MARKER.finditer(text))
    if markers:
        found = {int(m.group(1)) for m in (_AFTER_RESULT.match(text, marker.end()) for marker in markers) if m}
        return found.pop() if len(found) == 1 else None
    bare = _BARE.fullmatch(text)
    return int(bare.group(1)) if bare else None


def helm_score(reply: str | None) -> int | None:
    """HELM's reading, for comparison: the first digit 1-5 anywhere in the completion
    (``re.search(r"\\s*([1-5])", ...)`` on the text after "ASSISTANT:"), so a digit in the feedback
    ("2 of the 3 objects") wins over the score after "[RESULT]"."""
    found = re.search(r"\s*([1-5])", str(reply or ""))
    return int(found.group(1)) if found else None


# --- subsets, subcategories and the metric keys ---------------------------------------------------

def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).strip().lower()).strip("_")


def group_name(record: dict[str, Any]) -> str:
    """"t2i/cor" for subset t2i, subcategory cor (keys: lower case, runs of other characters "_")."""
    return f"{_key(record['subset'])}/{_key(record['subcategory'])}"


def _check(record: dict[str, Any]) -> None:
    for field in ("subset", "subcategory", "question", "reference"):
        if not isinstance(record.get(field), str) or not record[field].strip():
            raise CsrBenchError(f"Bingo {field} must be a non-empty string, got {record.get(field)!r}")
    if not all(group_name(record).split("/")):
        raise CsrBenchError(f"Bingo subset/subcategory {record['subset']!r}/{record['subcategory']!r} has no name")


def _group_columns(records: Sequence[dict[str, Any]]) -> tuple[Columns, list[str]]:
    """The subcategory of each record as a code into the sorted "subset/subcategory" names (the strata)."""
    subcategory, names = codes([group_name(r) for r in records])  # never "": _check requires both parts
    return {"subcategory": subcategory}, names


def _mask(columns: Columns, codes: tuple[int, ...] | None) -> Any:
    if codes is None:
        return True
    return memo(columns, ("bingo", codes), lambda: np.isin(columns["subcategory"], codes))


def groups(names: list[str]) -> list[tuple[str, tuple[int, ...] | None]]:
    """(key suffix, subcategory codes): "" for all, "_<subset>" for each subset, then
    "_<subset>_<subcategory>" for each subcategory."""
    subsets: dict[str, list[int]] = {}
    for code, name in enumerate(names):
        subsets.setdefault(name.split("/")[0], []).append(code)
    return ([("", None)] + [(f"_{s}", tuple(c)) for s, c in sorted(subsets.items())]
            + [("_" + name.replace("/", "_"), (code,)) for code, name in enumerate(names)])


# --- the judge protocol -----------------------------------------------------------------------------

def sample_columns(records: Sequence[dict[str, Any]], scores: Sequence[int | None]) -> tuple[Columns, list[str]]:
    """One row per judged answer: its score (0 where unparsed), whether it was parsed, its subcategory."""
    columns, names = _group_columns(records)
    columns["score"] = np.array([0 if s is None else s for s in scores], dtype=float)
    columns["parsed"] = np.array([s is not None for s in scores], dtype=int)
    return columns, names


def metric_functions(columns: Columns, names: list[str]) -> dict[str, Any]:
    """score, score_<subset>, score_<subset>_<subcategory>: means of the parsed scores (unparsed left out,
    as both the official script and HELM skip them); shared by the aggregate and the bootstrap."""
    def mean(codes):
        def fn(c: Columns) -> np.ndarray:
            kept = c["parsed"] * _mask(c, codes)
            return ratio(np.sum(c["score"] * kept, -1), np.sum(kept, -1))
        return fn
    return {f"score{suffix}": mean(codes) for suffix, codes in groups(names)}


def judged_metrics(columns: Columns, names: list[str]) -> dict[str, float]:
    """The means with at least one parsed score (a subcategory whose every reply was unparsed has none)."""
    functions = metric_functions(columns, names)
    return {f"score{suffix}": float(functions[f"score{suffix}"](columns)) for suffix, codes in groups(names)
            if np.sum(columns["parsed"] * _mask(columns, codes)) > 0}


class BingoScorer(JudgedAggregate):
    name = "bingo"
    benchmark = "Bingo"
    required_fields = ("subset", "subcategory", "question", "reference")
    headline = ("score",)
    metrics = (
        Metric("score", "higher", "mean Prometheus-Vision score over all answers, 1-5 (ours: the official "
                                  "script and VHELM report none over all)", bounds=SCORE_BOUNDS),
        Metric("score_*_*", "higher", "mean judge score of one subcategory, 1-5 (the official aggregation)",
               bounds=SCORE_BOUNDS),
        Metric("score_*", "higher", "mean judge score of one subset, 1-5 (VHELM's per-subject number)",
               bounds=SCORE_BOUNDS),
        Metric("judge_unparsed", "lower", "judge replies with no readable 1-5 score (left out of the means)",
               count=True),
        Metric("judge_helm_differs", "none", "replies HELM's first-digit reading scores otherwise than the "
                                             "[RESULT] reading", count=True),
    )
    judge_fields = ("judge_score",)  # per item (None: unparsed), stored in samples.jsonl for the bootstrap

    def check_record(self, record: dict[str, Any]) -> None:
        _check(record)

    def aggregate_items(self, records: Sequence[dict[str, Any]],
                        context: ScoringContext | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
        judge = self.judge_records(records, context)
        require_images(context, "Bingo")  # skipped, with the reason, before any request
        from csr_bench.judge import judge_map
        from csr_bench.progress import get_logger

        def ask(record: dict[str, Any]) -> str:
            system, user = judge_messages(record)
            return judge.complete(user, system=system, max_tokens=JUDGE_MAX_TOKENS, temperature=JUDGE_TEMPERATURE,
                                  images=[document_image(context, record, "Bingo")])

        replies = judge_map(judge, ask, records, desc="bingo judge")
        scores = [parse_score(reply) for reply in replies]
        failed = [i for i, s in enumerate(scores) if s is None]
        if failed:
            get_logger().warning("bingo: no readable [RESULT] score in %d judge replies, left out of the means "
                                 "(records %s)", len(failed), ", ".join(map(str, failed[:10])))
        if context.output_dir is not None:
            _write_scores(context.output_dir / "judge_scores.jsonl", records, replies, scores, judge)
        columns, names = sample_columns(records, scores)
        metrics = judged_metrics(columns, names)
        metrics["judge_unparsed"] = float(len(failed))
        metrics["judge_helm_differs"] = float(sum(helm_score(r) != s for r, s in zip(replies, scores)))
        return metrics, [{"judge_score": s} for s in scores]


def _write_scores(path, records, replies, scores, judge) -> None:
    from csr_bench.storage.files import atomic_write_jsonl

    atomic_write_jsonl(path, [{"doc_id": r.get("doc_id", i), "subset": r["subset"], "subcategory": r["subcategory"],
                         "score": s, "parsed": s is not None, "helm_score": helm_score(reply),
                         "judge_answer": reply, "judge_model": getattr(judge, "model", None)}
             for i, (r, reply, s) in enumerate(zip(records, replies, scores))])


def judged_columns(samples: Sequence[dict[str, Any]]) -> tuple[Columns, list[str]]:
    """unit_stats: the columns of stored samples (their ``judge_score``, null where unparsed)."""
    scores = []
    for record in samples:
        value = record["judge_score"]
        if value is not None and (isinstance(value, bool) or value not in SCORES):
            raise ValueError(f"judge_score {value!r} is not 1-5 or null")
        scores.append(value)
    return sample_columns(samples, scores)


# --- the rule protocol ------------------------------------------------------------------------------

RULE_MEASURES = ("exact_match", "quasi_exact_match", "quasi_leave_articles_exact_match", "f1_score", "rouge_l")
RULE_BY_GROUP = ("f1_score", "rouge_l")  # also per subset and subcategory


def rule_columns(records: Sequence[dict[str, Any]]) -> tuple[Columns, list[str]]:
    """One row per answer: HELM's five measures of it against the reference (0-1), and its subcategory."""
    from csr_bench.scorers.helm_text import reference_metrics

    columns, names = _group_columns(records)
    measured = [reference_metrics(r["reference"], r["prediction"]) for r in records]
    for name in RULE_MEASURES:
        columns[name] = np.array([m[name] for m in measured], dtype=float)
    return columns, names


def rule_functions(columns: Columns, names: list[str]) -> dict[str, Any]:
    """Each measure's mean over all answers (x100), and f1_score's and rouge_l's per subset and subcategory."""
    def mean(measure, codes):
        def fn(c: Columns) -> np.ndarray:
            mask = _mask(c, codes) * np.ones(c[measure].shape)
            return 100 * ratio(np.sum(c[measure] * mask, -1), np.sum(mask, -1))
        return fn
    found = {m: mean(m, None) for m in RULE_MEASURES}
    for measure in RULE_BY_GROUP:
        found.update({f"{measure}{suffix}": mean(measure, codes) for suffix, codes in groups(names)[1:]})
    return found


class BingoRulesScorer:
    name = "bingo_rules"
    required_fields = ("subset", "subcategory", "question", "reference")
    headline = ("rouge_l", "f1_score")
    metrics = (
        Metric("rouge_l", "higher", "HELM's ROUGE-L F-measure against the reference (x100)"),
        Metric("f1_score", "higher", "HELM's F1 of the normalised word sets against the reference (x100)"),
        Metric("exact_match", "higher", "answers equal to the reference after stripping (%)"),
        Metric("quasi_exact_match", "higher", "answers equal to the reference after HELM's normalisation (%)"),
        Metric("quasi_leave_articles_exact_match", "higher",
               "answers equal to the reference after normalisation that keeps articles (%)"),
        Metric("rouge_l_*_*", "higher", "ROUGE-L of one subcategory (x100)"),
        Metric("rouge_l_*", "higher", "ROUGE-L of one subset (x100)"),
        Metric("f1_score_*_*", "higher", "F1 of one subcategory (x100)"),
        Metric("f1_score_*", "higher", "F1 of one subset (x100)"),
    )

    def check_record(self, record: dict[str, Any]) -> None:
        _check(record)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        """HELM's measures of this answer (0-1), stored beside it."""
        _check(record)
        from csr_bench.scorers.helm_text import reference_metrics

        return reference_metrics(record["reference"], record["prediction"])

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        if not records:
            raise CsrBenchError("Bingo: no records to score")
        for record in records:
            _check(record)
        columns, names = rule_columns(records)
        return {name: float(fn(columns)) for name, fn in rule_functions(columns, names).items()}


__all__ = ["BingoRulesScorer", "BingoScorer", "INSTRUCTION", "helm_prompt", "helm_score", "judge_messages",
           "parse_score", "rule_columns", "rule_functions", "judged_columns", "metric_functions"]
