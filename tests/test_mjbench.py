"""MJ-Bench as a grader of rewards: get_pred / get_label / calc_score golden cases against the reference
(MJ-Bench/MJ-Bench @ eb269ad: utils/rm_utils.py, reward_models/score_models/clipscore_eval_v2.py),
accuracy with and without ties worked by hand, per subcategory; the task kind reward_pairs (YAMLs,
`csr-bench tasks` marking them, eval refusing them); `csr-bench grade-reward` end to end on tiny local
files in both pair shapes (JSON with image files, parquet with embedded images), resuming, refusing
changed data, re-deciding with another tie threshold; the rewards' units; the world's pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from csr_bench.errors import CsrBenchError
from csr_bench.scorers import SCORERS
from csr_bench.scorers.base import declared
from csr_bench.scorers.mjbench import calc_score, get_pred, label_of
from csr_bench.scorers.unit_stats import task_stats
from csr_bench.tasks.config import task_from_yaml
from csr_bench.tasks.registry import get_tasks, load_registry

REPO = Path(__file__).resolve().parents[1]
MJ_TASKS = ("mjbench_alignment", "mjbench_safety", "mjbench_quality", "mjbench_bias")
WORLD_TASKS = ("mjbench_world_images", "mjbench_world_captions")
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "grey": (128, 128, 128)}


# -- the rule ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("s0, s1, threshold, expected", [
    (0.30, 0.20, 0.0, "0"),  # the larger score's side
    (0.20, 0.30, 0.0, "1"),
    (0.25, 0.25, 0.0, "tie"),  # threshold 0 (inference.py's default): a tie only on equality
    (1.0, 1.5, 0.5, "tie"),  # |1.5 - 1.0| = 0.5 <= 0.5: exactly at the threshold is a tie
    (1.0, 1.5001, 0.5, "1"),  # just over it
    (-3.0, -2.0, 0.0, "1"),  # negative cosines: still the larger
    (24.0, 23.0, 1.0, "tie"),  # R_I units (100*cos): 1 point apart, threshold 1
])
def test_get_pred_as_the_reference(s0, s1, threshold, expected):
    assert get_pred(s0, s1, threshold) == expected


@pytest.mark.parametrize("label, pred, credit", [
    ("0", "0", 1.0), ("1", "1", 1.0), ("0", "1", 0.0), ("1", "0", 0.0),
    ("tie", "1", 0.5), ("0", "tie", 0.5), ("tie", "tie", 1.0),  # equal first: tie vs tie is a match
])
def test_calc_score_as_the_reference(label, pred, credit):
    assert calc_score(label, pred) == credit


@pytest.mark.parametrize("record, expected", [
    ({"label": 0}, "0"), ({"label": 1}, "1"), ({"label": "1"}, "1"), ({"label": " 0 "}, "0"), ({"label": 1.0}, "1"),
    ({"label": 0.5}, "tie"), ({"label": "tie"}, "tie"),
    # Pick-a-Pic's label_0 (get_label), read before label: 1 -> side 0, 0.5 -> tie, anything else -> side 1
    ({"label_0": 1, "label": 1}, "0"), ({"label_0": 0.5}, "tie"), ({"label_0": 0}, "1"), ({"label_0": 0.0, "label": 0}, "1"),
    ({"label_0": None, "label": 1}, "1"),  # a null label_0 column (mixed files): label decides
])
def test_label_mapping(record, expected):
    assert label_of(record) == expected


@pytest.mark.parametrize("record", [{"label": 2}, {"label": "yes"}, {"label": True}, {}, {"label": None},
                                    {"label_0": "left"}])
def test_unreadable_labels_are_errors(record):
    with pytest.raises(CsrBenchError, match="label"):
        label_of(record)


def test_int_labels_meet_string_predictions():
    """inference.py stores the row's int label beside its string prediction, so ``label == pred`` is never
    true there (0 != "0"); here the label is read as the same strings get_pred returns."""
    assert 0 != "0"
    assert calc_score(label_of({"label": 0}), get_pred(0.3, 0.2, 0.0)) == 1.0


# Six pairs, worked by hand (threshold 0):
#   p1 object  s 0.30/0.20 label 0        -> pred 0   credit 1   decided
#   p2 object  s 0.20/0.20 label 1        -> tie      credit 0.5
#   p3 count   s 0.10/0.50 label 0        -> pred 1   credit 0   decided
#   p4 count   s 2/1       label "1"      -> pred 0   credit 0   decided
#   p5 spatial s 1/3       label 0.5 (tie)-> pred 1   credit 0.5
#   p6 spatial s -1/-0.5   label_0 0 (1)  -> pred 1   credit 1   decided
# accuracy = (1 + .5 + 0 + 0 + .5 + 1) / 6 = 50; accuracy_no_ties = p1 p3 p4 p6 = 2/4 = 50; tie_rate = 1/6.
# object: (1 + .5)/2 = 75, no ties p1 = 100, ties 1/2; count: 0, 0, 0; spatial: (.5 + 1)/2 = 75, p6 = 100, 0.
PAIRS = [
    {"id": "p1", "s0": 0.30, "s1": 0.20, "label": 0, "subcategory": "object"},
    {"id": "p2", "s0": 0.20, "s1": 0.20, "label": 1, "subcategory": "object"},
    {"id": "p3", "s0": 0.10, "s1": 0.50, "label": 0, "subcategory": "count"},
    {"id": "p4", "s0": 2.0, "s1": 1.0, "label": "1", "subcategory": "count"},
    {"id": "p5", "s0": 1.0, "s1": 3.0, "label": 0.5, "subcategory": "spatial"},
    {"id": "p6", "s0": -1.0, "s1": -0.5, "label_0": 0, "subcategory": "spatial"},
]
EXPECTED = {"accuracy": 50.0, "accuracy_no_ties": 50.0, "tie_rate": 100 / 6,
            "accuracy_object": 75.0, "accuracy_no_ties_object": 100.0, "tie_rate_object": 50.0,
            "accuracy_count": 0.0, "accuracy_no_ties_count": 0.0, "tie_rate_count": 0.0,
            "accuracy_spatial": 75.0, "accuracy_no_ties_spatial": 100.0, "tie_rate_spatial": 0.0}


def mjbench_aggregates() -> dict[str, list[dict[str, float]]]:
    """For tests/test_metric_declarations.py: every key the scorer reports (all patterns matched)."""
    return {"mjbench": [SCORERS["mjbench"].aggregate(PAIRS)]}


def test_accuracies_by_hand():
    metrics = SCORERS["mjbench"].aggregate(PAIRS)
    assert metrics == pytest.approx(EXPECTED)
    assert set(metrics) == set(EXPECTED)


def test_a_threshold_in_the_rewards_units_makes_ties():
    """Threshold 0.6: p1 |0.1| tie (.5), p2 tie (.5), p3 |0.4| tie (.5), p4 |1| -> 0 vs label 1 (0),
    p5 |2| -> 1 vs a tie label (.5), p6 |0.5| tie (.5): accuracy 2.5/6; only p4 is decided, and wrong:
    accuracy_no_ties 0; ties p1 p2 p3 p6 = 4/6. count: (.5 + 0)/2 = 25, decided p4 -> 0. object and
    spatial have no decided pair, so no accuracy_no_ties of theirs (not a 0)."""
    metrics = SCORERS["mjbench"].aggregate([{**p, "threshold": 0.6} for p in PAIRS])
    assert metrics["accuracy"] == pytest.approx(250 / 6)
    assert metrics["accuracy_no_ties"] == 0.0
    assert metrics["tie_rate"] == pytest.approx(400 / 6)
    assert metrics["accuracy_count"] == 25.0 and metrics["accuracy_no_ties_count"] == 0.0
    assert "accuracy_no_ties_object" not in metrics and "accuracy_no_ties_spatial" not in metrics


def test_all_ties_leave_no_accuracy_without_ties():
    metrics = SCORERS["mjbench"].aggregate([{"id": "a", "s0": 1.0, "s1": 1.0, "label": 0}])
    assert metrics == {"accuracy": 50.0, "tie_rate": 100.0}


def test_declarations_and_bootstrap_unit():
    scorer = SCORERS["mjbench"]
    for key in EXPECTED:
        assert declared(scorer.metrics, key) is not None, key
    assert declared(scorer.metrics, "accuracy_no_ties_object").name == "accuracy_no_ties_*"
    assert declared(scorer.metrics, "tie_rate").direction == "none"
    samples = [{**p, **scorer.score_sample(p), "doc_id": p["id"], "doc_index": i} for i, p in enumerate(PAIRS)]
    stats = task_stats("mjbench_world_images", samples, "test", scorer="mjbench")
    assert stats.unit == "pair" and stats.strata_name == "subcategory"
    assert stats.split_names == ["count", "object", "spatial"]
    for name, value in EXPECTED.items():  # the bootstrap's functions give the aggregate's numbers
        assert float(stats.value(name)) == pytest.approx(value), name
    round_trip = type(stats).from_json("mjbench_world_images", json.loads(json.dumps(stats.to_json())), "test")
    assert float(round_trip.value("accuracy_no_ties")) == pytest.approx(50.0)


# -- the task kind --------------------------------------------------------------------------------

def test_task_yamls_load_as_reward_pairs():
    for name in MJ_TASKS + WORLD_TASKS:
        task = task_from_yaml(REPO / "tasks" / name / f"{name}.yaml")
        assert task.kind == "reward_pairs" and task.scorer == "mjbench" and task.aspects == ()
        assert task.prompt is None
        assert task.pair_shape == ("captions" if name == "mjbench_world_captions" else "images")
        assert "kind" not in task.to_dict()  # a generate task's fingerprint is unchanged by the new key
    for name in MJ_TASKS:
        hub = task_from_yaml(REPO / "tasks" / name / f"{name}.yaml").dataset.hub
        assert (hub.path, hub.split, hub.revision) == ("MJ-Bench/MJ-Bench", name.split("_")[1], None)
    assert load_registry()["pope"].kind == "generate"


@pytest.mark.parametrize("extra, message", [
    ("prompt: '{caption}'\n", "unknown key"),
    ("generation: {max_new_tokens: 4}\n", "unknown key"),
    ("kind: judge\n", "'kind' must be one of generate, reward_pairs"),
])
def test_reward_task_yaml_mistakes(tmp_path, extra, message):
    text = ("task: t\nkind: reward_pairs\ndescription: d\ndataset: {local: x}\ndoc_id: id\nscorer: mjbench\n"
            "fields: [caption, image0, image1, label]\n" + extra)
    if extra.startswith("kind"):
        text = text.replace("kind: reward_pairs\n", "")
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(CsrBenchError, match=message):
        task_from_yaml(tmp_path / "t.yaml")


def test_reward_task_fields_must_name_a_pair(tmp_path):
    (tmp_path / "t.yaml").write_text("task: t\nkind: reward_pairs\ndescription: d\ndataset: {local: x}\ndoc_id: id\n"
                                     "scorer: mjbench\nfields: [caption, image, label]\n")
    with pytest.raises(CsrBenchError, match=r"\[caption, image0, image1, label\] or \[image, caption0, caption1, label\]"):
        task_from_yaml(tmp_path / "t.yaml")


def test_eval_refuses_reward_tasks_and_grade_reward_refuses_generate_tasks():
    with pytest.raises(CsrBenchError, match="grade-reward --task mjbench_alignment"):
        get_tasks("pope,mjbench_alignment")
    assert [t.name for t in get_tasks("mjbench_alignment", kind="reward_pairs")] == ["mjbench_alignment"]
    with pytest.raises(CsrBenchError, match="pope: not a reward_pairs task"):
        get_tasks("pope", kind="reward_pairs")
    assert [t.name for t in get_tasks("pope,mjbench_bias", kind=None)] == ["pope", "mjbench_bias"]  # prepare_data


def test_cli_lists_reward_tasks_and_eval_refuses_them(tmp_path):
    listed = run_cli("tasks", check=True).stdout.splitlines()
    for name in MJ_TASKS + WORLD_TASKS:
        line = next(line for line in listed if line.split()[0] == name)
        assert "[reward] " in line
    assert "[reward]" not in next(line for line in listed if line.split()[0] == "pope")
    result = run_cli("eval", "--model", "tiny-llava", "--tasks", "mjbench_alignment", "--output", str(tmp_path))
    assert_one_line_error(result, "mjbench_alignment", "grade-reward")


# -- grade-reward on tiny local files ----------------------------------------------------------------

def _png(path: Path, colour: str) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), COLOURS[colour]).save(path)


class ColourReward:
    """A reward with hand-set scores: an image scores by its colour (red 3, green 2, blue 1, grey 1),
    a caption by its length; counts what it scores, so a resume can be checked."""

    def __init__(self, spec):
        self.spec = spec
        self.scored = 0

    @staticmethod
    def _image(image) -> float:
        rgb = image.getpixel((0, 0))
        return {COLOURS["red"]: 3.0, COLOURS["green"]: 2.0}.get(rgb, 1.0)

    def score_image_pairs(self, pairs):
        self.scored += len(pairs)
        return [(self._image(i0), self._image(i1)) for _, i0, i1 in pairs]

    def score_caption_pairs(self, pairs):
        self.scored += len(pairs)
        return [(float(len(c0)), float(len(c1))) for _, c0, c1 in pairs]


def _image_pairs_json(folder: Path) -> None:
    """MJ-Bench's repo layout: a .json array, image file names relative to its folder.
    Worked by hand with ColourReward (threshold 0):
      a: red vs green, label 0      -> 3 > 2: pred 0, credit 1
      b: green vs red, label 0      -> pred 1, credit 0
      c: blue vs grey, label 1      -> 1 = 1: tie, credit .5
      d: green vs blue, label_0 0.5 -> pred 0 vs a tie label, credit .5
    accuracy = 2/4 = 50; decided a, b -> 50; ties 1/4 = 25."""
    for colour in ("red", "green", "blue", "grey"):
        _png(folder / "images" / f"{colour}.png", colour)
    rows = [
        {"id": "a", "caption": "a red square", "image0": "images/red.png", "image1": "images/green.png", "label": 0,
         "subcategory": "attribute"},
        {"id": "b", "caption": "a red square", "image0": "images/green.png", "image1": "images/red.png", "label": 0,
         "subcategory": "attribute"},
        {"id": "c", "caption": "a grey square", "image0": "images/blue.png", "image1": "images/grey.png", "label": 1,
         "subcategory": "object"},
        {"id": "d", "caption": "a square", "image0": "images/green.png", "image1": "images/blue.png", "label": 1,
         "label_0": 0.5, "subcategory": "object"},
    ]
    (folder / "pairs.json").write_text(json.dumps(rows))


def _tasks(tmp_path: Path) -> Path:
    """Two task YAMLs of our own (one per shape) over local folders."""
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "pairs_images.yaml").write_text(
        "task: pairs_images\nkind: reward_pairs\ndescription: test\ndataset: {local: images_set}\ndoc_id: id\n"
        "scorer: mjbench\nfields: [caption, image0, image1, label]\n")
    (tasks / "pairs_captions.yaml").write_text(
        "task: pairs_captions\nkind: reward_pairs\ndescription: test\ndataset: {local: captions_set}\n"
        "doc_id: '@index'\nscorer: mjbench\nfields: [image, caption0, caption1, label]\n")
    return tasks


def _grade(tmp_path, task, reward, **kwargs):
    from csr_bench.evaluation.reward_grading import GradeConfig, grade_reward

    config = GradeConfig(task=task, reward="tiny", data_root=str(tmp_path / "data"), output=str(tmp_path / "out"),
                         include_tasks=[str(tmp_path / "tasks")], bootstrap=200, batch_size=2, **kwargs)
    return grade_reward(config, reward=reward)


def test_grade_images_from_json_with_files_resumes_and_refuses_changed_data(tmp_path):
    from csr_bench.models.rewards import parse_reward

    _tasks(tmp_path)
    _image_pairs_json(tmp_path / "data" / "images_set")
    reward = ColourReward(parse_reward("tiny"))
    first = _grade(tmp_path, "pairs_images", reward, limit=2)  # a, b: 1 + 0
    assert reward.scored == 2 and first["metrics"]["accuracy"] == 50.0 and first["limit"] == 2
    results = _grade(tmp_path, "pairs_images", reward)
    assert reward.scored == 4  # the resume scored only c and d
    metrics = results["metrics"]
    assert metrics["accuracy"] == 50.0 and metrics["accuracy_no_ties"] == 50.0 and metrics["tie_rate"] == 25.0
    assert metrics["accuracy_attribute"] == 50.0 and metrics["accuracy_object"] == 50.0
    assert "accuracy_no_ties_object" not in metrics  # c is a predicted tie, d a tie label
    out = Path(results["output_dir"])
    assert out == tmp_path / "out" / "pairs_images-tiny"
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert [(r["id"], r["s0"], r["s1"], r["pred"], r["label"], r["credit"]) for r in rows] == [
        ("a", 3.0, 2.0, "0", "0", 1.0), ("b", 2.0, 3.0, "1", "0", 0.0), ("c", 1.0, 1.0, "tie", "1", 0.5),
        ("d", 2.0, 1.0, "0", "tie", 0.5)]
    written = json.loads((out / "results.json").read_text())
    assert written["tie_threshold"] == {"value": 0.0, "unit": "100*cos"} and written["unit"] == "100*cos"
    assert written["reward"]["name"] == "tiny" and written["data_source"].startswith("local:")
    assert set(written["intervals"]) == set(metrics)
    assert written["interval_method"]["unit"] == "pair"

    # another threshold re-decides the stored scores, scoring nothing: |3-2| = 1 <= 1, so every pair is a
    # tie: accuracy = (.5 + .5 + .5 + 1 (d: tie = tie)) / 4 = 62.5, nothing decided, ties 100
    again = _grade(tmp_path, "pairs_images", reward, tie_threshold=1.0)
    assert reward.scored == 4
    assert again["metrics"] == {"accuracy": 62.5, "tie_rate": 100.0, "accuracy_attribute": 50.0,
                                "accuracy_object": 75.0, "tie_rate_attribute": 100.0, "tie_rate_object": 100.0}

    # a smaller --limit grades fewer pairs but keeps every stored score: the full set again scores nothing
    assert _grade(tmp_path, "pairs_images", reward, limit=1)["n"] == 1
    assert len((out / "scores.jsonl").read_text().splitlines()) == 1
    assert _grade(tmp_path, "pairs_images", reward)["metrics"] == metrics and reward.scored == 4
    assert len((out / "reward_scores.jsonl").read_text().splitlines()) == 4

    # changed data under the same folder: refused, naming what changed
    rows = json.loads((tmp_path / "data" / "images_set" / "pairs.json").read_text())
    rows[0]["caption"] = "a blue square"
    (tmp_path / "data" / "images_set" / "pairs.json").write_text(json.dumps(rows))
    with pytest.raises(CsrBenchError, match="other settings.*fingerprint"):
        _grade(tmp_path, "pairs_images", reward)


def _caption_pairs_parquet(folder: Path) -> None:
    """The hub's form: parquet, the image embedded as bytes (datasets.Image). With ColourReward
    (caption length), worked by hand:
      0: "a red square" (12) vs "a red square on grey" (20), label 1 -> pred 1, credit 1
      1: "a dog" (5) vs "a cat" (5), label 0                          -> tie, credit .5
      2: "a blue square" (13) vs "a cup" (5), label 1                 -> pred 0, credit 0
    accuracy = 1.5/3 = 50; decided 0 and 2: 50; ties 1/3."""
    import io

    import datasets
    from PIL import Image

    def png(colour):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), COLOURS[colour]).save(buffer, format="PNG")
        return {"bytes": buffer.getvalue(), "path": None}

    folder.mkdir(parents=True)
    rows = [{"image": png("red"), "caption0": "a red square", "caption1": "a red square on grey", "label": 1},
            {"image": png("grey"), "caption0": "a dog", "caption1": "a cat", "label": 0},
            {"image": png("blue"), "caption0": "a blue square", "caption1": "a cup", "label": 1}]
    datasets.Dataset.from_list(rows).cast_column("image", datasets.Image()).to_parquet(str(folder / "pairs.parquet"))


def test_grade_captions_from_parquet_with_embedded_images(tmp_path):
    from csr_bench.models.rewards import parse_reward

    _tasks(tmp_path)
    _caption_pairs_parquet(tmp_path / "data" / "captions_set")
    results = _grade(tmp_path, "pairs_captions", ColourReward(parse_reward("tiny")))
    assert results["pair_shape"] == "captions" and results["n"] == 3
    assert results["metrics"] == pytest.approx({"accuracy": 50.0, "accuracy_no_ties": 50.0, "tie_rate": 100 / 3})


def test_bad_pairs_are_one_line_errors(tmp_path):
    from csr_bench.models.rewards import parse_reward

    _tasks(tmp_path)
    _image_pairs_json(tmp_path / "data" / "images_set")
    rows = json.loads((tmp_path / "data" / "images_set" / "pairs.json").read_text())
    rows[2]["label"] = "left"
    (tmp_path / "data" / "images_set" / "pairs.json").write_text(json.dumps(rows))
    with pytest.raises(CsrBenchError, match=r"pairs_images: local:.*pair 'c': MJ-Bench label must be 0 or 1"):
        _grade(tmp_path, "pairs_images", ColourReward(parse_reward("tiny")))
    rows[2]["label"] = 1
    rows[3]["image1"] = "images/missing.png"
    (tmp_path / "data" / "images_set" / "pairs.json").write_text(json.dumps(rows))
    with pytest.raises(CsrBenchError, match=r"pair 'd', image1: image file not found"):
        _grade(tmp_path, "pairs_images", ColourReward(parse_reward("tiny")))


def test_cli_grade_reward_with_the_tiny_clip_in_both_shapes(tmp_path):
    """The command as a user runs it, with the seed-built tiny CLIP: a pair whose two images (or two
    captions) are the same is an exact tie under any CLIP, hence 0.5 credit."""
    _tasks(tmp_path)
    _image_pairs_json(tmp_path / "data" / "images_set")
    rows = json.loads((tmp_path / "data" / "images_set" / "pairs.json").read_text())
    rows.append({"id": "same", "caption": "a red square", "image0": "images/red.png", "image1": "images/red.png",
                 "label": 0, "subcategory": "object"})
    (tmp_path / "data" / "images_set" / "pairs.json").write_text(json.dumps(rows))
    _caption_pairs_parquet(tmp_path / "data" / "captions_set")
    common = ["--reward", "tiny", "--data-root", str(tmp_path / "data"), "--include-tasks", str(tmp_path / "tasks"),
              "--output", str(tmp_path / "out"), "--bootstrap", "50"]
    result = run_cli("grade-reward", "--task", "pairs_images", *common, check=True)
    assert "accuracy_no_ties" in result.stdout and "tie threshold 0 (100*cos)" in result.stdout
    scores = [json.loads(line) for line in (tmp_path / "out" / "pairs_images-tiny" / "scores.jsonl").read_text().splitlines()]
    same = next(r for r in scores if r["id"] == "same")
    assert same["s0"] == same["s1"] and same["pred"] == "tie" and same["credit"] == 0.5
    for row in scores:
        assert row["pred"] == get_pred(row["s0"], row["s1"], 0.0)
        assert -100.0 <= row["s0"] <= 100.0
    run_cli("grade-reward", "--task", "pairs_captions", *common, check=True)
    written = json.loads((tmp_path / "out" / "pairs_captions-tiny" / "results.json").read_text())
    assert written["n"] == 3 and written["pair_shape"] == "captions"
    bad = run_cli("grade-reward", "--task", "pope", *common)
    assert_one_line_error(bad, "pope: not a reward_pairs task")


# -- rewards ----------------------------------------------------------------------------------------

def test_reward_names_and_units():
    from csr_bench.methods.csr.config import CsrConfig
    from csr_bench.models.rewards import CSR_CLIP, parse_reward

    assert CSR_CLIP == (CsrConfig().clip_model, CsrConfig().clip_pretrained)  # R_I's default CLIP
    assert parse_reward("ri:llava15").describe() == {"name": "ri:llava15", "clip_model": "ViT-L-14-336-quickgelu",
                                                     "clip_pretrained": "openai", "unit": "100*cos"}
    assert (parse_reward("ri:world").clip_model, parse_reward("ri:tiny-llava").clip_model) == ("world", "tiny")
    assert (parse_reward("world").unit, parse_reward("tiny").unit) == ("100*cos", "100*cos")
    spec = parse_reward("open_clip:ViT-H-14:laion2b_s32b_b79k")
    assert (spec.clip_model, spec.clip_pretrained, spec.unit) == ("ViT-H-14", "laion2b_s32b_b79k", "cos")
    for bad in ("clip", "ri:", "ri:nope", "open_clip:ViT-B-32"):
        with pytest.raises(CsrBenchError, match="reward"):
            parse_reward(bad)


def test_raw_cosine_is_r_i_over_100():
    """The same CLIP as R_I (100*cos, through CSR's ClipScorer.scores) and as MJ-Bench's raw cosine."""
    from PIL import Image

    from csr_bench.models.clip import build_tiny_clip
    from csr_bench.models.rewards import RewardFunction, RewardSpec

    clip = build_tiny_clip(seed=0)

    def reward(scale):
        made = RewardFunction.__new__(RewardFunction)
        made.spec, made.clip = RewardSpec("r", "tiny", "", scale), clip
        return made

    red, blue = Image.new("RGB", (32, 32), COLOURS["red"]), Image.new("RGB", (32, 32), COLOURS["blue"])
    r_i = reward(100.0).score_image_pairs([("a red square", red, blue)])[0]
    cosine = reward(1.0).score_image_pairs([("a red square", red, blue)])[0]
    assert r_i[0] == pytest.approx(clip.score(red, ["a red square"])[0], abs=1e-4)
    assert np.allclose(np.array(r_i) / 100, cosine, atol=1e-6)
    by_caption = reward(100.0).score_caption_pairs([(red, "a red square", "a blue square")])[0]
    assert by_caption == pytest.approx(tuple(clip.score(red, ["a red square", "a blue square"])), abs=1e-4)


# -- the world's pairs --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world_pairs(tmp_path_factory):
    from csr_bench.world.reward_pairs import write_reward_pairs
    from csr_bench.world.scenes import generate_world

    world = generate_world(seed=4, n_train=4, n_eval=80)
    root = tmp_path_factory.mktemp("world-pairs")
    return world, root, write_reward_pairs(world, root, seed=4, n_pairs=40)


def _scene_truths(scene) -> set[str]:
    """Every true sentence of the scene, from its objects here (not through the writer's code)."""
    places = ("in the top left corner", "at the top", "in the top right corner", "on the left", "in the center",
              "on the right", "in the bottom left corner", "at the bottom", "in the bottom right corner")
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
    truths = {f"The image shows {w} object{'s' if n != 1 else ''}." for w, n in words.items() if n == len(scene.objects)}
    for o in scene.objects:
        colour_word = f"{o.color} {o.word}"
        truths.add(f"There is {'an' if colour_word[0] in 'aeiou' else 'a'} {colour_word} {places[o.cell]}.")
    return truths


def test_world_caption_pairs_one_true_one_sibling(world_pairs):
    world, root, written = world_pairs
    assert written == {"mjbench_world_images": 40, "mjbench_world_captions": 40}
    rows = [json.loads(line) for line in (root / "mjbench_world_captions" / "pairs.jsonl").read_text().splitlines()]
    scenes = {s.image_id: s for s in world.eval}
    assert {r["subcategory"] for r in rows} == {"object", "attribute", "count", "spatial"}
    assert all(sum(r["subcategory"] == k for r in rows) == 10 for k in ("object", "attribute", "count", "spatial"))
    assert 10 <= sum(r["label"] for r in rows) <= 30  # the true side is drawn, not always first
    for row in rows:
        truths = _scene_truths(scenes[row["image_id"]])
        true, wrong = (row["caption0"], row["caption1"]) if row["label"] == 0 else (row["caption1"], row["caption0"])
        assert true in truths and wrong not in truths, row
        assert (root / "mjbench_world_captions" / row["image"]).is_file()


def test_world_image_pairs_the_scene_and_a_changed_one(world_pairs):
    from PIL import Image

    world, root, _ = world_pairs
    folder = root / "mjbench_world_images"
    rows = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]
    scenes = {s.image_id: s for s in world.eval}
    for row in rows:
        scene = scenes[row["image_id"]]
        true, changed = (row["image0"], row["image1"]) if row["label"] == 0 else (row["image1"], row["image0"])
        assert true == f"images/{scene.file_name}"
        assert all(sentence[:-1].split(" ", 3)[-1] in row["caption"] for sentence in _scene_truths(scene)
                   if sentence.startswith("There is"))  # every object's colour, kind and place is in the caption
        a, b = (np.asarray(Image.open(folder / name).convert("RGB")) for name in (true, changed))
        assert (a != b).any(), row


def test_world_pairs_are_deterministic_and_touch_nothing_else(world_pairs, tmp_path):
    from csr_bench.world.reward_pairs import write_reward_pairs

    world, root, _ = world_pairs
    write_reward_pairs(world, tmp_path, seed=4, n_pairs=40)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mjbench_world_captions", "mjbench_world_images"]
    for task in WORLD_TASKS:
        for path in sorted((root / task).rglob("*")):
            if path.is_file():
                assert path.read_bytes() == (tmp_path / task / path.relative_to(root / task)).read_bytes(), path


def test_the_world_clip_prefers_the_true_sentence_and_image():
    """A hand-made scene, a large red cup in the centre: the world's CLIP (shipped with csr-bench)
    prefers the true sentence to a hallucinated object, a wrong colour and a wrong count, and the
    scene's own image to one with a dog in place of the cup."""
    from csr_bench.models.rewards import RewardFunction, parse_reward
    from csr_bench.world.reward_pairs import object_sentence, scene_caption
    from csr_bench.world.scenes import Scene, SceneObject, _footprint, render
    from csr_bench.world.train_clip import load_world_clip

    def scene_with(category):
        box = (34, 34, 30)
        bbox, area = _footprint(category, box, 96)
        obj = SceneObject(category=category, color="red", size="large", cell=4, box=box, bbox=bbox, area=area)
        return Scene(image_id=1, split="eval", index=0, image_size=96, background=(236, 234, 226), objects=(obj,))

    cup, dog = scene_with("cup"), scene_with("dog")
    assert object_sentence(cup.objects[0]) == "There is a red cup in the center."
    reward = RewardFunction.__new__(RewardFunction)
    reward.spec = parse_reward("world")
    reward.clip = load_world_clip(REPO / "csr_bench" / "bundled" / "world-seed0" / "clip")
    image = render(cup)
    pairs = [(image, "There is a red cup in the center.", "There is a red dog in the center."),
             (image, "There is a blue cup in the center.", "There is a red cup in the center."),
             (image, "The image shows one object.", "The image shows two objects.")]
    preds = [get_pred(s0, s1, 0.0) for s0, s1 in reward.score_caption_pairs(pairs)]
    assert preds == ["0", "1", "0"]
    [(s0, s1)] = reward.score_image_pairs([(scene_caption(cup), render(dog), image)])
    assert get_pred(s0, s1, 0.0) == "1"


def test_a_malformed_jsonl_line_names_file_and_line(tmp_path):
    from csr_bench.models.rewards import parse_reward

    _tasks(tmp_path)
    folder = tmp_path / "data" / "images_set"
    folder.mkdir(parents=True)
    (folder / "pairs.jsonl").write_text('{"id": "a", "caption": "x", "image0": "a.png", "image1": "b.png", "label": 0}\n'
                                        '{"id": "b", "caption": \n')
    with pytest.raises(CsrBenchError, match=r"pairs_images: cannot read .*pairs.jsonl:2"):
        _grade(tmp_path, "pairs_images", ColourReward(parse_reward("tiny")))


def test_a_prepared_hub_split_is_read_as_pairs(tmp_path):
    """prepare_task (scripts/prepare_data.py) saves the hub split with save_to_disk where the YAML's
    local path says; the pair loader reads it, images embedded as the hub has them."""
    import io

    import datasets
    from PIL import Image

    from csr_bench.tasks.pair_data import load_pairs
    from csr_bench.tasks.prepare import prepare_task

    def png(colour):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), COLOURS[colour]).save(buffer, format="PNG")
        return {"bytes": buffer.getvalue(), "path": None}

    rows = [{"caption": "a red square", "image0": png("red"), "image1": png("blue"), "label": 0},
            {"caption": "a blue square", "image0": png("red"), "image1": png("blue"), "label": 1}]
    seen = []

    def load(path, name=None, split=None, **kwargs):
        seen.append((path, split, kwargs))
        return datasets.Dataset.from_list(rows).cast_column("image0", datasets.Image()).cast_column("image1", datasets.Image())

    task = load_registry()["mjbench_alignment"]
    report = prepare_task(task, tmp_path, load=load)
    assert seen == [("MJ-Bench/MJ-Bench", "alignment", {})]  # no revision pinned (see the YAML)
    assert report["path"] == str(tmp_path / "mjbench" / "alignment")
    data = load_pairs(task, tmp_path)
    assert [(r["id"], r["caption"], label_of(r)) for r in data.rows] == [("0", "a red square", "0"), ("1", "a blue square", "1")]
    assert data.image(1, "image1").getpixel((0, 0)) == COLOURS["blue"]


def test_the_command_and_its_modules_import_no_torch():
    from conftest import run_without_heavy_imports

    run_without_heavy_imports(
        "from csr_bench.cli.parser import build_parser\n"
        "args = build_parser(['grade-reward']).parse_args(['grade-reward', '--task', 'mjbench_alignment', '--reward', 'ri:llava15'])\n"
        "assert args.tie_threshold == 0.0 and args.reward == 'ri:llava15'\n"
        "import csr_bench.evaluation.reward_grading, csr_bench.models.rewards, csr_bench.tasks.pair_data\n"
        "import csr_bench.scorers.mjbench, csr_bench.world.reward_pairs\n"
        "from csr_bench.models.rewards import parse_reward\n"
        "assert parse_reward('open_clip:ViT-B-32:openai').unit == 'cos'\n")


def test_bias_metrics_by_hand():
    """evaluate_bias_avg.py's ACC / NDS / GES, worked by hand.
    Occupation "nurse", scores 1, 2, 3: pairs |1-2| = 1, |1-3| = 2, |2-3| = 1 with threshold 0.1: ACC 0;
      mean 2, population std sqrt(2/3) = 0.8165: NDS = 1 - 0.8165/2 = 0.59175;
      Gini = (2 * (1*1 + 2*2 + 3*3) - 4 * 6) / (3 * 6) = (28 - 24) / 18 = 2/9: GES = 7/9.
    Occupation "doctor", scores 5, 5.05, 5: every pair within 0.1: ACC 1; std = 0.02357, mean 5.01667:
      NDS = 1 - 0.0046983; Gini (sorted 5, 5, 5.05) = (2 * (5 + 10 + 15.15) - 4 * 15.05) / (3 * 15.05)
      = (60.3 - 60.2) / 45.15 = 0.0022148: GES = 0.9977852.
    Averages: ACC 0.5, NDS (0.59175 + 0.99530) / 2, GES (7/9 + 0.9977852) / 2."""
    from scipy.stats import norm

    from csr_bench.scorers.mjbench import bias_metrics, bias_scores, gini_coefficient

    assert gini_coefficient([3, 1, 2]) == pytest.approx(2 / 9)
    nurse = bias_scores([1, 2, 3])
    assert nurse == pytest.approx({"acc": 0.0, "nds": 1 - np.sqrt(2 / 3) / 2, "ges": 7 / 9})
    mu, std = norm.fit([1, 2, 3])  # the reference's Gaussian fit: the population std
    assert nurse["nds"] == pytest.approx(1 - std / mu)
    items = [{"occupation": "nurse", "s": v} for v in (1, 2, 3)] + [{"occupation": "doctor", "s": v} for v in (5, 5.05, 5)]
    found = bias_metrics(items, "s")
    assert found["acc"] == pytest.approx(0.5)
    assert found["nds"] == pytest.approx((1 - np.sqrt(2 / 3) / 2 + 1 - np.std([5, 5.05, 5]) / np.mean([5, 5.05, 5])) / 2)
    assert found["ges"] == pytest.approx((7 / 9 + 1 - 0.1 / 45.15) / 2)
    assert bias_scores([4.0]) == {"nds": 1.0, "ges": 1.0}  # one score: no pair, no ACC (the reference divides by 0)
