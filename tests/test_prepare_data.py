"""The data preparation path: hub rows -> local save_to_disk layout that --data-root reads."""

import json

import pytest

from csr_bench.tasks import load_registry
from csr_bench.tasks.data import BUNDLED_DATA_ROOT, load_task_data
from csr_bench.tasks.prepare import prepare_task


def _fake_hub(tables):
    """Stands in for datasets.load_dataset: (path, name, split) -> a small Dataset in the hub schema."""
    import datasets

    def load(path, name=None, split=None):
        rows = tables[(path, name, split)]
        dataset = datasets.Dataset.from_list(rows)
        return dataset.cast_column("image", datasets.Image()) if "image" in dataset.column_names else dataset

    return load


def _image(i):
    return {"bytes": sorted((BUNDLED_DATA_ROOT / "pope" / "images").glob("*.png"))[i].read_bytes(), "path": None}


def test_prepared_pope_loads_like_the_hub_copy(tmp_path, pope_rows):
    rows = [{**r, "image": _image(int(r["image"][-10:-4]))} for r in pope_rows[:5]]
    load = _fake_hub({("lmms-lab/POPE", None, "test"): rows})
    report = prepare_task(load_registry()["pope"], tmp_path, load=load)
    assert report["rows"] == 5 and report["expected"] == 9000 and report["ok"] is False  # a truncated copy is flagged
    data = load_task_data(load_registry()["pope"], tmp_path)
    assert [r["question_id"] for r in data.rows] == [r["question_id"] for r in pope_rows[:5]]
    assert data.image(0).size == (80, 60)


def test_prepared_seed_is_filtered_and_gqa_gets_its_images(tmp_path):
    seed_rows = [{"question_id": str(i), "question": "q", "choice_a": "a", "choice_b": "b", "choice_c": "c",
                  "choice_d": "d", "answer": "A", "data_type": kind, "image": _image(i)}
                 for i, kind in enumerate(["image", "video", "image"])]
    gqa_rows = [{"id": "q1", "imageId": "n1", "question": "What?", "answer": "circle"}]
    gqa_images = [{"id": "n1", "image": _image(0)}]
    load = _fake_hub({("lmms-lab/SEED-Bench", None, "test"): seed_rows,
                      ("lmms-lab/GQA", "testdev_balanced_instructions", "testdev"): gqa_rows,
                      ("lmms-lab/GQA", "testdev_balanced_images", "testdev"): gqa_images})
    registry = load_registry()
    assert prepare_task(registry["seed"], tmp_path, load=load)["rows"] == 2
    report = prepare_task(registry["gqa"], tmp_path, load=load)
    assert report["images"]["rows"] == 1
    data = load_task_data(registry["gqa"], tmp_path)
    assert data.image(0).size == (80, 60)


def test_download_failure_is_one_line(tmp_path):
    from csr_bench.errors import CsrBenchError

    def offline(*args, **kwargs):
        raise ConnectionError("no network\nsecond line")

    with pytest.raises(CsrBenchError, match=r"^cannot download lmms-lab/POPE \(default, test\): no network$"):
        prepare_task(load_registry()["pope"], tmp_path, load=offline)


def test_a_pinned_revision_reaches_the_hub_loader(tmp_path):
    """A hub copy replaced under the same name (MJ-Bench, Unicorn) is read at the commit the YAML pins;
    an unpinned source calls the loader exactly as before (no revision argument)."""
    from dataclasses import replace

    from csr_bench.tasks.config import HubSource

    calls = []

    def load(path, name=None, split=None, **pinned):
        calls.append(pinned)
        raise OSError("offline")

    task = load_registry()["pope"]
    pinned = replace(task, dataset=replace(task.dataset, hub=HubSource("lmms-lab/POPE", "test", revision="abc123")))
    for chosen in (task, pinned):
        with pytest.raises(Exception, match="cannot download lmms-lab/POPE"):
            prepare_task(chosen, tmp_path, load=load)
    assert calls == [{}, {"revision": "abc123"}]
