"""Released preference sets read into the trainer's pairs: each schema from a tiny file written here
in its hub layout, with hand-written expected pairs; bad rows counted by reason; --preferences-limit
drawn with the seed; schema detection; hub ids up to the network call; a model's own sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from csr_bench.errors import CsrBenchError
from csr_bench.preference_data.base import SourceContext
from csr_bench.preference_data.sources import load_preference_set


def _image(path: Path, color=(200, 10, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- csr-bench's own pairs (methods/driver.py's iter_<k>/pairs/) -------------------------------------

def _csr_pairs(tmp_path: Path, images_root: str | None = "imgs") -> Path:
    _image(tmp_path / "imgs" / "a.png")
    folder = tmp_path / "run" / "iter_1" / "pairs"
    _jsonl(folder / "preferences.jsonl", [
        {"prompt_id": "p1", "image": "a.png", "prompt": "Describe.", "chosen": "A cat.", "rejected": "A dog.",
         "chosen_reward": 1.5},
        {"prompt_id": "p2", "image": "a.png", "prompt": "Describe.", "chosen": "Same.", "rejected": "Same."},
        {"prompt_id": "p3", "image": "b.png", "prompt": "Describe.", "chosen": "x", "rejected": "y"},
        {"prompt_id": "p4", "image": "a.png", "prompt": "", "chosen": "x", "rejected": "y"},
        {"prompt_id": "p5", "image": str(tmp_path / "imgs" / "a.png"), "prompt": "What?", "chosen": "Red.",
         "rejected": "Blue."},
    ])
    summary = {"method": "csr", "pairs": 5}
    if images_root:
        summary["images_root"] = str(tmp_path / images_root)
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_csr_bench_pairs_from_the_pairs_folder(tmp_path):
    folder = _csr_pairs(tmp_path)
    found = load_preference_set(str(folder), SourceContext(cache_dir=tmp_path / "cache"))
    image = str((tmp_path / "imgs" / "a.png").resolve())
    assert found.schema == "csr-bench" and found.rows == 5
    assert found.pairs == [
        {"id": "p1", "image": image, "prompt": "Describe.", "chosen": "A cat.", "rejected": "A dog.",
         "prompt_id": "p1", "chosen_reward": 1.5},
        {"id": "p5", "image": image, "prompt": "What?", "chosen": "Red.", "rejected": "Blue.", "prompt_id": "p5"},
    ]
    assert dict(found.skipped) == {"chosen == rejected": 1, "image not found": 1, "missing or empty prompt": 1}
    # the file itself reads the same; --prompt-images wins over the summary's images_root
    assert load_preference_set(str(folder / "preferences.jsonl"), SourceContext(cache_dir=tmp_path)).pairs == found.pairs
    other = _image(tmp_path / "other" / "a.png", (0, 0, 255))
    moved = load_preference_set(str(folder), SourceContext(cache_dir=tmp_path, images_dir=other.parent))
    assert moved.pairs[0]["image"] == str(other.resolve())


def test_csr_bench_relative_images_without_a_root_are_one_line_error(tmp_path):
    folder = _csr_pairs(tmp_path, images_root=None)
    (folder / "preferences.jsonl").write_text(json.dumps(
        {"image": "a.png", "prompt": "Describe.", "chosen": "A cat.", "rejected": "A dog."}) + "\n")
    with pytest.raises(CsrBenchError) as error:
        load_preference_set(str(folder), SourceContext(cache_dir=tmp_path / "cache"))
    message = str(error.value)
    assert "\n" not in message and "no usable preference pair in 1 rows" in message
    assert "neither --prompt-images nor" in message and "summary.json" in message
