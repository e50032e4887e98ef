"""Bootstrap intervals (scorers.uncertainty) against cases whose answer is known: scipy and numpy on
the same data and random stream, degenerate and identical runs, strata that keep their sizes,
pairing that narrows the interval of a difference, and units (MME images, MMBench circular groups)
that move all their questions together."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.uncertainty import BootstrapSettings, differences, intervals, pairing
from csr_bench.scorers.unit_stats import TaskStats, task_stats


def _bernoulli(outcomes, ids=None, task: str = "custom") -> TaskStats:
    """Per-question right/wrong of a task without special rules: its accuracy is the mean × 100."""
    outcomes = np.asarray(outcomes, dtype=bool)
    ids = ids if ids is not None else [f"q{i}" for i in range(len(outcomes))]
    return TaskStats(task, ids, {"correct": outcomes})


OUTCOMES = np.random.default_rng(42).random(120) < 0.7


def test_mean_of_bernoulli_outcomes_is_scipys_interval_on_the_same_stream():
    found = intervals(_bernoulli(OUTCOMES), ["accuracy"], BootstrapSettings(resamples=1000, seed=11))["accuracy"]
    direct = bootstrap((OUTCOMES.astype(float),), np.mean, n_resamples=1000, method="percentile", batch=500,
                       confidence_level=0.95, rng=np.random.default_rng(11)).confidence_interval
    assert found.low == pytest.approx(100 * direct.low, abs=1e-9)
    assert found.high == pytest.approx(100 * direct.high, abs=1e-9)


def test_mean_of_bernoulli_outcomes_is_the_percentile_of_numpy_resamples():
    """The same draws by hand: scipy resamples with rng.integers(0, n, (batch, n)), batch by batch."""
    rng, n = np.random.default_rng(3), len(OUTCOMES)
    means = np.concatenate([OUTCOMES[rng.integers(0, n, (batch, n))].mean(axis=-1) for batch in (500, 500)])
    low, high = np.percentile(100 * means, [2.5, 97.5])
    found = intervals(_bernoulli(OUTCOMES), ["accuracy"], BootstrapSettings(seed=3))["accuracy"]
    assert (found.low, found.high) == pytest.approx((low, high), abs=1e-9)
    # ... which is close to the normal approximation of a proportion, as it should be for n = 120.
    p = OUTCOMES.mean()
    half = 1.96 * np.sqrt(p * (1 - p) / n) * 100
    assert found.low == pytest.approx(100 * p - half, abs=2.0) and found.high == pytest.approx(100 * p + half, abs=2.0)


def test_identical_units_give_a_zero_width_interval_at_the_value():
    for outcomes, value in ((np.ones(50, bool), 100.0), (np.zeros(50, bool), 0.0)):
        found = intervals(_bernoulli(outcomes), ["accuracy"])["accuracy"]
        assert (found.low, found.high) == (value, value)


def test_a_paired_difference_of_identical_runs_is_exactly_zero():
    records = [{"doc_id": i, "answer": "yes" if i % 3 else "no", "prediction": ["Yes", "No", "no."][i % 3 - (i % 7 == 0)],
                "category": ("adversarial", "popular", "random")[i % 3]} for i in range(90)]
    stats = task_stats("pope", records, "run")
    for metric, difference in differences(stats, task_stats("pope", records, "again")).items():
        assert difference.paired and difference.delta == 0.0, metric
        assert (difference.low, difference.high) == (0.0, 0.0) and not difference.significant, metric


class _Counting(TaskStats):
    """A task whose extra metrics count the units of each stratum (and in all) in a resample."""

    def metrics(self):
        found = dict(super().metrics())
        for code in range(len(self.split_names)):
            found[f"units_{code}"] = (lambda c, k=code: np.sum(c["split"] == k, axis=-1).astype(float), True)
        return found


def test_strata_keep_their_sizes():
    sizes = (3, 5, 7)
    split = np.repeat(np.arange(3), sizes)
    labels = np.arange(15) % 2 == 0
    stats = _Counting("pope", [str(i) for i in range(15)], {"label_yes": labels, "pred_yes": ~labels | (split == 1),
                                                            "split": split}, ["adversarial", "popular", "random"])
    found = intervals(stats, ["units_0", "units_1", "units_2", "f1"])
    for code, size in enumerate(sizes):
        assert (found[f"units_{code}"].low, found[f"units_{code}"].high) == (size, size)
    assert found["f1"].width > 0
    # Without strata the same counts vary from resample to resample.
    unstratified = _Counting("custom", stats.doc_ids, {"correct": labels, "split": split}, stats.split_names)
    assert unstratified.strata is None
    assert intervals(unstratified, ["units_0"])["units_0"].width > 0


def test_pairing_narrows_the_interval_of_a_difference_on_correlated_runs():
    """Two runs that share most outcomes (a few questions flip from wrong to right): the paired
    interval is that of the flips alone; independent resamples add the between-question variance."""
    base = OUTCOMES.copy()
    current = base.copy()
    current[np.flatnonzero(~base)[:8]] = True  # eight wrong answers become right
    ids = [f"q{i}" for i in range(len(base))]
    paired = differences(_bernoulli(base, ids), _bernoulli(current, ids), ["accuracy"])["accuracy"]
    unpaired = differences(_bernoulli(base, ids), _bernoulli(current, [f"other{i}" for i in ids]),
                           ["accuracy"])["accuracy"]
    assert paired.paired and not unpaired.paired
    assert paired.delta == unpaired.delta == pytest.approx(100 * 8 / len(base))
    assert (paired.high - paired.low) < (unpaired.high - unpaired.low) / 2
    assert paired.significant and not unpaired.significant  # the flips are real; unpaired cannot tell
    assert paired.low >= 0  # a resample of flips from wrong to right never goes below 0


def test_pairing_needs_the_same_units():
    ids = ["a", "b", "c"]
    assert pairing(_bernoulli([1, 0, 1], ids), _bernoulli([0, 1, 1], ["c", "a", "b"])).tolist() == [1, 2, 0]
    assert pairing(_bernoulli([1, 0, 1], ids), _bernoulli([1, 0], ids[:2])) is None


def _mme_records(pattern):
    """MME rows of one category: image i has two questions, both right or both wrong (``pattern[i]``)."""
    records = []
    for i, right in enumerate(pattern):
        for j, answer in enumerate(("Yes", "No")):
            records.append({"doc_id": 2 * i + j, "doc_index": 2 * i + j, "question_id": f"img{i}.png",
                            "category": "existence", "answer": answer, "prediction": answer if right else "other"})
    return records


PATTERN = [True, False, True, True, False, True, True, True, False, True, True, False, True, True, True, False]


def test_mme_resamples_images_with_both_their_questions():
    records = _mme_records(PATTERN)
    stats = task_stats("mme", records, "mme")
    assert len(stats.doc_ids) == len(PATTERN) and stats.unit == "image"
    found = intervals(stats, ["existence_acc", "existence_acc_plus"], BootstrapSettings(seed=4))
    # Both questions of an image move together: the accuracy interval is the image-level one ...
    per_image = intervals(_bernoulli(PATTERN), ["accuracy"], BootstrapSettings(seed=4))["accuracy"]
    assert found["existence_acc"] == per_image == found["existence_acc_plus"]
    # ... which is wider than resampling the 32 questions as if they were independent.
    per_question = intervals(_bernoulli([r["prediction"] == r["answer"] for r in records]), ["accuracy"],
                             BootstrapSettings(seed=4))["accuracy"]
    assert per_question.width < found["existence_acc"].width
    # Every resampled accuracy is a whole number of images: a multiple of 100/16.
    assert (found["existence_acc"].low * 16 / 100) == pytest.approx(round(found["existence_acc"].low * 16 / 100))


def test_mmbench_resamples_circular_groups():
    options = {"A": "cat", "B": "dog", "C": "bird", "D": "fish"}
    records = []
    for i, right in enumerate(PATTERN):  # four rotated copies per question: all right or all wrong
        for copy in range(4):
            index = i + copy * 1_000_000
            records.append({"doc_id": index, "doc_index": len(records), "index": index, "question": "Which?",
                            "answer": "ABCD"[copy], **options, "category": "animals",
                            "prediction": "ABCD"[copy] if right else "ABCD"[copy - 1]})
    stats = task_stats("mmbench", records, "mmbench")
    assert len(stats.doc_ids) == len(PATTERN) and stats.unit == "circular group"
    found = intervals(stats, ["accuracy", "category_animals"], BootstrapSettings(seed=9))
    assert found["accuracy"] == intervals(_bernoulli(PATTERN), ["accuracy"], BootstrapSettings(seed=9))["accuracy"]
    assert found["category_animals"] == found["accuracy"]
    per_row = intervals(_bernoulli([r["prediction"] == r["answer"] for r in records]), ["accuracy"],
                        BootstrapSettings(seed=9))["accuracy"]
    assert per_row.width < found["accuracy"].width


def test_settings_are_checked():
    with pytest.raises(CsrBenchError, match="confidence"):
        BootstrapSettings(confidence=1.5)
    with pytest.raises(CsrBenchError, match="resamples"):
        BootstrapSettings(resamples=0)


def test_pope_with_9000_questions_is_vectorized():
    """1000 resamples of 9000 questions are two calls of the metric functions on (500, 9000) index
    arrays, not a Python loop over resamples (about half a second on an idle core)."""
    import time

    class Counted(TaskStats):
        calls: list = []

        def values(self, metrics, index=None):
            self.calls.append(None if index is None else index.shape)
            return super().values(metrics, index)

    rng = np.random.default_rng(0)
    n = 9000
    stats = Counted("pope", [str(i) for i in range(n)], {"label_yes": rng.random(n) < 0.5,
                                                         "pred_yes": rng.random(n) < 0.6, "split": np.arange(n) % 3},
                    ["adversarial", "popular", "random"])
    started = time.perf_counter()
    found = intervals(stats)
    assert time.perf_counter() - started < 30.0  # generous: the test machine may be busy
    assert len(found) == 5 + 3 * 5 + 1
    assert [shape for shape in Counted.calls if shape is not None] == [(500, n), (500, n)]


def test_a_one_unit_stratum_stays_fixed_and_the_others_are_resampled():
    """An MME category with a single image (a --limit run) keeps that image in every resample; the
    other categories still get real intervals, and the sum (perception) moves with them alone."""
    records = _mme_records(PATTERN) + [
        {"doc_id": 100 + j, "doc_index": 100 + j, "question_id": "lone.png", "category": "count", "answer": answer,
         "prediction": answer} for j, answer in enumerate(("Yes", "No"))]
    stats = task_stats("mme", records, "mme")
    found = intervals(stats, ["count", "existence", "perception"], BootstrapSettings(seed=4))
    assert (found["count"].low, found["count"].high) == (200.0, 200.0)
    alone = intervals(task_stats("mme", _mme_records(PATTERN), "mme"), ["existence"], BootstrapSettings(seed=4))
    assert found["existence"] == alone["existence"] and found["existence"].width > 0
    assert (found["perception"].low, found["perception"].high) == (found["existence"].low + 200,
                                                                  found["existence"].high + 200)
