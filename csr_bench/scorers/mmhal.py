"""MMHal-Bench scoring, as LLaVA-RLHF's evaluator does it (llava-rlhf/LLaVA-RLHF @ 830a083,
Eval/eval_gpt_mmhal.py and Eval/summarize_gpt_mmhal.py): a judge LLM rates each answer 0-6 with the
evaluator's prompt, given the image's contents (OpenImages labels), the question and the standard
answer; the mean rating and the hallucination rate (share of ratings below 3). Details:
docs/benchmarks.md, "MMHal-Bench".
"""

from __future__ import annotations

from typing import Any, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import JudgedAggregate, Metric, ScoringContext

# The judge prompt, verbatim: llava-rlhf/LLaVA-RLHF @ 830a083fd83e607da3c35f2e6aef833523c1e722,
# Eval/eval_gpt_mmhal.py, ``template`` (its "evalutation" typo included). Its four {} are the image
# contents (", "-joined), the question, the standard answer and the response.
TEMPLATE = '''Please act as an impartial and objective judge and evaluate the quality of the response provided by a Large Multimodal Model (LMM) to the user question. Your evaluation should be mainly based on whether the response is informative, and whether the response contains any hallucination. Hallucination, in this context, refers to a situation where the LMM generates a response that includes information not present or implied in the image or previous conversation. A hallucination could be a false claim about an object, action, emotion, or any other detail that is not grounded in the image.

For clarity, consider these examples:

### Example 1:
- Image Contents: Lynx, Cat
- Question: How many cats can you see in this image?
- Standard Human-Generated Answer: There are two cats visible in the image.
- LMM Response to Evaluate: There is one cat in the image.
- Analysis: The LMM's response is false because it claims there is only one cat in the image, when in fact there are two.
- Hallucination: Yes.

### Example 2:
- Image Contents: Tree, Plant, Panda, Animal
- Question: What can you see from this photo?
- Standard Human-Generated Answer: In this photo we can see branches. We can see a panda on a branch. The background is blurry.
- LMM Response to Evaluate: In the photo, I can see a large black and white panda sitting on a tree branch. The image captures the panda's unique appearance and its natural habitat, showcasing the beauty and rarity of these animals.
- Analysis: The LMM's response is not false because it does not make any false claims about the image contents. For example, it does not claim that the panda is eating bamboo.
- Hallucination: No.

### Example 3:
- Image Contents: Fashion accessory, Mammal, Dog, Umbrella
- Question: Describe this image in details.
- Standard Human-Generated Answer: In this picture I can see a dog laying under a yellow umbrella on a beach, and there is a rope on the right side. In the background I can see few persons talking or lying. At the top of the image, I can see the blue and clear sky.
- LMM Response to Evaluate: The image features a brown dog laying on the sand at the beach, underneath a yellow umbrella. The dog is positioned near the water, and there are people in the background. The beach is sandy, and the sun is shining, creating a pleasant atmosphere. The dog is enjoying the shade provided by the umbrella, which is a common way to protect pets from the sun's harmful rays. The presence of people in the background suggests that the beach is a popular spot for leisure activities, such as sunbathing, swimming, and relaxing.
- Analysis: The LMM's response is false because it claims that the dog is positioned near the water, but there is no water in the image.
- Hallucination: Yes.

### Example 4:
- Image Contents: Clothing, Luggage and bags, Man, Building, Woman, Person
- Question: Where is this photo taken?
- Standard Human-Generated Answer: From the slogan "Welcome to Houston, Texas", we can infer that this photo is taken at an airport in Houston, Texas.
- LMM Response to Evaluate: This photo is taken at an airport, specifically at the entrance of a terminal. However, the specific location of this airport cannot be determined from the image.
- Analysis: Although the LMM's response does not explicitly mention the location "Houston, Texas" and does not perfectly answer the question, it makes no false claims about the image contents. Therefore, this response is not considered hallucination. It is OK if the LMM fails to directly answer the question, expresses uncertainty, or cannot include all the objects or details in the human-generated answer.
- Hallucination: No.

### Example 5:
- Image Contents: Tree, Tower
- Question: What environmental concerns are involved in this photo?
- Standard Human-Generated Answer: This photo shows a smokestack emitting smoke. It may cause severe air pollution which threatens human health.
- LMM Response to Evaluate: In the photo, there are several environmental concerns related to the smokestack emitting smoke. The smoke from the smokestack is a byproduct of industrial processes, which can contribute to air pollution, climate change, and negative impacts on human health. The smoke contains harmful pollutants, such as particulate matter, sulfur dioxide, nitrogen oxides, and carbon monoxide, which can lead to respiratory problems, heart disease, and other health issues. Additionally, the smoke contributes to the greenhouse effect, which can lead to global warming and climate change. The smokestack's emissions also affect the environment, as they can harm wildlife, vegetation, and ecosystems. Therefore, it is essential to address these environmental concerns by implementing measures to reduce emissions and promote sustainable practices in industrial processes.
- Analysis: Although the LMM's response is significantly longer than the standard human-generated answer, it does not contain any false claims about the image contents. Instead, it provides additional general information about the environmental concerns, which can be inferred from the smoke emission. Such detailed analysis or reasoning should be considered as a positive aspect, as long as it contains no false claims.
- Hallucination: No.

With these examples in mind, please help me evaluate whether the response by the LMM is informative, and whether hallucination exists in it, based on the comparison between the LMM's response and the factual information provided in the image contents, question, and the standard human-generated answer below.

Please note that the standard human-generated answer may only contain factual information but may not give a detailed analysis. Also, the standard human-generated answer may not be completely comprehensive in describing all the objects and their attributes, so please be a bit more cautious during evalutation. LMM's detailed analysis or reasoning should be encouraged.

To evaluate the LMM responses, first, begin your evaluation by providing a short explanation. Second, after providing your explanation, you must rate the response by choosing from the following options:
- Rating: 6, very informative with good analysis or reasoning, no hallucination
- Rating: 5, very informative, no hallucination
- Rating: 4, somewhat informative, no hallucination
- Rating: 3, not informative, no hallucination
- Rating: 2, very informative, with hallucination
- Rating: 1, somewhat informative, with hallucination
- Rating: 0, not informative, with hallucination

### Image Contents
{}

### Question
{}

### Standard Human-Generated Answer
{}

### LMM Response to Evaluate
{}
'''

RATINGS = range(7)
HALLUCINATION_BELOW = 3  # ratings 0-2 say "with hallucination"
JUDGE_TEMPERATURE = 0.0  # the official request's temperature
JUDGE_MAX_TOKENS = 1024  # the official request sets none (the API's default); the judge explains, then rates


def image_contents(record: dict[str, Any]) -> str:
    """The official ", ".join of the image's OpenImages labels (a list, or already one string)."""
    value = record["image_content"]
    if isinstance(value, dict) and isinstance(value.get("class"), list):  # the loading script's Sequence({class})
        value = value["class"]
    if isinstance(value, str):
        return value
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise CsrBenchError(f"MMHal-Bench image_content must be a list of labels, got {value!r}")
    return ", ".join(value)


def judge_prompt(record: dict[str, Any]) -> str:
    return TEMPLATE.format(image_contents(record), record["question"], record["gt_answer"], record["prediction"])


def parse_rating(content: str) -> int | None:
    """The official parse: the ratings s in 0..6 whose "rating: s" occurs in the lower-cased reply;
    exactly one is the rating, none or several give None (the official script then scores 0)."""
    text = str(content).lower()
    found = [s for s in RATINGS if f"rating: {s}" in text]
    return found[0] if len(found) == 1 else None


def _check(record: dict[str, Any]) -> None:
    for field in ("question", "gt_answer"):
        if not isinstance(record[field], str):
            raise CsrBenchError(f"MMHal-Bench {field} must be a string, got {record[field]!r}")
    image_contents(record)


class MmhalScorer(JudgedAggregate):
    name = "mmhal"
    benchmark = "MMHal-Bench"
    required_fields = ("question_type", "image_content", "question", "gt_answer")
    headline = ("score", "hallucination_rate")
    metrics = (
        Metric("score", "higher", "mean judge rating, 0-6", bounds=(0.0, 6.0)),
        Metric("hallucination_rate", "lower", "share of answers rated below 3, i.e. with hallucination (%)"),
        Metric("score_*", "higher", "mean judge rating of one question type, 0-6", bounds=(0.0, 6.0)),
        Metric("judge_unparsed", "lower", "judge replies with no single 'Rating: N' (rated 0, as the official "
                                          "script does)", count=True),
    )
    judge_fields = ("judge_rating",)  # per item, stored in samples.jsonl by the evaluator (for the bootstrap)

    def check_record(self, record: dict[str, Any]) -> None:
        _check(record)


    def aggregate_items(self, records: Sequence[dict[str, Any]],
                        context: ScoringContext | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The metrics and, per record, the rating behind them (``judge_rating``, 0-6)."""
        judge = self.judge_records(records, context)
        from csr_bench.judge import judge_map
        from csr_bench.progress import get_logger

        replies = judge_map(judge, lambda r: judge.complete(judge_prompt(r), max_tokens=JUDGE_MAX_TOKENS,
                                                            temperature=JUDGE_TEMPERATURE), records, desc="mmhal judge")
        parsed = [parse_rating(reply) for reply in replies]
        ratings = [0 if p is None else p for p in parsed]
        failed = [i for i, p in enumerate(parsed) if p is None]
        if failed:
            get_logger().warning("mmhal: no single 'Rating: N' in %d judge replies, rated 0 as the official script "
                                 "does (records %s)", len(failed), ", ".join(map(str, failed[:10])))
        if context.output_dir is not None:
            _write_ratings(context.output_dir / "judge_scores.jsonl", records, replies, parsed, judge)
        return rating_metrics(records, ratings, len(failed)), [{"judge_rating": r} for r in ratings]


def rating_metrics(records: Sequence[dict[str, Any]], ratings: Sequence[float], unparsed: int) -> dict[str, float]:
    metrics = {"score": sum(ratings) / len(ratings),
               "hallucination_rate": 100 * sum(r < HALLUCINATION_BELOW for r in ratings) / len(ratings)}
    per_type: dict[str, list[float]] = {}
    for record, rating in zip(records, ratings):
        per_type.setdefault(str(record["question_type"]), []).append(rating)
    for name in sorted(per_type):
        metrics[f"score_{name}"] = sum(per_type[name]) / len(per_type[name])
    metrics["judge_unparsed"] = float(unparsed)
    return metrics


def _write_ratings(path, records, replies, parsed, judge) -> None:
    from csr_bench.storage.files import atomic_write_jsonl

    atomic_write_jsonl(path, [{"doc_id": r.get("doc_id", i), "question_type": r["question_type"],
                         "rating": 0 if p is None else p, "parsed": p is not None, "judge_answer": reply,
                         "judge_model": getattr(judge, "model", None)}
             for i, (r, reply, p) in enumerate(zip(records, replies, parsed))])
