"""MM-Vet scoring, as MM-Vet's own evaluator (yuweihao/MM-Vet, mm-vet_evaluator.py) does it: a judge
LLM grades each answer in 0..1 with the evaluator's prompt. Details (retries, score, lmms-eval's
differences): docs/benchmarks.md, "csr_bench/scorers/mmvet.py".
"""

from __future__ import annotations

from typing import Any, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import JudgedAggregate, Metric, ScoringContext

MMVET_PROMPT = """Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0
"""

RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "
JUDGE_MAX_TOKENS = 3  # official max_tokens
MAX_ANSWERS = 5  # answers read per sample before the official fallback score of 0.0
RETRY_TEMPERATURE_STEP = 0.5


def grading_prompt(question: str, answer: str, prediction: str) -> str:
    """The official query: prompt, newline, "question | ground truth | prediction | "."""
    truth = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return MMVET_PROMPT + "\n" + " | ".join([question, truth, prediction, ""])


def parse_score(content: str) -> float | None:
    """The text before the first space as a float in [0, 1], else None."""
    try:
        score = float(content.split(" ")[0].strip())
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 else None


def grade(judge, question: str, answer: str, prediction: str) -> dict[str, Any]:
    """One sample's grade with the official retry schedule for unparseable answers."""
    prompt = grading_prompt(question, answer, prediction)
    content = judge.complete(prompt, max_tokens=JUDGE_MAX_TOKENS, temperature=0.0)
    score, answers = parse_score(content), 1
    temperature = 0.0
    while score is None and answers < MAX_ANSWERS:
        content = judge.complete(prompt + RETRY_SUFFIX, max_tokens=JUDGE_MAX_TOKENS, temperature=temperature)
        answers += 1
        temperature += RETRY_TEMPERATURE_STEP
        score = parse_score(content)
    return {"score": 0.0 if score is None else score, "parsed": score is not None, "judge_answer": content,
            "judge_answers": answers}


def capabilities(record: dict[str, Any]) -> list[str]:
    """The hub's "rec,ocr" string (or MM-Vet's own list) as distinct capability names."""
    value = record["capability"]
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise CsrBenchError(f"MM-Vet capability must be a comma-separated string, got {value!r}")
    return list(dict.fromkeys(n.strip() for n in names if n.strip()))


class MMVetScorer(JudgedAggregate):
    name = "mmvet"
    benchmark = "MM-Vet"
    required_fields = ("question_id", "question", "answer", "capability")
    headline = ("score",)
    metrics = (
        Metric("score", "higher", "mean judge score (%)"),
        Metric("score_*", "higher", "mean judge score of the items of one capability (%)"),
        Metric("judge_unparsed", "lower", "items the judge gave no score for (scored 0)", count=True),
    )
    judge_fields = ("judge_score",)  # per-item, stored in samples.jsonl by the evaluator (for the bootstrap)

    def check_record(self, record: dict[str, Any]) -> None:
        for field in ("question", "answer"):
            if not isinstance(record[field], str):
                raise CsrBenchError(f"MM-Vet {field} must be a string, got {record[field]!r}")
        capabilities(record)

    def aggregate_items(self, records: Sequence[dict[str, Any]],
                        context: ScoringContext | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The metrics and, per record, the judge's score behind them (``judge_score``, 0-1)."""
        judge = self.judge_records(records, context)
        from csr_bench.judge import judge_map
        from csr_bench.progress import get_logger

        grades = judge_map(judge, lambda r: grade(judge, r["question"], r["answer"], r["prediction"]), records,
                           desc="mmvet judge")
        failed = [r["question_id"] for r, g in zip(records, grades) if not g["parsed"]]
        if failed:
            get_logger().warning("mmvet: no score in %d judge answers for %d sample(s), scored 0 as the official "
                                 "evaluator does: %s", MAX_ANSWERS, len(failed), ", ".join(map(str, failed[:10])))
        if context.output_dir is not None:
            _write_grades(context.output_dir / "judge_scores.jsonl", records, grades, judge)

        metrics = {"score": 100 * sum(g["score"] for g in grades) / len(grades)}
        per_cap: dict[str, list[float]] = {}
        for record, g in zip(records, grades):
            for cap in capabilities(record):
                per_cap.setdefault(cap, []).append(g["score"])
        for cap in sorted(per_cap):
            metrics[f"score_{cap}"] = 100 * sum(per_cap[cap]) / len(per_cap[cap])
        metrics["judge_unparsed"] = float(len(failed))  # samples scored 0 for want of a judge score
        return metrics, [{"judge_score": g["score"]} for g in grades]


def _write_grades(path, records, grades, judge) -> None:
    from csr_bench.storage.files import atomic_write_jsonl

    atomic_write_jsonl(path, [{"question_id": r["question_id"], "capability": r["capability"], **g,
                         "judge_model": getattr(judge, "model", None)}
             for r, g in zip(records, grades)])
