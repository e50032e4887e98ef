"""VizWiz-VQA scoring as LLaVA-1.5 produced it: EvalAI's answer processor, then VQA accuracy
(vqaEval.py), so a val score here is what the server would give LLaVA-1.5's submission.
Details: docs/benchmarks.md, "csr_bench/scorers/vqa_accuracy.py".
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_json
from csr_bench.scorers.base import Metric, ScoringContext, ScoringSkipped

CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll",
    "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't",
    "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're",
    "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll",
    "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
    "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're",
    "youve": "you've",
}
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = {"a", "an", "the"}
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: the official pattern
COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
PUNCTUATION = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
               ",", "?", "!"]


def process_punctuation(text: str) -> str:
    out = text
    for p in PUNCTUATION:
        if (p + " " in text or " " + p in text) or COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, re.UNICODE)  # sic: re.UNICODE (32) lands in `count`


def process_digit_article(text: str) -> str:
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES]
    return " ".join(words)


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Accuracy (0-1) of one prediction against its human answers, by the official rule."""
    prediction = _clean(prediction)
    answers = [_clean(str(a)) for a in answers]
    if len(set(answers)) > 1:
        answers = [process_digit_article(process_punctuation(a)) for a in answers]
        prediction = process_digit_article(process_punctuation(prediction))
    scores = []
    for i in range(len(answers)):
        others = answers[:i] + answers[i + 1:]
        scores.append(min(1.0, sum(1 for a in others if a == prediction) / 3))
    return sum(scores) / len(scores)


def evalai_answer(text: str) -> str:
    """EvalAI's answer processor (LLaVA's m4c_evaluator.EvalAIAnswerProcessor)."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = _clean(text)
    return process_digit_article(process_punctuation(text))


def _answers(record: dict[str, Any]) -> list[str]:
    answers = record["answers"]
    if isinstance(answers, str):  # some exports store the list as a JSON string
        try:
            answers = json.loads(answers)
        except ValueError:
            answers = None
    if not isinstance(answers, list) or not answers:
        raise CsrBenchError(f"'answers' must be a non-empty list of strings, got {record['answers']!r}")
    # some copies store {"answer": ..., "answer_confidence": ...} objects
    return [a["answer"] if isinstance(a, dict) else a for a in answers]


class VqaAccuracyScorer:
    """VizWiz val: EvalAI processing of the prediction, then official VQA accuracy."""

    name = "vqa_accuracy"
    required_fields = ("answers",)
    headline = ("accuracy",)
    metrics = (Metric("accuracy", "higher", "mean VQA accuracy (%): min(1, humans giving the answer / 3), averaged "
                                            "over the 10 leave-one-out subsets"),)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        answer = evalai_answer(record["prediction"])
        return {"parsed": answer, "accuracy": 100 * vqa_accuracy(answer, _answers(record))}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        return {"accuracy": sum(self.score_sample(r)["accuracy"] for r in records) / len(records)}


class VizWizSubmissionScorer:
    """The VizWiz test split has no public answers: write the evaluation server's submission file
    (``[{"image": ..., "answer": ...}]``, answers through EvalAI's processor as LLaVA-1.5's
    converter does) and report the task as not scored here."""

    name = "vizwiz_submission"
    required_fields = ("question_id",)
    headline = ()
    metrics = ()  # never scored here: aggregate always raises ScoringSkipped

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        return {}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        submission = []
        for record in records:
            image = str(record.get("image_name") or record["question_id"])
            if not image.endswith((".jpg", ".png")):
                image += ".jpg"
            submission.append({"image": image, "answer": evalai_answer(record["prediction"])})
        if context is None or context.output_dir is None:
            raise ScoringSkipped("test split has no public answers; no output folder for the submission file")
        path = context.output_dir / "submission.json"
        atomic_write_json(path, submission)
        raise ScoringSkipped(f"test split has no public answers; submission file for the VizWiz server: {path}")
