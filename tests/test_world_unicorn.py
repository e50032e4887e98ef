"""The world's OOD robustness task (unicorn_world): the renderer's default output is the committed one
byte for byte, the outline and unseen-colour renderings differ as designed, the rows follow Unicorn's
OODCV-VQA schema (question, answer, text_answer, situation, image) with the same questions about the same
scenes in each situation, half "Yes", every answer checked against the scene by reading the question's
words here, one question per image (Unicorn keys answers by image), and adding the task changes no other
world benchmark's bytes."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from csr_bench.world import benchmarks
from csr_bench.world.benchmarks import BenchmarkSizes, unicorn_questions, write_world_benchmarks
from csr_bench.world.scenes import Scene, SceneObject, generate_world, png_bytes, render

SIZES = BenchmarkSizes(pope_images_per_split=3, chair_images=4, mme_images=4, seed_questions=4, mmbench_questions=3,
                       scienceqa_questions=3, gqa_questions=4, vizwiz_questions=3, amber_images=4,
                       amber_existence=4, amber_state=3, amber_number=2, amber_relation=2,
                       unicorn_existence=30, unicorn_count=10)
SITUATIONS = ("iid", "outline", "unseen_colour")
FIELDS = {"question_id", "pair", "image", "question", "answer", "text_answer", "situation"}
# The world's palette and the colours the unseen-colour rendering uses instead, written out here (not
# read from scenes.py) so that a change of either shows.
PALETTE = {(214, 39, 40), (44, 160, 44), (31, 90, 210), (240, 200, 20), (148, 80, 189), (245, 130, 190)}
UNSEEN = {"red": (0, 150, 140), "green": (135, 82, 35), "blue": (250, 130, 0), "yellow": (128, 128, 128),
          "purple": (40, 40, 40), "pink": (60, 205, 230)}
STROKE = (40, 40, 40)
COUNT = "How many objects are there in the image?"
PARTNER = {"fork": "knife", "cup": "spoon", "dog": "sports ball", "laptop": "mouse", "apple": "banana",
           "car": "traffic light", "book": "clock"}
PARTNER.update({b: a for a, b in list(PARTNER.items())})


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=3, n_train=4, n_eval=60)


@pytest.fixture(scope="module")
def root(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("unicorn-world")
    write_world_benchmarks(world, root, seed=3, sizes=SIZES)
    return root


def _rows(root: Path) -> list[dict]:
    return json.loads((root / "unicorn_world" / "oodcv-vqa.json").read_text())


def test_default_rendering_is_the_committed_one():
    """sha256 of the PNGs of world 0's first training and evaluation scenes, computed with the renderer
    as committed before the outline and colour options were added (a487037): every other world image,
    and so every other benchmark and the shipped VLM's training data, is unchanged."""
    w = generate_world(seed=0, n_train=2, n_eval=3)
    hashes = [hashlib.sha256(png_bytes(s)).hexdigest() for s in w.train + w.eval]
    assert hashes == ["99f9bab6375d4a71ccaa823bd00f1b1c318dbc3f3adf53dae0ad348ea4456abe",
                      "a0d89ef3bca860a1064bc46deb3abcd84c43eb1974aa58ab53a8900bd736bd57",
                      "29de27c61567be2e361c76c894e85686441804dbc8676ff6660797a1e6953315",
                      "b20465dad7db3d0e431f17b57e77301034d3cb3b36f6a7e4358d521f8cad2eda",
                      "515350f34186ce0970b0f63a5a160990c0607c6e89ece20e66b3efbee3046c5f"]
    scene = w.eval[0]
    assert png_bytes(scene, outline=False, colors=None) == png_bytes(scene)


def test_outlines_and_unseen_colours_differ_as_designed(world):
    for scene in world.eval[:40]:
        plain, outline, unseen = (np.asarray(render(scene, **options)) for options in
                                  ({}, {"outline": True}, {"colors": UNSEEN}))
        background = np.array(scene.background)
        drawn = [(image != background).any(-1) for image in (plain, outline, unseen)]
        # outline: strokes of one dark colour on the scene's background, inside the objects' squares, some in
        # each object's square
        assert {tuple(c) for c in outline.reshape(-1, 3)} <= {tuple(scene.background), STROKE}
        boxes = np.zeros_like(drawn[1])
        for obj in scene.objects:
            x, y, side = obj.box
            boxes[y:y + side, x:x + side] = True
            assert drawn[1][y:y + side, x:x + side].any(), (scene.index, obj)
        assert not (drawn[1] & ~boxes).any()
        # unseen colours: the same shapes pixel for pixel, no pixel in a palette colour, each object's new colour
        assert (drawn[2] == drawn[0]).all()
        colours = {tuple(c) for c in unseen.reshape(-1, 3)}
        assert not colours & PALETTE
        # (a tiny object's main colour may be all covered by its outline and details)
        assert {UNSEEN[o.color] for o in scene.objects if o.size != "tiny"} <= colours
        assert {tuple(c) for c in plain.reshape(-1, 3)} & PALETTE  # the world's own drawing uses its palette


def _truth(scene: Scene, question: str) -> str:
    """The answer read from the question's words: POPE's existence question with the category name."""
    if question == "How many objects are there in the image?":
        return str(len(scene.objects))
    m = re.fullmatch(r"Is there an? (.+) in the image\?", question)
    assert m, question
    return "Yes" if m.group(1) in scene.categories else "No"


def test_rows_follow_the_oodcv_schema_same_questions_in_each_situation(root, world):
    rows = _rows(root)
    n = SIZES.unicorn_existence + SIZES.unicorn_count
    assert len(rows) == 3 * n == 120
    assert json.loads((root / "world.json").read_text())["counts"]["unicorn_world"] == 120
    assert all(set(r) == FIELDS for r in rows)
    assert [r["situation"] for r in rows] == [s for s in SITUATIONS for _ in range(n)]
    assert [r["question_id"] for r in rows] == [f"{s}/{k}" for s in SITUATIONS for k in range(n)]
    assert all(r["answer"] == r["text_answer"] for r in rows)
    by_situation = {s: [r for r in rows if r["situation"] == s] for s in SITUATIONS}
    iid = by_situation["iid"]
    for situation in SITUATIONS:
        rows_s = by_situation[situation]
        assert [(r["pair"], r["question"], r["text_answer"]) for r in rows_s] == \
            [(r["pair"], r["question"], r["text_answer"]) for r in iid]
        assert len({r["image"] for r in rows_s}) == n  # one question per image: none replaced in Unicorn's dict
        assert all(r["image"] == f"images/{situation}/" + Path(i["image"]).name for r, i in zip(rows_s, iid))
    # half "Yes" among the existence questions; then the counts, each the scene's object count (1-4)
    answers = Counter(r["text_answer"] for r in iid[:SIZES.unicorn_existence])
    assert answers == {"Yes": 15, "No": 15}
    assert all(r["question"] == "How many objects are there in the image?" and r["text_answer"] in "1234"
               for r in iid[SIZES.unicorn_existence:])

    # each row's images: the iid one is the world's own evaluation image (coco/val2014) and each other
    # situation's is the same scene drawn that way; the answers are true of that scene
    folder = root / "unicorn_world"
    scene_of = {s.file_name: s for s in world.eval}
    partner_no = 0
    for r in iid:
        scene = scene_of[Path(r["image"]).name]
        assert (folder / r["image"]).read_bytes() == (root / "coco" / "val2014" / scene.file_name).read_bytes()
        assert (folder / "images" / "outline" / scene.file_name).read_bytes() == png_bytes(scene, outline=True)
        assert (folder / "images" / "unseen_colour" / scene.file_name).read_bytes() == png_bytes(scene, colors=UNSEEN)
        assert _truth(scene, r["question"]) == r["text_answer"], r
        if r["text_answer"] == "No":
            asked = re.fullmatch(r"Is there an? (.+) in the image\?", r["question"]).group(1)
            absent_partners = {PARTNER[c] for c in scene.categories} - set(scene.categories)
            # "No": an absent partner whenever the scene has one
            assert (asked in absent_partners) == bool(absent_partners), r
            partner_no += asked in absent_partners
    assert partner_no >= 12  # most evaluation scenes break the prior (about 9 in 10)
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*.png")} == {r["image"] for r in rows}


def _object(category, cell):
    return SceneObject(category=category, color="red", size="large", cell=cell,
                       box=(cell % 3 * 32, cell // 3 * 32, 20), bbox=(cell % 3 * 32, cell // 3 * 32, 20, 20), area=400)


def test_a_hand_made_scene():
    """A fork and a cup (partners knife and spoon absent), and a dog with its ball (no absent partner):
    "Yes" asks about an object of the scene, "No" about knife or spoon for the first, about one of the
    12 objects not in the second otherwise; the count is 2 for both."""
    first = Scene(image_id=500_001, split="eval", index=0, image_size=96, background=(236, 234, 226),
                  objects=(_object("fork", 0), _object("cup", 8)))
    second = Scene(image_id=500_002, split="eval", index=1, image_size=96, background=(236, 234, 226),
                   objects=(_object("dog", 3), _object("sports ball", 5)))
    for seed in range(20):
        questions = unicorn_questions([first, second], BenchmarkSizes(unicorn_existence=2, unicorn_count=0),
                                      random.Random(seed))
        assert sorted(answer for _, _, answer in questions) == ["No", "Yes"]
        for scene, question, answer in questions:
            options = {"Yes": {first: {"fork", "cup"}, second: {"dog", "sports ball"}},
                       "No": {first: {"knife", "spoon"},
                              second: {"fork", "knife", "cup", "spoon", "laptop", "mouse", "apple", "banana", "car",
                                       "traffic light", "book", "clock"}}}[answer][scene]
            assert question in {f"Is there {'an' if w[0] in 'aeiou' else 'a'} {w} in the image?" for w in options}
    counts = unicorn_questions([first, second], BenchmarkSizes(unicorn_existence=0, unicorn_count=2), random.Random(0))
    assert [(q, a) for _, q, a in counts] == [("How many objects are there in the image?", "2")] * 2


def test_same_seed_same_bytes_other_seed_other_questions(world, root, tmp_path):
    write_world_benchmarks(world, tmp_path / "again", seed=3, sizes=SIZES)
    write_world_benchmarks(world, tmp_path / "other", seed=4, sizes=SIZES)

    def files(folder):
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert files(root / "unicorn_world") == files(tmp_path / "again" / "unicorn_world")
    assert _rows(root) != _rows(tmp_path / "other")


def test_adding_unicorn_world_changes_no_other_benchmark(world, root, tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarks, "write_unicorn_world", lambda *args: 0)  # the world as written before it
    write_world_benchmarks(world, tmp_path, seed=3, sizes=SIZES)
    before = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in sorted(tmp_path.rglob("*"))
              if p.is_file() and p.name != "world.json"}
    after = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file() and p.name != "world.json" and not p.relative_to(root).as_posix().startswith("unicorn_world/")}
    assert before.keys() == after.keys() and before == after
    assert any(name.startswith("amber_world/") for name in after) and any(name.startswith("pope/") for name in after)
    old, new = (json.loads((folder / "world.json").read_text()) for folder in (tmp_path, root))
    assert {**new["counts"], "unicorn_world": 0} == old["counts"]


def test_unicorn_world_loads_through_its_task_and_is_a_world_task(root):
    from csr_bench.models.registry import WORLD_DATA_TASKS
    from csr_bench.tasks import load_registry
    from csr_bench.tasks.data import load_task_data

    task = load_registry()["unicorn_world"]
    assert task.scorer == "unicorn_oodcv" and set(task.aspects) == {"robustness", "hallucination"}
    assert task.generation.max_new_tokens == 25
    data = load_task_data(task, root)
    assert len(data) == 120 and data.image(0).size == data.image(len(data) - 1).size == (96, 96)
    assert "unicorn_world" in WORLD_DATA_TASKS
    assert task.prompt.format(question="Is there a cup in the image?") == \
        "Is there a cup in the image?\nAnswer the question using a single word or phrase."


def _iid_answer(row: dict) -> str:
    """A right answer in words: "Yes" / "No" / "There are three objects." (the synonym list's words)."""
    words = {"1": "There is one object.", "2": "There are two objects.", "3": "There are three objects.",
             "4": "There are four objects."}
    return words.get(row["text_answer"], row["text_answer"])


def test_scripted_predictions_scored_by_oodcv_rules(root, tmp_path):
    """The 120 rows written (per situation 30 existence questions, 15 "Yes", and 10 counts), scored by
    `csr-bench score unicorn_world` (unicorn_oodcv: punctuation stripped, first sentence, any synonym of
    text_answer a substring). iid: every answer right, counts in words -> 40/40. outline: always "Yes" ->
    the 15 "Yes" right, the 15 "No" and the 10 counts wrong: 15/40. unseen_colour: always "I do not know."
    -> "not" holds "no", so the 15 "No" count as right (the reference's substring pitfall), the 15 "Yes"
    and the 10 counts ("1".."4": no "one", "two", ... in it) wrong: 15/40.
    acc (40 + 15 + 15)/120 = 58.333; yes_no_acc (30 + 15 + 15)/90 = 66.667; digits_acc 10/30 = 33.333;
    per situation: iid 100, outline 37.5 (yes/no 50, digits 0), unseen_colour 37.5 (yes/no 50, digits 0);
    one question per image, so the faithful rule drops none (n_overwritten 0)."""
    from conftest import run_cli

    rows = _rows(root)
    predictions = {"iid": _iid_answer, "outline": lambda r: "Yes", "unseen_colour": lambda r: "I do not know."}
    file = tmp_path / "preds.jsonl"
    file.write_text("".join(json.dumps({**r, "prediction": predictions[r["situation"]](r)}) + "\n" for r in rows))
    outcome = json.loads(run_cli("score", "unicorn_world", str(file), "--json", check=True).stdout)
    metrics = outcome["metrics"]
    assert outcome["n"] == 120
    expected = {"acc": 58.333, "yes_no_acc": 66.667, "digits_acc": 33.333, "situation_iid_acc": 100.0,
                "situation_iid_yes_no_acc": 100.0, "situation_iid_digits_acc": 100.0, "situation_outline_acc": 37.5,
                "situation_outline_yes_no_acc": 50.0, "situation_outline_digits_acc": 0.0,
                "situation_unseen_colour_acc": 37.5, "situation_unseen_colour_yes_no_acc": 50.0,
                "situation_unseen_colour_digits_acc": 0.0, "n_scored": 120, "n_overwritten": 0}
    assert {k: metrics[k] for k in expected} == pytest.approx(expected, abs=1e-3)


def test_odd_answers_by_oodcv_rules(tmp_path, capsys):
    """Odd outputs on world rows, each worked by the reference's rule (processPunctuation: a mark touching a
    space is dropped, else replaced by a space; periods not followed by a digit dropped; then the text
    before the first remaining "."; right when any synonym of the answer is a substring of it):
    "Yes, there is." (Yes) -> "Yes there is": right; "There is no dog." (No) -> "no": right;
    "yes" (Yes): right (lower case is a synonym); "Nothing." (No) -> "Nothing" holds "No": right;
    "" (Yes): wrong; "3." (3) -> "3": right; "10" (1) -> holds "1": right; "No. Yes." (Yes) -> "No Yes"
    (the periods went before the cut): right; "YES" (Yes): wrong (no synonym in capitals); "Two" (2):
    wrong ("two" is, "Two" is not).
    iid: 4 rows, 3 right (75.0); outline: 3 rows, 2 right; unseen_colour: 3 rows, 2 right.
    acc 7/10 = 70.0; yes_no_acc 5/7 = 71.429 (wrong: "", "YES"); digits_acc 2/3 = 66.667."""
    from csr_bench.cli import main

    cases = [("iid", "Yes", "Yes, there is."), ("iid", "No", "There is no dog."), ("iid", "Yes", "No. Yes."),
             ("iid", "2", "Two"), ("outline", "Yes", "yes"), ("outline", "No", "Nothing."), ("outline", "Yes", ""),
             ("unseen_colour", "3", "3."), ("unseen_colour", "1", "10"), ("unseen_colour", "Yes", "YES")]
    lines = []
    for k, (situation, answer, prediction) in enumerate(cases):
        question = COUNT if answer.isdigit() else "Is there a dog in the image?"
        lines.append({"question_id": f"{situation}/{k}", "pair": k, "image": f"images/{situation}/{k}.png",
                      "question": question, "answer": answer, "text_answer": answer, "situation": situation,
                      "prediction": prediction})
    file = tmp_path / "preds.jsonl"
    file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["score", "unicorn_world", str(file), "--json"]) == 0  # in this process: the CLI, no subprocess
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    expected = {"acc": 70.0, "yes_no_acc": 71.429, "digits_acc": 66.667, "situation_iid_acc": 75.0,
                "situation_outline_acc": 66.667, "situation_unseen_colour_acc": 66.667, "n_overwritten": 0}
    assert {k: metrics[k] for k in expected} == pytest.approx(expected, abs=1e-3)


def test_a_world_written_before_unicorn_world(tmp_path, world, monkeypatch):
    """An explicit --data-root of an older world: one line naming the missing folder. The default world is
    cached per WORLD_VERSION (7 added unicorn_world), so one built before is not reused."""
    from csr_bench.errors import CsrBenchError
    from csr_bench.tasks import load_registry
    from csr_bench.tasks.data import load_task_data
    from csr_bench.world import WORLD_VERSION
    from csr_bench.world.build import world_dir

    monkeypatch.setattr(benchmarks, "write_unicorn_world", lambda *args: 0)
    write_world_benchmarks(world, tmp_path, seed=3, sizes=SIZES)
    with pytest.raises(CsrBenchError) as error:
        load_task_data(load_registry()["unicorn_world"], tmp_path)
    assert "\n" not in str(error.value) and str(tmp_path / "unicorn_world") in str(error.value)
    assert WORLD_VERSION >= 7 and world_dir(0).name == f"world-v{WORLD_VERSION}-seed0"


def test_the_world_writes_mjbench_pairs_and_they_change_nothing_else(world, root, tmp_path, monkeypatch):
    """World v7 also writes MJ-Bench's world pairs (csr_bench/world/reward_pairs.py, tested in
    tests/test_mjbench.py) where the reward-grading tasks read them, on their own streams: without them
    every other file is byte for byte the same."""
    from csr_bench.tasks.registry import get_tasks

    counts = json.loads((root / "world.json").read_text())["counts"]
    assert counts["mjbench_world_images"] == counts["mjbench_world_captions"] == 200  # its default size
    for task in ("mjbench_world_images", "mjbench_world_captions"):
        assert get_tasks(task, kind="reward_pairs")[0].dataset.local == task and (root / task / "pairs.jsonl").is_file()
    monkeypatch.setattr(benchmarks, "write_reward_pairs", lambda *args: {})
    write_world_benchmarks(world, tmp_path, seed=3, sizes=SIZES)
    before = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in sorted(tmp_path.rglob("*"))
              if p.is_file() and p.name != "world.json"}
    after = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file() and p.name != "world.json" and not p.relative_to(root).as_posix().startswith("mjbench_world_")}
    assert before.keys() == after.keys() and before == after
    old = json.loads((tmp_path / "world.json").read_text())["counts"]
    assert old == {k: v for k, v in counts.items() if not k.startswith("mjbench_world_")}
