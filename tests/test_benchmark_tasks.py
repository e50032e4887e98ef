"""Every benchmark task evaluates offline on small local files in the hub's schema, and its
samples.jsonl re-scores to the same metrics through `csr-bench score`."""

import json
import shutil

import pytest

from csr_bench.evaluation import EvalConfig, evaluate
from csr_bench.evaluation.rescore import rescore
from csr_bench.tasks.data import BUNDLED_DATA_ROOT

IMAGES = sorted((BUNDLED_DATA_ROOT / "pope" / "images").glob("*.png"))


def _image_bytes(i):
    return {"bytes": IMAGES[i % len(IMAGES)].read_bytes(), "path": None}


def _with_image_feature(rows):
    import datasets

    return datasets.Dataset.from_list(rows).cast_column("image", datasets.Image())


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """One small copy of each benchmark, in the layouts users keep them in."""
    import datasets

    root = tmp_path_factory.mktemp("data")
    image_dir = root / "shared_images"
    image_dir.mkdir()
    for image in IMAGES[:4]:
        shutil.copy(image, image_dir / image.name)
    rel = [f"../shared_images/{p.name}" for p in IMAGES[:4]]  # from a file inside a task folder
    top = [f"shared_images/{p.name}" for p in IMAGES[:4]]  # from a file at the root

    # MME: parquet with image bytes, two questions per image
    mme = []
    for i, category in enumerate(["existence", "existence", "count", "count", "code_reasoning", "code_reasoning"]):
        mme.append({"question_id": f"{category}/{i // 2}.png", "image": _image_bytes(i // 2),
                    "question": f"Is there a circle? Please answer yes or no.", "answer": "Yes" if i % 2 == 0 else "No",
                    "category": category})
    _with_image_feature(mme).to_parquet(str(root / "mme.parquet"))

    # SEED: JSONL with image paths; the video row is filtered out by the task
    seed = [{"question_id": str(i), "question": "Which shape?", "choice_a": "circle", "choice_b": "square",
             "choice_c": "ring", "choice_d": "bar", "answer": "ABCD"[i], "data_type": "image" if i < 3 else "video",
             "image": rel[i]} for i in range(4)]
    _jsonl(root / "seed" / "seed.jsonl", seed)

    # MMBench: save_to_disk DatasetDict with a rotated copy and a missing option
    mmb = []
    for index, answer, options in [(0, "A", ("circle", "square", "ring", None)),
                                   (1_000_000, "B", ("ring", "circle", "square", None)),
                                   (1, "C", ("bar", "cross", "triangle", "star"))]:
        mmb.append({"index": index, "question": "Which shape?", "hint": None, "A": options[0], "B": options[1],
                    "C": options[2], "D": options[3], "answer": answer, "category": "shapes",
                    "image": _image_bytes(index % 3)})
    datasets.DatasetDict({"dev": _with_image_feature(mmb)}).save_to_disk(str(root / "mmbench"))

    # ScienceQA: parquet, choices list, integer answer, empty hint
    sqa = [{"question": "Which is warmer?", "choices": ["ice", "fire"], "answer": 1, "hint": "" if i else "Look.",
            "subject": "natural science", "image": _image_bytes(i)} for i in range(3)]
    (root / "scienceqa").mkdir()
    _with_image_feature(sqa).to_parquet(str(root / "scienceqa" / "test-00000-of-00001.parquet"))

    # VizWiz val and test: JSONL
    _jsonl(root / "vizwiz.jsonl", [{"question_id": f"VizWiz_val_{i:08d}.jpg", "question": "What is this?",
                                    "answers": ["unanswerable"] * 10 if i else ["circle"] * 4 + ["ring"] * 6,
                                    "category": "other", "image": top[i]} for i in range(3)])
    _jsonl(root / "vizwiz_test.jsonl", [{"question_id": f"VizWiz_test_{i:08d}.jpg", "question": "What is this?",
                                         "image": top[i]} for i in range(2)])

    # MM-Vet and LLaVA-Bench: parquet with image bytes
    (root / "mmvet").mkdir()
    _with_image_feature([{"question_id": f"v{i}", "question": "What is shown?", "answer": "a circle",
                          "capability": "rec,spat", "image": _image_bytes(i)} for i in range(2)]).to_parquet(
        str(root / "mmvet" / "test-00000-of-00001.parquet"))
    _with_image_feature([{"question_id": i, "question": "Describe it.", "caption": "A red circle.",
                          "gpt_answer": "A red circle on white.", "category": "detail", "image": _image_bytes(i)}
                         for i in range(2)]).to_parquet(str(root / "llava_bench.parquet"))

    # GQA: questions JSONL + a folder of <imageId>.png images
    (root / "gqa" / "images").mkdir(parents=True)
    for i in range(2):
        shutil.copy(IMAGES[i], root / "gqa" / "images" / f"n{i}.png")
    _jsonl(root / "gqa" / "questions.jsonl", [{"id": f"q{i}", "imageId": f"n{i % 2}", "question": "What shape is it?",
                                               "answer": "circle"} for i in range(3)])
    return root


TASKS = ["mme", "seed", "mmbench", "scienceqa", "vizwiz", "vizwiz_test", "gqa", "mmvet", "llava_bench"]
EXPECTED = {"mme": (6, {"perception", "cognition", "existence", "count", "code_reasoning"}),
            "seed": (3, {"accuracy"}), "mmbench": (3, {"accuracy", "unresolved"}), "scienceqa": (3, {"accuracy"}),
            "vizwiz": (3, {"accuracy"}), "gqa": (3, {"accuracy"})}


def test_every_benchmark_evaluates_offline_and_rescores(tmp_path, data_root, tiny_model):
    results = evaluate(EvalConfig(model="tiny-llava", tasks=TASKS, data_root=str(data_root), output=str(tmp_path),
                                  max_new_tokens=3, batch_size=4), model=tiny_model)
    iteration = tmp_path / "tiny-llava" / "iter_0"
    for task, (count, keys) in EXPECTED.items():
        entry = results["results"][task]
        assert entry["n_samples"] == count, task
        assert keys <= set(entry["metrics"]), (task, entry["metrics"])
        assert "skipped" not in entry
        again = rescore(task, iteration / task / "samples.jsonl")
        assert again["n"] == count and again["metrics"] == pytest.approx(entry["metrics"]), task

    for judged in ("mmvet", "llava_bench"):  # no judge configured: evaluated, then skipped with the reason
        entry = results["results"][judged]
        assert entry["n_samples"] == 2 and entry["metrics"] == {} and "no judge configured" in entry["skipped"]

    skipped = results["results"]["vizwiz_test"]
    assert skipped["metrics"] == {} and "submission" in skipped["skipped"]
    submission = json.loads((iteration / "vizwiz_test" / "submission.json").read_text())
    assert [s["image"] for s in submission] == ["VizWiz_test_00000000.jpg", "VizWiz_test_00000001.jpg"]

    samples = [json.loads(l) for l in (iteration / "mmbench" / "samples.jsonl").read_text().splitlines()]
    first = next(s for s in samples if s["doc_id"] == 0)
    assert first["prompt"] == ("Which shape?\nA. circle\nB. square\nC. ring\n"
                               "Answer with the option's letter from the given choices directly.")
    mme = [json.loads(l) for l in (iteration / "mme" / "samples.jsonl").read_text().splitlines()]
    assert sorted(s["doc_id"] for s in mme) == list(range(6))  # "@index": rows are the documents
    assert all(s["prompt"].endswith("?\nAnswer the question using a single word or phrase.") for s in mme)


def test_gqa_images_from_a_dataset_join(tmp_path, data_root):
    """The hub layout: testdev_balanced_images as a dataset with `id` and `image` columns."""
    import datasets

    from csr_bench.tasks import load_registry
    from csr_bench.tasks.data import load_task_data

    root = tmp_path / "root"
    (root / "gqa").mkdir(parents=True)
    shutil.copy(data_root / "gqa" / "questions.jsonl", root / "gqa" / "questions.jsonl")
    images = datasets.Dataset.from_list([{"id": f"n{i}", "image": _image_bytes(i)} for i in range(2)])
    images.cast_column("image", datasets.Image()).to_parquet(str(root / "gqa" / "images.parquet"))
    data = load_task_data(load_registry()["gqa"], root)
    from_folder = load_task_data(load_registry()["gqa"], data_root)
    assert len(data) == 3
    for i in range(3):
        assert data.image(i).tobytes() == from_folder.image(i).tobytes()
