"""MME, SEED, ScienceQA, GQA, VizWiz and MMBench scoring, checked against their official rules by hand."""

import json
import math

import pytest

from csr_bench.scorers.base import ScoringContext, ScoringSkipped
from csr_bench.scorers.gqa import GqaScorer
from csr_bench.scorers.mmbench import MmbenchScorer, infer_choice
from csr_bench.scorers.mme import MmeScorer, parse_mme_answer
from csr_bench.scorers.scienceqa import ScienceQaScorer, parse_scienceqa_letter
from csr_bench.scorers.seed import SeedScorer
from csr_bench.scorers.vqa_accuracy import VizWizSubmissionScorer, VqaAccuracyScorer, evalai_answer, vqa_accuracy
from csr_bench.tasks.prompts import mmbench, scienceqa, seed


# --- MME ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("prediction, expected", [
    ("Yes", "yes"), ("yes", "yes"), ("NO", "no"), ("No.", "no"), ("Yes, it is.", "yes"),
    ("Not really", "no"),        # "not " holds "no"
    ("None", "no"),
    ("nope", "no"),
    (" yes", "yes"),             # " yes"[:4] holds "yes"
    ("The answer is yes", "other"),
    ("", "other"), ("Y", "other"),
])
def test_mme_answer_rule(prediction, expected):
    assert parse_mme_answer(prediction) == expected


def test_mme_scores_hand_computed():
    records = [
        # existence, image a: one of two right; image b: both right -> acc 75, acc+ 50 -> 125
        {"question_id": "a.jpg", "category": "existence", "answer": "Yes", "prediction": "Yes"},
        {"question_id": "a.jpg", "category": "existence", "answer": "No", "prediction": "Yes"},
        {"question_id": "b.jpg", "category": "existence", "answer": "Yes", "prediction": "yes, there is"},
        {"question_id": "b.jpg", "category": "existence", "answer": "No", "prediction": "No."},
        # code_reasoning, image c: one right -> acc 50, acc+ 0 -> 50
        {"question_id": "c.png", "category": "code_reasoning", "answer": "Yes", "prediction": "The answer is yes"},
        {"question_id": "c.png", "category": "code_reasoning", "answer": "No", "prediction": "no"},
    ]
    metrics = MmeScorer().aggregate(records)
    assert metrics["existence"] == pytest.approx(125.0)
    assert metrics["existence_acc"] == pytest.approx(75.0) and metrics["existence_acc_plus"] == pytest.approx(50.0)
    assert metrics["code_reasoning"] == pytest.approx(50.0)
    assert metrics["perception"] == pytest.approx(125.0) and metrics["cognition"] == pytest.approx(50.0)
    only_perception = MmeScorer().aggregate(records[:4])
    # no cognition category in the records: cognition is not measured, so not reported (no 0 from an empty sum)
    assert only_perception["perception"] == pytest.approx(125.0) and "cognition" not in only_perception
    only_cognition = MmeScorer().aggregate(records[4:])
    assert only_cognition["cognition"] == pytest.approx(50.0) and "perception" not in only_cognition


def test_mme_prompt():
    from csr_bench.tasks.prompts import mme

    assert mme({"question": "Is there a dog in this image? Please answer yes or no."}) == (
        "Is there a dog in this image?\nAnswer the question using a single word or phrase.")


# --- SEED ----------------------------------------------------------------------------------------
def test_seed_exact_letter_rule():
    scorer = SeedScorer()
    records = [{"answer": "A", "prediction": p, "data_type": "image"} for p in ("A", " A\n", "A.", "The answer is A", "a")]
    assert [scorer.score_sample(r)["correct"] for r in records] == [True, True, False, False, False]
    video = {"answer": "A", "prediction": "B", "data_type": "video"}
    assert scorer.aggregate(records + [video])["accuracy"] == pytest.approx(40.0)  # video rows left out


def test_seed_prompt():
    doc = {"question": "What is it?", "choice_a": "cat", "choice_b": "dog", "choice_c": "cow", "choice_d": "hen"}
    assert seed(doc) == ("What is it?\nA. cat\nB. dog\nC. cow\nD. hen\n"
                         "Answer with the option's letter from the given choices directly.")


# --- ScienceQA -----------------------------------------------------------------------------------
@pytest.mark.parametrize("prediction, correct", [
    ("B", True),
    ("B. y", True),
    ("The answer is B.", True),
    ("The answer is B", False),                           # the rule's "." needs one more character
    ("The answer is BX", True),                           # ... any character
    ("The answer is B. The answer is C.", False),         # two matches: failure
    ("B.", False), ("(B)", False), ("b", False), ("", False),
    ("D", False),                                         # beyond the 3 choices: failure, not random
    ("C", False),
])
def test_scienceqa_rule(prediction, correct):
    record = {"choices": ["x", "y", "z"], "answer": 1, "prediction": prediction}
    assert ScienceQaScorer().score_sample(record)["correct"] is correct


def test_scienceqa_aggregate_and_prompt():
    records = [{"choices": ["x", "y"], "answer": 0, "prediction": p} for p in ("A", "B", "FAILED", "A. x")]
    assert ScienceQaScorer().aggregate(records)["accuracy"] == pytest.approx(50.0)
    assert parse_scienceqa_letter("E") == "E"
    assert scienceqa({"question": "Which?", "choices": ["a", "b"], "hint": ""}) == (
        "Which?\nA. a\nB. b\nAnswer with the option's letter from the given choices directly.")
    assert scienceqa({"question": "Which?", "choices": ["a", "b"], "hint": "It is cold."}).startswith(
        "Context: It is cold.\nWhich?\nA. a")


# --- GQA -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("prediction, correct", [
    ("table", True), ("Table.", True), ("TABLE...", True), ("the table", False), ("tables", False),
    ("Table. ", False),   # rstrip(".") only strips trailing dots, as LLaVA's converter
    ("two", False),
])
def test_gqa_rule(prediction, correct):
    assert GqaScorer().score_sample({"answer": "table", "prediction": prediction})["correct"] is correct


def test_gqa_numbers_are_not_normalised():
    records = [{"answer": "2", "prediction": p} for p in ("2", "two", "2.")]
    assert GqaScorer().aggregate(records)["accuracy"] == pytest.approx(200 / 3)


# --- VizWiz / VQA accuracy -----------------------------------------------------------------------
def test_vqa_accuracy_leave_one_out():
    answers = ["yes", "yes"] + ["no"] * 8
    # i = a "yes": 1 other yes -> 1/3 (2 times); i = a "no": 2 yes -> 2/3 (8 times) -> 0.6
    assert vqa_accuracy("yes", answers) == pytest.approx(0.6)
    assert vqa_accuracy("no", answers) == pytest.approx(1.0)
    assert vqa_accuracy("maybe", answers) == 0.0


def test_vqa_normalisation_only_when_answers_differ():
    unanimous = ["unanswerable"] * 10
    assert vqa_accuracy("unanswerable", unanimous) == 1.0
    assert vqa_accuracy("Unanswerable", unanimous) == 0.0      # vqaEval alone: no normalisation here
    mixed = ["two", "2", "2", "two dogs", "2", "2", "2", "3", "3", "3"]
    # normalised: "two" -> "2", so seven "2" answers: every subset has >= 3 matches
    assert vqa_accuracy("Two.", mixed) == pytest.approx(1.0)
    assert vqa_accuracy("a dog", ["dog"] * 5 + ["cat"] * 5) == pytest.approx(1.0)  # article dropped


@pytest.mark.parametrize("raw, processed", [
    ("Unanswerable.", "unanswerable"), ("It's two dogs, I think?", "it 's 2 dogs i think"),
    ("The 1,000 cats", "1000 cats"), ("dont", "don't"), ("blue/green", "blue green"),
])
def test_evalai_answer_processor(raw, processed):
    assert evalai_answer(raw) == processed


def test_vizwiz_scorer_applies_llava_pipeline():
    scorer = VqaAccuracyScorer()
    record = {"answers": ["unanswerable"] * 10, "prediction": "Unanswerable"}
    assert scorer.score_sample(record)["accuracy"] == 100.0  # EvalAI lower-cases first, as LLaVA's converter
    records = [record, {"answers": ["yes", "yes"] + ["no"] * 8, "prediction": "Yes"},
               {"answers": json.dumps(["red"] * 10), "prediction": "blue"}]
    assert scorer.aggregate(records)["accuracy"] == pytest.approx((100 + 60 + 0) / 3)


def test_vizwiz_test_writes_submission(tmp_path):
    records = [{"question_id": "VizWiz_test_00000000.jpg", "prediction": "Unanswerable."},
               {"question_id": "VizWiz_test_00000001", "prediction": "Two"}]
    with pytest.raises(ScoringSkipped, match="submission"):
        VizWizSubmissionScorer().aggregate(records, ScoringContext(output_dir=tmp_path))
    assert json.loads((tmp_path / "submission.json").read_text()) == [
        {"image": "VizWiz_test_00000000.jpg", "answer": "unanswerable"},
        {"image": "VizWiz_test_00000001.jpg", "answer": "2"}]


# --- MMBench -------------------------------------------------------------------------------------
CHOICES = {"A": "teddy bear", "B": "rabbit", "C": "cat", "D": "dog"}


@pytest.mark.parametrize("answer, expected", [
    ("B", "B"), ("B.", "B"), ("(B)", "B"), ("The answer is B.", "B"), ("Answer: [B]", "B"),
    ("a cute teddy bear", "A"),     # option text
    ("A cat", "A"),                 # the letter rule comes first: MMBench's known quirk
    ("cat or dog", None),           # two option texts
    ("I think B or C", None),       # two letters
    ("Z", "Z"), ("Cannot determine the answer", "Z"),
    ("", None),
])
def test_mmbench_answer_rules(answer, expected):
    assert infer_choice(answer, dict(CHOICES)) == expected


def _mmbench_row(index, answer, prediction, **extra):
    return {"index": index, "question": "What is the main object?", "answer": answer, "prediction": prediction,
            "category": "object", **{k: v for k, v in CHOICES.items()}, **extra}


def test_mmbench_circular_accuracy_and_unresolved():
    records = [
        _mmbench_row(5, "A", "A"), _mmbench_row(1_000_005, "B", "C"),        # one copy wrong -> question wrong
        _mmbench_row(6, "C", "cat"), _mmbench_row(1_000_006, "D", "(D)"),    # both right -> right
        _mmbench_row(7, "B", "rabbit or dog"),                              # unresolved, no judge -> wrong
    ]
    metrics = MmbenchScorer().aggregate(records, ScoringContext())
    assert metrics["accuracy"] == pytest.approx(100 / 3)
    assert metrics["unresolved"] == 1.0
    assert metrics["category_object"] == pytest.approx(100 / 3)


def test_mmbench_missing_options_and_prompt():
    row = {"index": 1, "question": "Pick one.", "hint": float("nan"), "A": "yes", "B": "no", "C": math.nan,
           "D": "nan", "answer": "B"}
    assert mmbench(row) == "Pick one.\nA. yes\nB. no\nAnswer with the option's letter from the given choices directly."
    assert MmbenchScorer().score_sample({**row, "prediction": "no"})["correct"] is True
    with_hint = mmbench({**row, "hint": "Look closely."})
    assert with_hint.startswith("Look closely.\nPick one.\nA. yes")


class _ScriptedJudge:
    def __init__(self, reply):
        self.reply, self.prompts = reply, []

    def complete(self, prompt, *, system=None, max_tokens=512):
        self.prompts.append(prompt)
        return self.reply


def test_mmbench_judge_resolves_what_rules_cannot():
    judge = _ScriptedJudge("B")
    record = _mmbench_row(9, "B", "a long-eared animal that hops")
    metrics = MmbenchScorer().aggregate([record], ScoringContext(judge=judge))
    assert metrics["accuracy"] == 100.0 and metrics["unresolved"] == 0.0
    assert "Question: What is the main object?\nOptions: A. teddy bear B. rabbit C. cat D. dog" in judge.prompts[0]
    assert judge.prompts[0].endswith("Answer: a long-eared animal that hops\nYour output: ")
    garbage = MmbenchScorer().aggregate([record], ScoringContext(judge=_ScriptedJudge("hmm")))
    assert garbage["accuracy"] == 0.0 and garbage["unresolved"] == 1.0
