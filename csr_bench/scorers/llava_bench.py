"""LLaVA-Bench (in-the-wild) scoring, as LLaVA's eval_gpt_review_bench.py + summarize_gpt_review.py,
so scores compare with LLaVA's: a judge rates the model's answer against the reference answer.
Details (prompt, unparsed reviews, relative score): docs/benchmarks.md, "csr_bench/scorers/llava_bench.py".
"""

from __future__ import annotations

from typing import Any, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import JudgedAggregate, Metric, ScoringContext

SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
JUDGE_TEMPERATURE = 0.2  # official; the answers are cached, so re-scoring is reproducible anyway
JUDGE_MAX_TOKENS = 1024  # official --max-tokens default
ROLE = "Assistant"

_RULE = ("We would like to request your feedback on the performance of two AI assistants in response to the user "
         "question displayed above. The user asks the question on observing an image. For your reference, the visual "
         "content in the image is represented with a few sentences describing the image. \nPlease rate the "
         "helpfulness, relevance, accuracy, level of details of their responses. Each assistant receives an overall "
         "score on a scale of 1 to 10, where a higher score indicates better overall performance.\nPlease first "
         "output a single line containing only two values indicating the scores for Assistant 1 and 2, "
         "respectively. The two scores are separated by a space.\nIn the subsequent line, please provide a "
         "comprehensive explanation of your evaluation, avoiding any potential bias and ensuring that the order in "
         "which the responses were presented does not affect your judgment.")
# rule.json's "llava_bench_<category>" entries (role "Assistant" for all three).
RULES = {"conv": _RULE, "detail": _RULE, "complex": _RULE}
CATEGORIES = tuple(RULES)


def _category(record: dict[str, Any]) -> str:
    category = record["category"]
    if category not in RULES:
        raise CsrBenchError(f"LLaVA-Bench category must be one of {', '.join(CATEGORIES)}, got {category!r}")
    return category


def review_prompt(record: dict[str, Any]) -> str:
    """The official review request for one record (question, caption, gpt_answer, prediction)."""
    caption = record["caption"]
    context = "\n".join(caption) if isinstance(caption, (list, tuple)) else str(caption)
    rule = RULES[_category(record)]
    return (f"[Context]\n{context}\n\n"
            f"[Question]\n{record['question']}\n\n"
            f"[{ROLE} 1]\n{record['gpt_answer']}\n\n[End of {ROLE} 1]\n\n"
            f"[{ROLE} 2]\n{record['prediction']}\n\n[End of {ROLE} 2]\n\n"
            f"[System]\n{rule}\n\n")


def parse_scores(review: str) -> list[float]:
    """[reference score, model score] from the review's first line, or [-1, -1] (official parse_score)."""
    try:
        words = review.split("\n")[0].replace(",", " ").split(" ")
        if len(words) == 2:
            return [float(words[0]), float(words[1])]
    except ValueError:
        pass
    return [-1, -1]


def relative_score(pairs: Sequence[Sequence[float]]) -> float | None:
    reference = sum(p[0] for p in pairs)
    return 100 * sum(p[1] for p in pairs) / reference if reference else None


class LlavaBenchScorer(JudgedAggregate):
    name = "llava_bench"
    benchmark = "LLaVA-Bench"
    required_fields = ("question_id", "question", "caption", "gpt_answer", "category")
    headline = ("score",)
    metrics = (
        Metric("score", "higher", "the model's judge scores relative to the reference answer's (%)"),
        *(Metric(f"score_{category}", "higher", f"relative score of the {category} questions (%)")
          for category in CATEGORIES),
        Metric("judge_unparsed", "lower", "reviews without two scores (counted as [-1, -1])", count=True),
    )
    judge_fields = ("judge_scores",)  # per-item, stored in samples.jsonl by the evaluator (for the bootstrap)

    def check_record(self, record: dict[str, Any]) -> None:
        _category(record)

    def aggregate_items(self, records: Sequence[dict[str, Any]],
                        context: ScoringContext | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The metrics and, per record, the parsed review behind them (``judge_scores``: [reference, model])."""
        judge = self.judge_records(records, context)
        from csr_bench.judge import judge_map
        from csr_bench.progress import get_logger

        def review(record: dict[str, Any]) -> str:
            return judge.complete(review_prompt(record), system=SYSTEM, max_tokens=JUDGE_MAX_TOKENS,
                                  temperature=JUDGE_TEMPERATURE)

        reviews = judge_map(judge, review, records, desc="llava_bench judge")
        pairs = [parse_scores(text) for text in reviews]
        failed = [r["question_id"] for r, p in zip(records, pairs) if p == [-1, -1]]
        if failed:
            get_logger().warning("llava_bench: %d review(s) without two scores on the first line, counted as "
                                 "[-1, -1] as the official script does: %s", len(failed),
                                 ", ".join(map(str, failed[:10])))
        if context.output_dir is not None:
            _write_reviews(context.output_dir / "judge_reviews.jsonl", records, reviews, pairs, judge)

        metrics: dict[str, float] = {}
        groups = {"score": pairs}
        for category in CATEGORIES:
            chosen = [p for r, p in zip(records, pairs) if r["category"] == category]
            if chosen:
                groups[f"score_{category}"] = chosen
        for key, chosen in groups.items():
            value = relative_score(chosen)
            if value is None:
                get_logger().warning("llava_bench: %s left out: the reference answers' scores sum to 0", key)
            else:
                metrics[key] = value
        metrics["judge_unparsed"] = float(len(failed))  # reviews counted as [-1, -1]
        return metrics, [{"judge_scores": list(pair)} for pair in pairs]


def _write_reviews(path, records, reviews, pairs, judge) -> None:
    """The official review file's fields (question_id, category, content, tuple) plus the judge model."""
    from csr_bench.storage.files import atomic_write_jsonl

    atomic_write_jsonl(path, [{"question_id": r["question_id"], "category": f"llava_bench_{r['category']}",
                         "content": text, "tuple": pair, "judge_model": getattr(judge, "model", None)}
             for r, text, pair in zip(records, reviews, pairs)])
