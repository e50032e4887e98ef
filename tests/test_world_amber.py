"""The world's AMBER-like task (amber_world): the files follow AMBER's schema (junyangwang0410/AMBER @
534babf: query rows, annotations.json indexed by id - 1, relation.json naming every truth/hallu word),
each kind of yes/no question is half "yes", every answer is checked against the scene by reading the
question's words here (not through the writer's code), a hand-made scene gives the questions worked
out by hand, the same seed writes the same bytes, and adding amber_world changes no other benchmark."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from csr_bench.world import benchmarks
from csr_bench.world.benchmarks import BenchmarkSizes, amber_rows, write_world_benchmarks
from csr_bench.world.scenes import Scene, SceneObject, generate_world, png_bytes

SIZES = BenchmarkSizes(pope_images_per_split=3, chair_images=4, mme_images=4, seed_questions=4, mmbench_questions=3,
                       scienceqa_questions=3, gqa_questions=4, vizwiz_questions=3, amber_images=40,
                       amber_existence=40, amber_state=30, amber_number=20, amber_relation=30)
# The world's 14 objects by the one noun AMBER's extraction reads (hand-listed: "sports ball" is
# "ball" in captions, "traffic light" is read as its head noun "light").
WORDS = {"fork": "fork", "knife": "knife", "cup": "cup", "spoon": "spoon", "dog": "dog", "sports ball": "ball",
         "laptop": "laptop", "mouse": "mouse", "apple": "apple", "banana": "banana", "car": "car",
         "traffic light": "light", "book": "book", "clock": "clock"}
CAPTION_WORD = {"sports ball": "ball"}  # the word questions use: the category name otherwise
PARTNER = {"fork": "knife", "cup": "spoon", "dog": "sports ball", "laptop": "mouse", "apple": "banana",
           "car": "traffic light", "book": "clock"}
PARTNER.update({b: a for a, b in list(PARTNER.items())})
COLOURS = ("red", "green", "blue", "yellow", "purple", "pink")
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4}
TYPES = {"discriminative-hallucination": "existence", "discriminative-attribute-state": "attribute",
         "discriminative-attribute-number": "attribute", "discriminative-relation": "relation"}


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=4, n_train=4, n_eval=80)


@pytest.fixture(scope="module")
def root(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("amber-world")
    write_world_benchmarks(world, root, seed=4, sizes=SIZES)
    return root


def _load_folder(folder: Path):
    """(rows, annotations, relation, safe words) of an amber_world folder."""
    rows = [json.loads(line) for line in (folder / "amber.jsonl").read_text().splitlines()]
    annotations = json.loads((folder / "annotations" / "annotations.json").read_text())
    relation = json.loads((folder / "annotations" / "relation.json").read_text())
    return rows, annotations, relation, (folder / "annotations" / "safe_words.txt").read_text()


def _load(root: Path):
    return (root / "amber_world", *_load_folder(root / "amber_world"))


def _word(category: str) -> str:
    return CAPTION_WORD.get(category, category)


def _truth(scene: Scene, question: str) -> bool:
    """Whether the question is true of the scene, read from its words."""
    by_word = {_word(o.category): o for o in scene.objects}
    if m := re.fullmatch(r"Is the (.+) (to the left of|to the right of|above|below) the (.+) in this image\?", question):
        a, b = by_word[m.group(1)], by_word[m.group(3)]
        return {"to the left of": a.column < b.column, "to the right of": a.column > b.column,
                "above": a.row < b.row, "below": a.row > b.row}[m.group(2)]
    if m := re.fullmatch(r"Is there an? (.+) in this image\?", question):
        return m.group(1) in by_word
    if m := re.fullmatch(r"Is the (.+) (\w+) in this image\?", question):
        obj = by_word[m.group(1)]
        assert m.group(2) in COLOURS + ("tiny", "small", "large"), question
        return m.group(2) in (obj.color, obj.size)
    if question == "Is there exactly one object in this image?":
        return len(scene.objects) == 1
    m = re.fullmatch(r"Are there exactly (\w+) objects in this image\?", question)
    assert m, question
    return NUMBERS[m.group(1)] == len(scene.objects)


def test_files_follow_ambers_schema(root):
    folder, rows, annotations, relation, safe = _load(root)
    n_generative = SIZES.amber_images
    n_questions = SIZES.amber_existence + SIZES.amber_state + SIZES.amber_number + SIZES.amber_relation
    assert len(rows) == len(annotations) == n_generative + n_questions == 160
    assert json.loads((root / "world.json").read_text())["counts"]["amber_world"] == 160
    assert [r["id"] for r in rows] == list(range(1, 161))  # consecutive, generative first (AMBER: 1..1004)
    assert all(annotations[r["id"] - 1]["id"] == r["id"] and annotations[r["id"] - 1]["type"] == r["type"]
               for r in rows)
    assert [r["type"] for r in rows[:n_generative]] == ["generative"] * n_generative
    assert all(r["query"] == "Describe this image." and r["part"] == r["dimension"] == "generative"
               for r in rows[:n_generative])
    for row in rows[n_generative:]:
        assert row["part"] == "discriminative" and row["dimension"] == TYPES[row["type"]], row
        assert annotations[row["id"] - 1]["truth"] in ("yes", "no")
    assert not any(r["type"] == "discriminative-attribute-action" for r in rows)  # the world has no actions
    assert {r["image"] for r in rows} == {f"images/amber_{i}.png" for i in range(1, n_generative + 1)}
    assert all((folder / r["image"]).is_file() for r in rows)
    assert relation == {word: [] for word in WORDS.values()}
    assert safe == ""
    for annotation in annotations[:n_generative]:  # inference.py indexes association[word] for each
        assert set(annotation["truth"]) | set(annotation["hallu"]) <= set(relation)
        assert annotation["truth"] and not set(annotation["truth"]) & set(annotation["hallu"])


def test_each_kind_is_half_yes(root):
    _, rows, annotations, _, _ = _load(root)
    counts = Counter((r["type"], annotations[r["id"] - 1]["truth"]) for r in rows if r["part"] == "discriminative")
    assert counts == {("discriminative-hallucination", "yes"): 20, ("discriminative-hallucination", "no"): 20,
                      ("discriminative-attribute-state", "yes"): 15, ("discriminative-attribute-state", "no"): 15,
                      ("discriminative-attribute-number", "yes"): 10, ("discriminative-attribute-number", "no"): 10,
                      ("discriminative-relation", "yes"): 15, ("discriminative-relation", "no"): 15}


def test_every_answer_and_object_list_is_true_of_the_scene(root, world):
    folder, rows, annotations, _, _ = _load(root)
    by_png = {png_bytes(s): s for s in world.eval}
    scene_of = {r["image"]: by_png[(folder / r["image"]).read_bytes()] for r in rows}
    partner_no = other_no = 0
    for row in rows:
        scene, annotation = scene_of[row["image"]], annotations[row["id"] - 1]
        if row["part"] == "generative":
            present = [o.category for o in scene.objects]
            assert annotation["truth"] == [WORDS[c] for c in present]
            assert annotation["hallu"] == [WORDS[PARTNER[c]] for c in present if PARTNER[c] not in present]
            continue
        assert _truth(scene, row["query"]) == (annotation["truth"] == "yes"), row
        if row["type"] == "discriminative-hallucination" and annotation["truth"] == "no":
            asked = re.fullmatch(r"Is there an? (.+) in this image\?", row["query"]).group(1)
            partners = {_word(PARTNER[o.category]) for o in scene.objects}
            partner_no += asked in partners
            other_no += asked not in partners
    # every other "no" asks about an absent partner (10 of 20), unless the scene has none (about 1 in 10)
    assert 8 <= partner_no <= 10 and partner_no + other_no == 20
    kinds = Counter(re.fullmatch(r"Is the .+ (\w+) in this image\?", r["query"]).group(1)
                    for r in rows if r["type"] == "discriminative-attribute-state")
    assert set(kinds) <= set(COLOURS + ("tiny", "small", "large"))
    assert sum(kinds[c] for c in COLOURS) == 20 and sum(kinds[s] for s in ("tiny", "small", "large")) == 10


def _object(category, color, size, cell):
    return SceneObject(category=category, color=color, size=size, cell=cell, box=(cell % 3 * 32, cell // 3 * 32, 20),
                       bbox=(cell % 3 * 32, cell // 3 * 32, 20, 20), area=400)


def test_a_hand_made_scene(tmp_path):
    """A red large fork top left and a blue tiny cup bottom right: their partners knife and spoon are
    absent; the fork is left of and above the cup."""
    import random

    scene = Scene(image_id=500_001, split="eval", index=0, image_size=96, background=(236, 234, 226),
                  objects=(_object("fork", "red", "large", 0), _object("cup", "blue", "tiny", 8)))
    sizes = BenchmarkSizes(amber_images=1, amber_existence=4, amber_state=6, amber_number=2, amber_relation=4)
    rows, annotations = amber_rows([scene], sizes, random.Random(0), tmp_path, {})
    assert annotations[0] == {"id": 1, "type": "generative", "truth": ["fork", "cup"], "hallu": ["knife", "spoon"]}
    asked = {(r["query"], annotations[r["id"] - 1]["truth"]) for r in rows[1:]}
    true_relations = {f"Is the {a} {p} the {b} in this image?" for a, p, b in (
        ("fork", "to the left of", "cup"), ("fork", "above", "cup"), ("cup", "to the right of", "fork"),
        ("cup", "below", "fork"))}
    false_relations = {f"Is the {a} {p} the {b} in this image?" for a, p, b in (
        ("fork", "to the right of", "cup"), ("fork", "below", "cup"), ("cup", "to the left of", "fork"),
        ("cup", "above", "fork"))}
    for question, truth in asked:
        if question.startswith("Is there a"):
            # yes: a present object; no: never a present one (the partner turn is checked below)
            assert (question in {"Is there a fork in this image?", "Is there a cup in this image?"}) == (truth == "yes")
        elif question.startswith("Is there exactly") or question.startswith("Are there exactly"):
            assert (question == "Are there exactly two objects in this image?") == (truth == "yes")
        elif question in true_relations | false_relations:
            assert (question in true_relations) == (truth == "yes")
        else:  # colour or size: fork red/large, cup blue/tiny
            assert (question in {"Is the fork red in this image?", "Is the fork large in this image?",
                                 "Is the cup blue in this image?", "Is the cup tiny in this image?"}) == (truth == "yes")
    assert Counter(annotations[r["id"] - 1]["truth"] for r in rows[1:]) == {"yes": 8, "no": 8}
    # the two "no" existence questions: the first an absent partner (knife or spoon), the second one of the
    # 10 other absent objects
    no_existence = [r["query"] for r in rows[1:5] if annotations[r["id"] - 1]["truth"] == "no"]
    assert len(no_existence) == 2
    assert no_existence[0] in {"Is there a knife in this image?", "Is there a spoon in this image?"}
    assert no_existence[1] not in {f"Is there a {w} in this image?" for w in ("knife", "spoon", "fork", "cup")}


def test_no_relation_question_when_objects_share_no_axis_difference(tmp_path):
    import random

    from csr_bench.errors import CsrBenchError

    single = Scene(image_id=500_002, split="eval", index=1, image_size=96, background=(236, 234, 226),
                   objects=(_object("dog", "green", "small", 4),))
    sizes = BenchmarkSizes(amber_images=1, amber_existence=2, amber_state=2, amber_number=2, amber_relation=2)
    with pytest.raises(CsrBenchError, match="amber_world: none of the 1 drawn images can be asked a relation question"):
        amber_rows([single], sizes, random.Random(0), tmp_path, {})


def test_same_seed_same_bytes_other_seed_other_questions(world, root, tmp_path):
    write_world_benchmarks(world, tmp_path / "again", seed=4, sizes=SIZES)
    write_world_benchmarks(world, tmp_path / "other", seed=5, sizes=SIZES)

    def files(folder):
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert files(root / "amber_world") == files(tmp_path / "again" / "amber_world")
    assert (root / "amber_world" / "amber.jsonl").read_bytes() != \
        (tmp_path / "other" / "amber_world" / "amber.jsonl").read_bytes()


def test_adding_amber_world_changes_no_other_benchmark(world, root, tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarks, "write_amber", lambda *args: 0)  # the world as written before amber_world
    write_world_benchmarks(world, tmp_path, seed=4, sizes=SIZES)
    before = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in sorted(tmp_path.rglob("*"))
              if p.is_file() and p.name != "world.json"}
    after = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file() and p.name != "world.json" and not p.relative_to(root).as_posix().startswith("amber_world/")}
    assert before.keys() == after.keys() and before == after
    assert any(name.startswith("pope/") for name in after) and any(name.startswith("chair/") for name in after)
    old, new = (json.loads((folder / "world.json").read_text()) for folder in (tmp_path, root))
    assert {**new["counts"], "amber_world": 0} == old["counts"]  # the no-op writer wrote 0 queries


def test_amber_world_loads_through_its_task_and_is_in_the_world_run(root):
    from csr_bench.models.registry import WORLD_TASKS
    from csr_bench.tasks import load_registry
    from csr_bench.tasks.data import load_task_data

    data = load_task_data(load_registry()["amber_world"], root)
    assert len(data) == 160 and data.image(0).size == data.image(len(data) - 1).size == (96, 96)
    assert "amber_world" in WORLD_TASKS  # the world run includes it (issue 21), whatever a dimension scores


def test_a_world_written_before_amber_world(tmp_path, world, monkeypatch):
    """An explicit --data-root of an older world: one line naming the missing folder. The default
    world is cached per WORLD_VERSION (6 added amber_world), so one built before is not reused: a
    new one is built on first use."""
    from csr_bench.errors import CsrBenchError
    from csr_bench.tasks import load_registry
    from csr_bench.tasks.data import load_task_data
    from csr_bench.world import WORLD_VERSION
    from csr_bench.world.build import world_dir

    monkeypatch.setattr(benchmarks, "write_amber", lambda *args: 0)
    write_world_benchmarks(world, tmp_path, seed=4, sizes=SIZES)
    with pytest.raises(CsrBenchError) as error:
        load_task_data(load_registry()["amber_world"], tmp_path)
    assert "\n" not in str(error.value) and str(tmp_path / "amber_world") in str(error.value)
    assert WORLD_VERSION >= 6 and world_dir(0).name == f"world-v{WORLD_VERSION}-seed0"


def test_world_descriptions_and_answers_scored_by_amber_world_rules(tmp_path):
    """A red traffic light alone (its partner car absent): truth ["light"], hallu ["car"]. Scored by
    the amber_world task's scorer (amber_offline) from the files written, by inference.py's arithmetic
    (every count's denominator starts at 0.001, data/metrics.txt):
    description "There is a red traffic light on the left. Next to it, there is a car.": AMBER words
    read: light (truth: covered), car (not truth: hallucinated; a hallu object: Cog); "traffic" is no
    AMBER word, never counted -> CHAIR 1/2.001 = 49.975, Cover 1/1.001 = 99.900, Hal 100 - 0/1.001 =
    100, Cog 1/1.001 = 99.900.
    Both existence questions (one "yes", one "no") answered "No": accuracy 1/2.001 = 49.975;
    precision P = 1/2.001, recall R = 1/1.001, F1 = 2PR / (P + R + 0.0001) = 66.618;
    AMBER score (100 - 49.975 + 66.618) / 2 = 58.321."""
    import random

    from csr_bench.scorers.amber import AmberOfflineScorer
    from csr_bench.scorers.base import ScoringContext

    scene = Scene(image_id=500_003, split="eval", index=2, image_size=96, background=(236, 234, 226),
                  objects=(_object("traffic light", "red", "small", 3),))
    sizes = BenchmarkSizes(amber_images=1, amber_existence=2, amber_state=0, amber_number=0, amber_relation=0)
    benchmarks.write_amber([scene], sizes, random.Random(0), tmp_path, {})
    rows, annotations, _, _ = _load_folder(tmp_path)
    assert annotations[0] == {"id": 1, "type": "generative", "truth": ["light"], "hallu": ["car"]}
    predictions = {1: "There is a red traffic light on the left. Next to it, there is a car.", 2: "No", 3: "No"}
    records = [{**row, "prediction": predictions[row["id"]]} for row in rows]
    metrics = AmberOfflineScorer().aggregate(records, ScoringContext(annotations=tmp_path / "annotations"))
    assert (metrics["chair"], metrics["cover"], metrics["hal"], metrics["cog"]) == pytest.approx(
        (49.975, 99.900, 100, 99.900), abs=1e-3)
    assert metrics["accuracy"] == pytest.approx(49.975, abs=1e-3) and metrics["f1"] == pytest.approx(66.618, abs=1e-3)
    assert metrics["amber_score"] == pytest.approx(58.321, abs=1e-3)

