"""Task data from the bundled copy, local JSONL/parquet/save_to_disk copies in the hub schema,
and the errors for missing or broken data."""

import io
import shutil

import pytest
from PIL import Image

from csr_bench.errors import CsrBenchError
from csr_bench.tasks import load_registry
from csr_bench.tasks.data import BUNDLED_DATA_ROOT, load_task_data

from conftest import REPO


@pytest.fixture(scope="module")
def pope():
    return load_registry()["pope"]


def _hub_schema_dataset(rows):
    """The bundled rows as lmms-lab/POPE stores them: image bytes inside an Image feature."""
    import datasets

    records = []
    for row in rows:
        data = (BUNDLED_DATA_ROOT / "pope" / row["image"]).read_bytes()
        records.append({**row, "image": {"bytes": data, "path": None}})
    features = datasets.Features({
        "id": datasets.Value("string"), "question_id": datasets.Value("int64"),
        "question": datasets.Value("string"), "answer": datasets.Value("string"),
        "image_source": datasets.Value("string"), "image": datasets.Image(), "category": datasets.Value("string")})
    return datasets.Dataset.from_list(records, features=features)


def test_bundled_pope(pope, pope_rows):
    data = load_task_data(pope, "bundled")
    assert data.source == "bundled:pope"
    assert len(data) == len(pope_rows) == 141
    assert {r["category"] for r in data.rows} == {"random", "popular", "adversarial"}
    image = data.image(0)
    assert image.mode == "RGB" and image.size == (80, 60)


@pytest.mark.parametrize("layout", ["parquet_file", "parquet_folder", "save_to_disk"])
def test_local_copies_in_hub_schema_give_the_same_documents(tmp_path, pope, pope_rows, layout):
    dataset = _hub_schema_dataset(pope_rows[:10])
    if layout == "parquet_file":
        dataset.to_parquet(str(tmp_path / "pope.parquet"))
    elif layout == "parquet_folder":
        (tmp_path / "pope" / "data").mkdir(parents=True)
        dataset.to_parquet(str(tmp_path / "pope" / "data" / "test-00000-of-00001.parquet"))
    else:
        import datasets

        datasets.DatasetDict({"test": dataset}).save_to_disk(str(tmp_path / "pope"))
    data = load_task_data(pope, tmp_path)
    bundled = load_task_data(pope, "bundled")
    assert data.rows == bundled.rows[:10]
    for i in range(10):
        assert data.image(i).tobytes() == bundled.image(i).tobytes()


def test_missing_data_and_columns(tmp_path, pope):
    with pytest.raises(CsrBenchError, match=r"pope: no data at .*pope"):
        load_task_data(pope, tmp_path)
    with pytest.raises(CsrBenchError, match="no such folder"):
        load_task_data(pope, tmp_path / "nowhere")
    (tmp_path / "pope.jsonl").write_text('{"question_id": 1, "question": "q", "image": "a.png"}\n')
    with pytest.raises(CsrBenchError, match=r"lacks column\(s\) answer, category"):
        load_task_data(pope, tmp_path)


def test_malformed_data_file(tmp_path, pope):
    (tmp_path / "pope.jsonl").write_text('{"question_id": 1, "question": \n')
    with pytest.raises(CsrBenchError, match=r"pope: cannot read .*pope.jsonl"):
        load_task_data(pope, tmp_path)


def test_unreadable_and_missing_images_name_the_document(tmp_path, pope, pope_rows):
    shutil.copytree(BUNDLED_DATA_ROOT / "pope", tmp_path / "pope")
    (tmp_path / "pope" / "images" / "000000.png").write_bytes(b"not a png")
    (tmp_path / "pope" / "images" / "000001.png").unlink()
    data = load_task_data(pope, tmp_path)
    first = next(i for i, r in enumerate(pope_rows) if r["image"] == "images/000000.png")
    second = next(i for i, r in enumerate(pope_rows) if r["image"] == "images/000001.png")
    with pytest.raises(CsrBenchError, match=rf"question_id={pope_rows[first]['question_id']}: unreadable image .*000000.png"):
        data.image(first)
    with pytest.raises(CsrBenchError, match=r"image file not found: .*000001.png"):
        data.image(second)


def test_duplicate_ids_are_refused(tmp_path, pope, pope_rows):
    import json

    rows = [pope_rows[0], pope_rows[0]]
    (tmp_path / "pope").mkdir()
    (tmp_path / "pope" / "pope.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(CsrBenchError, match="duplicate question_id 1"):
        load_task_data(pope, tmp_path)


def test_hub_without_network_points_to_data_root(pope):
    with pytest.raises(CsrBenchError, match=r"cannot load hub dataset lmms-lab/POPE.*--data-root"):
        load_task_data(pope, None)
