"""POPE and CHAIR data builders on tiny COCO-format files: POPE's sampling rules, seeds, output
that pycocotools and the task loaders read back."""

import json
import shutil
import random
import subprocess
import sys

import pytest

from coco_fixtures import captions, file_name, instances, write_images, write_json
from conftest import REPO
from csr_bench.builders.chair_set import build_chair_set
from csr_bench.builders.pope import SPLITS, build_pope, pope_questions, question
from csr_bench.coco import load_coco
from csr_bench.errors import CsrBenchError
from csr_bench.scorers import ScoringContext
from csr_bench.scorers.chair import ChairScorer
from csr_bench.tasks.data import load_task_data
from csr_bench.tasks.registry import load_registry

# Designed so the splits must differ. Over images 1-8 (9 has one object, too few for POPE):
#   frequency: person 5, car 4, dog 3, cat 3, bus 2, cup 2, tv 2, couch/chair/bed 1
#   person co-occurs most with car (4), dog (3), bus (2), cup (1); cat with tv (2), then 1s.
POPE_OBJECTS = {1: ["person", "car", "dog"], 2: ["person", "car", "dog"], 3: ["person", "car", "dog"],
                4: ["person", "car", "bus"], 5: ["person", "bus", "cup"], 6: ["cat", "couch", "chair"],
                7: ["cat", "tv", "cup"], 8: ["cat", "tv", "bed"], 9: ["person"]}


def negatives(rows, image):
    return [obj for img, obj, label in rows if img == image and label == "no"]


def test_pope_sampling_rules():
    questions = pope_questions(POPE_OBJECTS, 8, random.Random(0))
    for split in SPLITS:
        rows = questions[split]
        assert len(rows) == 8 * 6 and {img for img, _, _ in rows} == set(range(1, 9))
        for image in range(1, 9):
            mine = [(obj, label) for img, obj, label in rows if img == image]
            assert [label for _, label in mine] == ["yes", "no"] * 3  # positive, then its negative
            assert [obj for obj, label in mine if label == "yes"] == POPE_OBJECTS[image]
            asked = [obj for obj, _ in mine]
            assert len(set(asked)) == 6 and not set(negatives(rows, image)) & set(POPE_OBJECTS[image])
    # popular: the most frequent objects the image lacks (dog is in image 1, so cat; cat in 6, so dog)
    assert negatives(questions["popular"], 1)[0] == "cat"
    assert negatives(questions["popular"], 6) == ["person", "car", "dog"]
    # adversarial: the object most often seen with the positive (person -> car, dog in the image -> bus)
    assert negatives(questions["adversarial"], 1)[0] == "bus"
    assert negatives(questions["adversarial"], 6)[0] == "tv"
    assert question("oven") == "Is there an oven in the image?"
    assert question("dining table") == "Is there a dining table in the image?"


def test_pope_seed_and_too_few_images():
    assert pope_questions(POPE_OBJECTS, 5, random.Random(3)) == pope_questions(POPE_OBJECTS, 5, random.Random(3))
    assert pope_questions(POPE_OBJECTS, 5, random.Random(3)) != pope_questions(POPE_OBJECTS, 5, random.Random(4))
    with pytest.raises(CsrBenchError, match="needs 9 images with at least 3 distinct objects; the annotations have 8"):
        pope_questions(POPE_OBJECTS, 9, random.Random(0))


@pytest.fixture
def pope_coco(tmp_path):
    path = write_json(tmp_path / "coco" / "instances_val2014.json", instances(POPE_OBJECTS))
    write_images(tmp_path / "coco" / "val2014", POPE_OBJECTS)
    return path


def test_build_pope_files_and_task(tmp_path, pope_coco):
    out = tmp_path / "data" / "pope"
    counts = build_pope(pope_coco, tmp_path / "coco" / "val2014", out, images_per_split=8, seed=0)
    assert counts == {"images": 8, "questions": 144}
    rows = [json.loads(line) for line in (out / "pope.jsonl").read_text().splitlines()]
    assert [r["category"] for r in rows] == ["adversarial"] * 48 + ["popular"] * 48 + ["random"] * 48
    first = int(rows[0]["image_source"].rsplit("_", 1)[1])
    assert rows[0] == {"id": "0", "question_id": 1, "question": question(POPE_OBJECTS[first][0]), "answer": "yes",
                       "image_source": file_name(first)[:-len(".jpg")], "image": f"images/{file_name(first)}",
                       "category": "adversarial"}
    assert all((out / r["image"]).is_file() for r in rows)
    data = load_task_data(load_registry()["pope"], tmp_path / "data")
    assert len(data) == 144 and data.image(0).size == (8, 6)

    again = tmp_path / "again"
    build_pope(pope_coco, tmp_path / "coco" / "val2014", again, images_per_split=8, seed=0, link=True)
    assert (again / "pope.jsonl").read_bytes() == (out / "pope.jsonl").read_bytes()
    assert (again / rows[0]["image"]).is_symlink()


def test_build_pope_script(tmp_path, pope_coco):
    script = [sys.executable, str(REPO / "scripts" / "build_pope.py"), "--images", str(tmp_path / "coco" / "val2014")]
    done = subprocess.run(script + ["--instances", str(pope_coco), "--out", str(tmp_path / "out"),
                                    "--images-per-split", "4", "--seed", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "out" / "pope.jsonl").read_text().splitlines()) == 4 * 6 * 3
    failed = subprocess.run(script + ["--instances", str(tmp_path / "none.json"), "--out", str(tmp_path / "x")],
                            capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.strip().splitlines() == [
        f"build_pope: error: COCO annotation file not found: {tmp_path / 'none.json'}"]


CHAIR_OBJECTS = {i: (["dog", "person"] if i % 2 else ["cat"]) for i in range(1, 11)}
CHAIR_CAPTIONS = {i: [f"A {'dog and a man' if i % 2 else 'cat on a bed'} in picture {i}."] for i in range(1, 11)}


@pytest.fixture
def coco_dir(tmp_path):
    root = tmp_path / "coco"
    write_json(root / "annotations" / "instances_val2014.json", instances(CHAIR_OBJECTS))
    write_json(root / "annotations" / "captions_val2014.json", captions(CHAIR_CAPTIONS))
    write_images(root / "val2014", CHAIR_OBJECTS)
    return root


def test_build_chair_set(tmp_path, coco_dir):
    out = tmp_path / "data" / "chair"
    assert build_chair_set(coco_dir, out, n=4, seed=0) == {"images": 4}
    rows = [json.loads(line) for line in (out / "chair.jsonl").read_text().splitlines()]
    ids = [r["image_id"] for r in rows]
    assert len(ids) == 4 and ids == sorted(ids)
    assert rows[0] == {"image_id": ids[0], "image": f"images/{file_name(ids[0])}", "question": "Please describe this image in detail."}
    assert all((out / r["image"]).is_file() for r in rows)

    inst = load_coco(out / "annotations" / "instances_val2014.json")
    caps = load_coco(out / "annotations" / "captions_val2014.json")
    assert set(inst.imgs) == set(caps.imgs) == set(ids)
    assert {a["image_id"] for a in inst.dataset["annotations"]} <= set(ids) and len(inst.cats) == 13
    assert sorted(a["image_id"] for a in caps.dataset["annotations"]) == ids

    again = tmp_path / "again"
    build_chair_set(coco_dir, again, n=4, seed=0)
    assert (again / "chair.jsonl").read_bytes() == (out / "chair.jsonl").read_bytes()
    build_chair_set(coco_dir, again, n=4, seed=1)
    assert (again / "chair.jsonl").read_bytes() != (out / "chair.jsonl").read_bytes()

    # The chair task reads the set and its annotations from --data-root.
    data = load_task_data(load_registry()["chair"], tmp_path / "data")
    assert len(data) == 4 and data.annotations == out / "annotations" and data.image(0).size == (8, 6)
    predictions = [{**row, "prediction": CHAIR_CAPTIONS[row["image_id"]][0] + " A tv."} for row in data.rows]
    metrics = ChairScorer().aggregate(predictions, ScoringContext(annotations=data.annotations))
    assert metrics["chair_s"] == 100.0 and metrics["recall"] == 100.0  # every caption adds one tv


def test_build_chair_set_script_errors(tmp_path, coco_dir):
    script = [sys.executable, str(REPO / "scripts" / "build_chair_set.py"), "--coco-dir", str(coco_dir),
              "--out", str(tmp_path / "out")]
    failed = subprocess.run(script + ["--n", "11"], capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.strip().splitlines() == [
        "build_chair_set: error: cannot draw 11 images from the 10 of instances_val2014.json"]
    done = subprocess.run(script + ["--n", "2", "--link"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out" / "images").iterdir())) == 2


def test_chair_eval_end_to_end_and_early_failure_without_annotations(tmp_path, coco_dir):
    from conftest import assert_one_line_error, run_cli

    build_chair_set(coco_dir, tmp_path / "data" / "chair", n=3, seed=0)
    run_cli("eval", "--model", "tiny-llava", "--tasks", "chair", "--data-root", str(tmp_path / "data"),
            "--max-new-tokens", "6", "--output", str(tmp_path / "out"), "--quiet", check=True)
    results = json.loads((tmp_path / "out" / "tiny-llava" / "iter_0" / "results.json").read_text())
    assert {"chair_s", "chair_i", "recall"} <= set(results["results"]["chair"]["metrics"])
    samples = (tmp_path / "out" / "tiny-llava" / "iter_0" / "chair" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 3 and "hallucinated_objects" in json.loads(samples[0])

    shutil.rmtree(tmp_path / "data" / "chair" / "annotations")
    failed = run_cli("eval", "--model", "tiny-llava", "--tasks", "chair", "--data-root", str(tmp_path / "data"),
                     "--output", str(tmp_path / "out2"))
    assert_one_line_error(failed, "chair:", "annotations")
    assert "loading model" not in failed.stderr  # stopped before the model, not after generating
    assert not (tmp_path / "out2" / "tiny-llava" / "iter_0" / "chair" / "samples.jsonl").exists()
