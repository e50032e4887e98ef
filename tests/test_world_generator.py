"""The embedded world: deterministic scenes, the co-occurrence prior as designed, COCO files that
pycocotools reads, every benchmark loading through its registered task, and CHAIR reading the
ground-truth captions as clean and an absent partner as a hallucination."""

import json

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.world import WORLD_VERSION, BenchmarkSizes, generate_world, png_bytes, write_world_benchmarks
from csr_bench.world.coco import captions, instances
from csr_bench.world.scenes import (CATEGORIES, COCO_SPLIT, GRID, PAIR_FREQUENCY, PAIRS, POSITION_PHRASES,
                                   SIZE_FRACTION, cooccurrence, partner_rate)
from csr_bench.world.text import coco_captions, detailed_caption, qa_pairs

SIZES = BenchmarkSizes(pope_images_per_split=30, chair_images=20, mme_images=16, seed_questions=16,
                       mmbench_questions=6, scienceqa_questions=12, gqa_questions=16, vizwiz_questions=10)
TASKS = ("pope", "chair", "mme", "seed", "mmbench", "scienceqa", "gqa", "vizwiz")


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=3, n_train=200, n_eval=160)


@pytest.fixture(scope="module")
def root(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    write_world_benchmarks(world, root, seed=3, sizes=SIZES)
    return root


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_world_other_seed_another(tmp_path):
    a, b, other = (generate_world(seed, n_train=20, n_eval=60) for seed in (1, 1, 2))
    assert a.train == b.train and a.eval == b.eval
    assert [png_bytes(s) for s in a.eval] == [png_bytes(s) for s in b.eval]
    assert instances(a.eval) == instances(b.eval) and captions(a.train) == captions(b.train)
    assert [s.objects for s in a.eval] != [s.objects for s in other.eval]
    assert sum(png_bytes(x) != png_bytes(y) for x, y in zip(a.eval, other.eval)) > 50
    # a scene does not depend on how many scenes are drawn
    assert generate_world(1, n_train=5, n_eval=3).eval == a.eval[:3]

    sizes = BenchmarkSizes(pope_images_per_split=5, chair_images=5, mme_images=4, seed_questions=4,
                           mmbench_questions=3, scienceqa_questions=3, gqa_questions=4, vizwiz_questions=3)
    write_world_benchmarks(a, tmp_path / "a", seed=1, sizes=sizes)
    write_world_benchmarks(b, tmp_path / "b", seed=1, sizes=sizes)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first.keys() == second.keys() and first == second  # images, annotations, jsonl and parquet alike
    assert sum(name.endswith(".png") for name in first) > 80


def test_prompt_scenes_are_unlabelled_images_drawn_like_the_evaluation(tmp_path):
    world = generate_world(seed=0, n_train=10, n_eval=400, n_prompt=400)
    assert not {s.image_id for s in world.prompt} & {s.image_id for s in world.eval + world.train}
    assert [s.objects for s in world.prompt] != [s.objects for s in world.eval]
    assert abs(partner_rate(world.prompt) - partner_rate(world.eval)) < 0.08  # the same sampler
    assert generate_world(seed=0, n_train=1, n_eval=1, n_prompt=3).prompt == world.prompt[:3]

    small = generate_world(seed=0, n_train=4, n_eval=20, n_prompt=5)
    sizes = BenchmarkSizes(pope_images_per_split=3, chair_images=3, mme_images=4, seed_questions=4,
                           mmbench_questions=3, scienceqa_questions=3, gqa_questions=4, vizwiz_questions=3)
    write_world_benchmarks(small, tmp_path, seed=0, sizes=sizes)
    written = sorted(p.name for p in (tmp_path / "prompts").rglob("*") if p.is_file())
    assert written == sorted(s.file_name for s in small.prompt)  # images only: no captions or answers
    prompt_ids = {str(s.image_id) for s in small.prompt}
    for path in tmp_path.rglob("*.json*"):  # no annotation, question or training row mentions them
        assert not any(f'"image_id": {i}' in path.read_text() for i in prompt_ids), path


def test_cooccurrence_prior_as_designed():
    world = generate_world(seed=0, n_train=2000, n_eval=400)
    train_rate, eval_rate = partner_rate(world.train), partner_rate(world.eval)
    assert 0.82 <= train_rate <= 0.89, train_rate  # designed: 0.85
    assert 0.4 <= eval_rate <= 0.6, eval_rate  # designed: about 0.5, far below training
    table = cooccurrence(world.train)
    for a, b in PAIRS:
        for x, partner in ((a, b), (b, a)):
            others = max(p for other, p in table[x].items() if other != partner)
            assert table[x][partner] >= 0.75 and table[x][partner] > 3 * others, (x, table[x])
    assert 0.25 <= sum(s.breaks_prior for s in world.train) / 2000 <= 0.5
    assert sum(s.breaks_prior for s in world.eval) / 400 >= 0.8  # evaluation is where the prior breaks
    for scene in world.train + world.eval:
        assert 1 <= len(scene.objects) <= 4
        assert len(set(scene.categories)) == len(scene.categories)
        assert len({o.cell for o in scene.objects}) == len(scene.objects)
        cell_side = scene.image_size // GRID
        for obj in scene.objects:
            x, y, w, h = obj.bbox
            bx, by, side = obj.box
            assert bx <= x and by <= y and x + w <= bx + side and y + h <= by + side and obj.area > 0
            assert bx // cell_side == obj.column and by // cell_side == obj.row
    assert {len(s.objects) for s in world.train} == {1, 2, 3, 4}
    assert {o.color for s in world.train for o in s.objects} == {"red", "green", "blue", "yellow", "purple", "pink"}


def test_frequency_prior_and_tiny_objects_as_designed():
    world = generate_world(seed=0, n_train=3000, n_eval=400)
    for scenes in (world.train, world.eval):  # the same frequencies in every split, as in COCO
        share = {pair: sum(s.has(pair[0]) or s.has(pair[1]) for s in scenes) / len(scenes) for pair in PAIRS}
        rare = max(share[p] for p in PAIRS if PAIR_FREQUENCY[p] == 1.0)
        assert share[("fork", "knife")] > 2 * rare and share[("cup", "spoon")] > 1.7 * rare, share
        assert share[("fork", "knife")] > share[("dog", "sports ball")] > share[("laptop", "mouse")], share
    objects = [o for s in world.train for o in s.objects]
    tiny = [o for o in objects if o.size == "tiny"]
    assert 0.28 <= len(tiny) / len(objects) <= 0.38  # one size in three
    cell_side = 96 // GRID
    for obj in tiny:  # a few pixels across, anywhere in the cell
        assert max(obj.bbox[2], obj.bbox[3]) <= round(SIZE_FRACTION["tiny"] * cell_side) <= 10
    assert max(o.bbox[2] for o in objects if o.size == "large") > 2.5 * max(o.bbox[2] for o in tiny)
    assert len({o.box[:2] for o in tiny if o.cell == 4}) > 100  # placed at many offsets


def test_pope_popular_split_asks_for_the_frequent_objects(tmp_path):
    # at the default size: popular ranks the objects by their count in the drawn images
    sizes = BenchmarkSizes(chair_images=5, mme_images=4, seed_questions=4, mmbench_questions=3,
                           scienceqa_questions=3, gqa_questions=4, vizwiz_questions=3)
    write_world_benchmarks(generate_world(seed=0, n_train=10, n_eval=400), tmp_path, sizes=sizes)
    rows = [json.loads(line) for line in (tmp_path / "pope" / "pope.jsonl").read_text().splitlines()]
    frequent = {name for pair, weight in PAIR_FREQUENCY.items() if weight >= 2 for name in pair}  # 6 of 14

    def frequent_negatives(split):
        negatives = [r["question"] for r in rows if r["category"] == split and r["answer"] == "no"]
        return sum(any(f"a {name} in" in q or f"an {name} in" in q for name in frequent) for q in negatives) / len(negatives)

    assert frequent_negatives("popular") >= 0.9 and frequent_negatives("random") <= 0.6, \
        (frequent_negatives("popular"), frequent_negatives("random"))


def test_text_follows_the_scene(world):
    scene = next(s for s in world.train if s.breaks_prior and len(s.objects) >= 2)
    answers = dict(qa_pairs(scene))
    for obj in scene.objects:
        assert answers[f"Is there {'an' if obj.category[0] in 'aeiou' else 'a'} {obj.category} in the image?"] == "Yes"
        assert answers[f"What color is the {obj.word}?"] == obj.color
        assert answers[f"Where is the {obj.word}?"] == obj.position
    for partner in scene.absent_partners:
        assert answers[f"Is there {'an' if partner[0] in 'aeiou' else 'a'} {partner} in the image?"] == "No"
    assert answers["How many objects are there in the image?"] == str(len(scene.objects))
    caption = detailed_caption(scene)
    assert all(obj.word in caption and POSITION_PHRASES[obj.cell] in caption for obj in scene.objects)


def test_coco_files_load_with_pycocotools(root, world):
    from csr_bench.coco import image_objects, load_coco

    folder = root / "coco" / "annotations"
    for split in ("train", "eval"):
        scenes = world.split(split)
        coco = load_coco(folder / f"instances_{COCO_SPLIT[split]}.json")
        assert sorted(coco.imgs) == [s.image_id for s in scenes]
        assert {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())} == {
            c.name: c.coco_id for c in CATEGORIES.values()}
        assert coco.loadCats(47)[0]["name"] == "cup" and coco.loadCats(37)[0]["name"] == "sports ball"
        objects = image_objects(coco)
        assert all(objects[s.image_id] == list(s.categories) for s in scenes)
        first = coco.loadAnns(coco.getAnnIds(imgIds=[scenes[0].image_id]))
        assert [a["bbox"] for a in first] == [list(map(float, o.bbox)) for o in scenes[0].objects]
        caps = load_coco(folder / f"captions_{COCO_SPLIT[split]}.json")
        assert len(caps.getAnnIds()) == 5 * len(scenes)
        assert [a["caption"] for a in caps.loadAnns(caps.getAnnIds(imgIds=[scenes[0].image_id]))] == \
            coco_captions(scenes[0])
    for scene in world.eval[:5]:
        assert (root / "coco" / "val2014" / scene.file_name).read_bytes() == png_bytes(scene)
    train = [json.loads(line) for line in (root / "train" / "train.jsonl").read_text().splitlines()]
    assert len(train) == len(world.train) and len(train[0]["captions"]) == 3 and train[0]["qa"]
    assert (root / "train" / train[0]["image"]).read_bytes() == png_bytes(world.train[0])


def test_every_benchmark_loads_through_its_task(root):
    from csr_bench.tasks import load_registry
    from csr_bench.tasks.data import load_task_data

    registry = load_registry()
    manifest = json.loads((root / "world.json").read_text())
    assert manifest["world_version"] == WORLD_VERSION
    expected = {"pope": 6 * 3 * SIZES.pope_images_per_split, "chair": SIZES.chair_images,
                "mme": 2 * SIZES.mme_images, "seed": SIZES.seed_questions, "mmbench": 4 * SIZES.mmbench_questions,
                "scienceqa": SIZES.scienceqa_questions, "gqa": SIZES.gqa_questions, "vizwiz": SIZES.vizwiz_questions}
    for task in TASKS:
        data = load_task_data(registry[task], root)
        assert len(data) == expected[task] == manifest["counts"][task], task
        for index in (0, len(data) - 1):
            assert data.image(index).size == (96, 96), task

    mmbench = load_task_data(registry["mmbench"], root).rows
    by_index = {r["index"]: r for r in mmbench}
    for i in range(SIZES.mmbench_questions):
        copies = [by_index[k * 1_000_000 + i] for k in range(4)]
        correct = {c[c["answer"]] for c in copies}
        assert len(correct) == 1 and len({c["answer"] for c in copies}) == 4
    mme = load_task_data(registry["mme"], root).rows
    assert {r["category"] for r in mme} == {"existence", "count", "position", "color"}
    assert all(r["question"].endswith(" Please answer yes or no.") for r in mme)
    assert [r["answer"] for r in mme[:4]] == ["Yes", "No", "Yes", "No"]
    seed = load_task_data(registry["seed"], root).rows
    assert all(r["answer"] in "ABCD" and r["data_type"] == "image" for r in seed)
    sqa = load_task_data(registry["scienceqa"], root).rows
    assert all(0 <= r["answer"] < len(r["choices"]) and r["hint"] == "" for r in sqa)
    vizwiz = load_task_data(registry["vizwiz"], root).rows
    assert all(len(r["answers"]) == 10 for r in vizwiz)


def test_benchmarks_score_perfect_answers(root):
    """The answer keys are consistent with the official scorers: the right answers score 100."""
    from csr_bench.scorers.gqa import GqaScorer
    from csr_bench.scorers.mmbench import MmbenchScorer
    from csr_bench.scorers.mme import MmeScorer
    from csr_bench.scorers.pope import PopeScorer
    from csr_bench.scorers.scienceqa import ScienceQaScorer
    from csr_bench.scorers.seed import SeedScorer
    from csr_bench.scorers.vqa_accuracy import VqaAccuracyScorer
    from csr_bench.tasks import load_registry
    from csr_bench.tasks.data import load_task_data

    registry = load_registry()
    rows = {task: load_task_data(registry[task], root).rows for task in TASKS}
    cases = [
        (PopeScorer(), [dict(r, prediction=r["answer"].capitalize()) for r in rows["pope"]], "accuracy", 100),
        (MmeScorer(), [dict(r, prediction=r["answer"]) for r in rows["mme"]], "perception", 4 * 200),
        (SeedScorer(), [dict(r, prediction=r["answer"]) for r in rows["seed"]], "accuracy", 100),
        (MmbenchScorer(), [dict(r, prediction=r["answer"]) for r in rows["mmbench"]], "accuracy", 100),
        (ScienceQaScorer(), [dict(r, prediction="ABCD"[r["answer"]]) for r in rows["scienceqa"]], "accuracy", 100),
        (GqaScorer(), [dict(r, prediction=r["answer"].capitalize() + ".") for r in rows["gqa"]], "accuracy", 100),
        (VqaAccuracyScorer(), [dict(r, prediction=max(set(r["answers"]), key=r["answers"].count))
                               for r in rows["vizwiz"]], "accuracy", 100)]
    for scorer, records, metric, value in cases:
        assert scorer.aggregate(records)[metric] == pytest.approx(value), scorer.name


def test_pope_adversarial_split_asks_for_absent_partners(root):
    rows = [json.loads(line) for line in (root / "pope" / "pope.jsonl").read_text().splitlines()]

    def asked(question):
        return question.removeprefix("Is there a").removeprefix("n").strip().removesuffix(" in the image?")

    partner_negatives = {}
    for split in ("random", "adversarial"):
        split_rows = [r for r in rows if r["category"] == split]
        assert [r["answer"] for r in split_rows[:2]] == ["yes", "no"]
        partner_negatives[split] = sum(CATEGORIES[asked(split_rows[i]["question"])].partner ==
                                       asked(split_rows[i + 1]["question"]) for i in range(0, len(split_rows), 2))
    assert partner_negatives["adversarial"] >= 3 * max(1, partner_negatives["random"]), partner_negatives


def test_chair_reads_ground_truth_as_clean_and_absent_partner_as_hallucination(root, world):
    from csr_bench.scorers.base import ScoringContext
    from csr_bench.scorers.chair import ChairScorer
    from csr_bench.scorers.chair_words import caption_objects

    # every ground-truth caption names exactly the image's objects, as CHAIR reads them
    for scene in world.train[:100] + world.eval:
        for text in coco_captions(scene):
            assert set(caption_objects(text).objects) == set(scene.categories), text

    context = ScoringContext(annotations=root / "chair" / "annotations")
    scorer = ChairScorer()
    chair = [json.loads(line) for line in (root / "chair" / "chair.jsonl").read_text().splitlines()]
    scenes = {s.image_id: s for s in world.eval}
    truthful = [{"image_id": r["image_id"], "prediction": detailed_caption(scenes[r["image_id"]], 1)} for r in chair]
    metrics = scorer.aggregate(truthful, context)
    assert metrics["chair_s"] == 0 and metrics["chair_i"] == 0 and metrics["recall"] == 100

    lonely = next(scenes[r["image_id"]] for r in chair if scenes[r["image_id"]].breaks_prior)
    partner = lonely.absent_partners[0]
    caption = f"{detailed_caption(lonely)} Next to it, there is a red {CATEGORIES[partner].word} on the left."
    sample = scorer.score_sample({"image_id": lonely.image_id, "prediction": caption}, context)
    assert sample["hallucinated_objects"] == [partner]
    hallucinating = truthful[:]
    hallucinating[chair.index(next(r for r in chair if r["image_id"] == lonely.image_id))]["prediction"] = caption
    assert scorer.aggregate(hallucinating, context)["chair_s"] == pytest.approx(100 / len(chair))


def test_refuses_to_overwrite_other_data(tmp_path, world):
    (tmp_path / "pope").mkdir()
    (tmp_path / "pope" / "pope.jsonl").write_text("{}\n")
    with pytest.raises(CsrBenchError, match="not a world folder"):
        write_world_benchmarks(world, tmp_path, sizes=SIZES)
    assert (tmp_path / "pope" / "pope.jsonl").read_text() == "{}\n"
