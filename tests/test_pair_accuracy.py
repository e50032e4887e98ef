"""Pair accuracy (reporting/pair_accuracy.py): each side of a preference pair scored by CHAIR's rules
against its image's objects, wins / ties / losses of the chosen side, the Wilson interval; the
annotations through the model registry (the world's, on a small world written here); the iteration
table's columns, '–' with a footnote where the model has no annotations, and the report's pairs."""

import json
import math

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.reporting import pair_accuracy as pa
from csr_bench.reporting.run_data import load_run
from csr_bench.reporting.tables.format import render
from csr_bench.reporting.tables.iterations import iteration_table


@pytest.fixture(autouse=True)
def _fresh_cache():
    pa.clear_cache()
    yield
    pa.clear_cache()


def wilson_by_formula(k, n, z=1.959963984540054):  # z: the standard normal's 97.5% quantile
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_wilson_interval_is_the_formulas():
    for k, n in ((2, 4), (0, 10), (10, 10), (177, 508)):
        assert pa.wilson_interval(k, n) == pytest.approx(wilson_by_formula(k, n), abs=1e-9)
    low, high = pa.wilson_interval(2, 4)  # by hand: p = .5, z² = 3.8415: centre .5, half 0.3848 -> [.1500, .8500]
    assert (round(low, 4), round(high, 4)) == (0.15, 0.85)


def test_a_response_is_scored_by_chairs_word_rules():
    dog_cat = {"dog", "cat"}
    # "puppies" is a dog by CHAIR's synonyms and singularisation; the horse and the car are not in the image
    (first, second, none) = pa.score_responses(["Two puppies and a cat.", "A dog, a horse and a car.",
                                                "A nice picture."], dog_cat)
    assert (first.mentioned, first.hallucinated, first.chair_i, first.chair_s) == (2, 0, 0.0, 0)
    assert (second.mentioned, second.hallucinated, second.chair_s) == (3, 2, 1)
    assert second.chair_i == pytest.approx(2 / 3)
    assert (none.mentioned, none.chair_i, none.chair_s) == (0, 0.0, 0)  # chair.py: CHAIRi 0 without objects


IMAGES = {"/data/a.png": ["dog", "cat"], "/data/b.png": ["dog", "cat", "horse"]}
PAIRS = [
    # win on both: chosen 0/2, rejected 2/3 hallucinated
    {"image": "/data/a.png", "chosen": "A dog and a cat.", "rejected": "A dog, a horse and a car."},
    # tie on both: neither hallucinates
    {"image": "/data/a.png", "chosen": "A dog.", "rejected": "A cat."},
    # loss on CHAIR_I (1/2 against 1/3), tie on CHAIR_S (both hallucinate)
    {"image": "/data/a.png", "chosen": "A dog and a horse.", "rejected": "A dog, a cat and a horse."},
    # win on both: a response naming no object has CHAIR_I 0 (chair.py) against 1/1; relative to the root
    {"image": "b.png", "chosen": "A nice picture.", "rejected": "A car."},
    # no annotation: the image is not in the map
    {"image": "/data/elsewhere.png", "chosen": "A dog.", "rejected": "A car."},
]


def test_hand_built_pairs_give_the_hand_counted_accuracy():
    objects = pa.node_words(IMAGES, "test")
    scored = pa.score_pairs(PAIRS, objects, images_root="/data")
    assert [None if s is None else (s.outcome("chair_i"), s.outcome("chair_s")) for s in scored.scores] == [
        ("win", "win"), ("tie", "tie"), ("loss", "tie"), ("win", "win"), None]
    chair_i, chair_s = scored.chair_i, scored.chair_s
    assert (chair_i.wins, chair_i.ties, chair_i.losses, chair_i.n) == (2, 1, 1, 4)
    assert (chair_s.wins, chair_s.ties, chair_s.losses, chair_s.n) == (2, 2, 0, 4)
    assert (chair_i.accuracy, chair_i.tie_share, chair_s.tie_share) == (0.5, 0.25, 0.5)
    assert chair_i.interval == pytest.approx(wilson_by_formula(2, 4))
    assert (scored.pairs, scored.unscored) == (5, 1)
    assert scored.note() == ("pair accuracy: 1 of 5 pairs scored against annotations: their images are not among "
                             "the model's annotated images")
    assert chair_i.describe() == ("CHAIR_I: 2 wins, 1 ties, 1 losses of 4; accuracy 50.0% [15.0, 85.0], "
                                  "ties 25.0%")


def test_without_annotations_there_is_no_accuracy_and_the_reason_is_kept():
    scored = pa.score_pairs(PAIRS, None, reason="model m provides no image annotations")
    assert scored.chair_i is None and scored.chair_s is None
    assert scored.note() == "pair accuracy: no pair scored against annotations: model m provides no image annotations"
    relative = pa.score_pairs([PAIRS[3]], pa.node_words(IMAGES, "test"))  # relative, and no images_root
    assert relative.scores == (None,)


def test_an_annotation_that_is_no_coco_object_is_one_line():
    with pytest.raises(CsrBenchError, match="hook: image /x.png: unicorn is not a COCO object category"):
        pa.node_words({"/x.png": ["dog", "unicorn"]}, "hook")


def write_pairs_run(folder, model, data_root, pairs, iterations=1):
    """A run folder by hand: iteration 0 and ``iterations`` method iterations, each with ``pairs``."""
    for k in range(iterations + 1):
        iteration = folder / f"iter_{k}"
        iteration.mkdir(parents=True)
        (iteration / "results.json").write_text(json.dumps({"run": {"iteration": k}, "results": {
            "pope": {"metrics": {"accuracy": 60.0 + k, "f1_split_mean": 61.0}}}}))
        if k:
            (iteration / "pairs").mkdir()
            (iteration / "pairs" / "summary.json").write_text(json.dumps({"method": "csr", "pairs": len(pairs)}))
            (iteration / "pairs" / "preferences.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    (folder / "run.json").write_text(json.dumps({"config": {"model": model, "data_root": data_root, "method": "csr",
                                                           "iterations": iterations, "method_config": {"lam": 0.9}}}))
    return folder


def world_pairs(small_world):
    """Pairs on the small world's prompt images: per image, a win, a tie and a loss of the chosen side,
    made from the scene's objects (the world's own annotations, read here from the scene files)."""
    from csr_bench.world.ground_truth import prompt_objects  # the test may read the world directly

    pairs = []
    for image, objects in sorted(prompt_objects(small_world).items()):
        present = sorted(objects)[0]
        absent = next(name for name in ("giraffe", "airplane", "toilet") if name not in objects)
        right, wrong = f"There is a {present}.", f"There is a {present} and a {absent}."
        pairs += [{"image": image, "prompt": "q", "chosen": right, "rejected": wrong},
                  {"image": image, "prompt": "q", "chosen": right, "rejected": right},
                  {"image": image, "prompt": "q", "chosen": wrong, "rejected": right}]
    return pairs


def test_a_world_run_is_scored_through_the_model_registry(small_world, tmp_path):
    pairs = world_pairs(small_world)
    run = load_run(write_pairs_run(tmp_path / "w", "world", str(small_world), pairs))
    scored = run.pair_accuracy(run.last)
    images = len(pairs) // 3
    assert images >= 3 and scored.unscored == 0
    for accuracy in (scored.chair_i, scored.chair_s):
        assert (accuracy.wins, accuracy.ties, accuracy.losses) == (images, images, images)
    assert run.pair_accuracy(run.iterations[0]) is None  # iteration 0 has no pairs
    table = render(iteration_table([run]), "markdown")
    row = next(line for line in table.splitlines() if line.startswith("| 1 "))
    low, high = wilson_by_formula(images, 3 * images)
    assert cells(row)[7:11] == [f"33.33 [{100 * low:.1f}, {100 * high:.1f}]¹", "33.33"] * 2
    assert "¹ pair accuracy: the share of the iteration's preference pairs whose chosen response" in table


def test_a_model_without_annotations_shows_a_dash_with_the_reason(tmp_path):
    run = load_run(write_pairs_run(tmp_path / "t", "tiny-llava", None, PAIRS))
    assert run.pair_accuracy(run.last).chair_i is None
    table = render(iteration_table([run]), "markdown")
    row = next(line for line in table.splitlines() if line.startswith("| 1 "))
    assert cells(row)[7:11] == ["–¹", "–", "–¹", "–"]
    assert ("¹ pair accuracy: no pair scored against annotations: model tiny-llava provides no image annotations "
            "(real data: nothing to score pairs against)") in table
    gone = load_run(write_pairs_run(tmp_path / "g", "no-such-model", None, PAIRS))
    assert "the run's model is not known here (unknown model 'no-such-model'" in gone.pair_accuracy(gone.last).note()


def test_the_report_shows_each_sides_chair_and_the_iterations_accuracy(small_world, tmp_path):
    from csr_bench.reporting.report.sample_browser import pairs_section

    run = load_run(write_pairs_run(tmp_path / "w", "world", str(small_world), world_pairs(small_world)[:3]))
    html = pairs_section(run, 50)
    low, high = wilson_by_formula(1, 3)
    assert ("pair accuracy (the chosen response scored strictly lower): CHAIR_I: 1 wins, 1 ties, 1 losses of 3; "
            f"accuracy 33.3% [{100 * low:.1f}, {100 * high:.1f}], ties 33.3%") in html
    assert "rejected · CHAIR_I 50.0, CHAIR_S 1" in html and '<mark class="hallucinated"' in html


def test_a_real_csr_runs_pairs_are_all_scored(tiny_run, small_world, tmp_path):
    """The pairs a real CSR run wrote (the shipped world VLM on the small world), its model named as
    the world's so that the registry finds the annotations: every pair scored, as each pair alone."""
    import os
    import shutil

    from csr_bench.scorers.coco_objects import NODE_WORD
    from csr_bench.world.ground_truth import prompt_objects

    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy, ignore=shutil.ignore_patterns("model", "trainer", "plots", "report.html"))
    manifest = json.loads((copy / "run.json").read_text())
    manifest["config"].update(model="world", data_root=str(small_world))
    (copy / "run.json").write_text(json.dumps(manifest))
    run = load_run(copy)
    truth = {os.path.realpath(image): {NODE_WORD[o] for o in objects}
             for image, objects in prompt_objects(small_world).items()}
    for item in run.iterations[1:]:
        pairs = item.preferences()
        scored = run.pair_accuracy(item)
        assert scored.pairs == len(pairs) > 0 and scored.unscored == 0
        alone = [pa.score_pair(p["chosen"], p["rejected"], truth[os.path.realpath(p["image"])]) for p in pairs]
        for metric in pa.METRICS:
            outcomes = [score.outcome(metric) for score in alone]
            found = scored.metric(metric)
            assert (found.wins, found.ties, found.losses) == tuple(outcomes.count(o) for o in ("win", "tie", "loss"))
