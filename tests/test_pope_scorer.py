"""POPE scoring against the official rule (POPE evaluate.py / LLaVA eval_pope.py), worked by hand."""

import pytest

from csr_bench.scorers.pope import PopeScorer, parse_yes_no


@pytest.mark.parametrize("prediction, expected", [
    ("Yes", "yes"),
    ("Yes.", "yes"),
    ("yes", "yes"),
    ("No", "no"),
    ("No.", "no"),
    ("no", "no"),
    ("No, there is not.", "no"),           # "," dropped -> "No" is a word
    ("no, it is a dog", "no"),
    ("There is not a cat in the image.", "no"),
    ("NO", "yes"),                          # only "No", "no", "not" count: upper case is yes
    ("Nope", "yes"),
    ("", "yes"),                            # empty answer is yes
    ("Yes. No", "yes"),                     # only the text before the first "." is read
    ("Yes, there is a dog. It is not a cat.", "yes"),
    ("The answer is no", "no"),
    ("Not", "yes"),                          # "Not" is not in the list
    ("cannot", "yes"),                       # whole words only
    ("No\nthere", "yes"),                   # split on spaces only: "No\nthere" is one word
])
def test_parse_follows_official_rule(prediction, expected):
    assert parse_yes_no(prediction) == expected


def test_metrics_hand_computed():
    # labels  yes yes no  no  yes ; predictions yes no yes no yes -> TP 2, FN 1, FP 1, TN 1
    records = [{"answer": a, "prediction": p} for a, p in
               [("yes", "Yes."), ("yes", "No"), ("no", "yes"), ("no", "No, there is not."), ("yes", "")]]
    metrics = PopeScorer().aggregate(records)
    assert metrics["accuracy"] == pytest.approx(60.0)
    assert metrics["precision"] == pytest.approx(200 / 3)
    assert metrics["recall"] == pytest.approx(200 / 3)
    assert metrics["f1"] == pytest.approx(200 / 3)
    assert metrics["yes_ratio"] == pytest.approx(60.0)  # share of predicted yes, not of labels
    assert "f1_split_mean" not in metrics  # no category field, no splits


def test_splits_and_headline_mean():
    records = (
        # random: TP 1, TN 1 -> f1 100
        [{"answer": "yes", "prediction": "Yes", "category": "random"},
         {"answer": "no", "prediction": "No", "category": "random"}]
        # popular: TP 1, FP 1 -> precision 50, recall 100, f1 66.67
        + [{"answer": "yes", "prediction": "Yes", "category": "popular"},
           {"answer": "no", "prediction": "Yes", "category": "popular"}]
        # adversarial: FN 1, TN 1 -> precision 0/0 -> 0, f1 0
        + [{"answer": "yes", "prediction": "No", "category": "adversarial"},
           {"answer": "no", "prediction": "no", "category": "adversarial"}])
    metrics = PopeScorer().aggregate(records)
    assert metrics["random_f1"] == pytest.approx(100.0)
    assert metrics["popular_f1"] == pytest.approx(200 / 3)
    assert metrics["popular_precision"] == pytest.approx(50.0)
    assert metrics["adversarial_f1"] == 0.0
    assert metrics["adversarial_yes_ratio"] == 0.0
    assert metrics["f1_split_mean"] == pytest.approx((100 + 200 / 3 + 0) / 3)
    # pooled over all six: TP 2, FP 1, FN 1, TN 2
    assert metrics["accuracy"] == pytest.approx(400 / 6)
    assert metrics["f1"] == pytest.approx(200 / 3)


def test_sample_fields_and_bad_label():
    scorer = PopeScorer()
    assert scorer.score_sample({"answer": "no", "prediction": "No, there is not."}) == {"parsed": "no", "correct": True}
    assert scorer.score_sample({"answer": "no", "prediction": "NO"}) == {"parsed": "yes", "correct": False}
    from csr_bench.errors import CsrBenchError

    with pytest.raises(CsrBenchError, match="yes' or 'no"):
        scorer.score_sample({"answer": "maybe", "prediction": "Yes"})
