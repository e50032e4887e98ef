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


# -- hub schemas, each in its hub layout ------------------------------------------------------------

def _png(color=(200, 10, 10)) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _parquet(path: Path, columns: dict) -> Path:
    """A parquet file as datasets writes it: an Image column is struct<bytes: binary, path: string>."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, values in columns.items():
        if name == "image":
            arrays[name] = pa.array(values, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
        else:
            arrays[name] = pa.array(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), path, row_group_size=2)  # several row groups: read in order
    return path


def _rlhf_v(tmp_path: Path) -> Path:
    texts = [{"question": "What is in the image?", "chosen": "A red square.", "rejected": "A blue circle."},
             {"question": "Describe it.", "chosen": "Same.", "rejected": "Same."},
             {"question": "Describe it.", "chosen": "Green.", "rejected": "Red."},
             {"question": "Describe it.", "chosen": "Yellow.", "rejected": "Red."}]
    images = [{"bytes": _png(), "path": "a.png"}, {"bytes": _png(), "path": "b.png"},
              {"bytes": b"not an image", "path": "c.png"}, {"bytes": _png((0, 255, 0)), "path": "d.png"}]
    return _parquet(tmp_path / "hub" / "RLHF-V-Dataset.parquet", {
        "ds_name": ["RLHF-V"] * 4, "image": images, "text": [json.dumps(t) for t in texts] + [],
        "origin_dataset": ["OK-VQA"] * 4, "origin_split": ['{"model": "m"}'] * 4, "idx": [10, 11, 12, 13],
        "image_path": ["a.png", "b.png", "c.png", "d.png"]})


def test_rlhf_v_parquet_with_embedded_images(tmp_path):
    source = _rlhf_v(tmp_path)
    context = SourceContext(cache_dir=tmp_path / "cache")
    found = load_preference_set(str(source), context)
    assert found.schema == "rlhf-v" and found.rows == 4
    assert [(p["id"], p["prompt"], p["chosen"], p["rejected"]) for p in found.pairs] == [
        ("10", "What is in the image?", "A red square.", "A blue circle."), ("13", "Describe it.", "Yellow.", "Red.")]
    assert dict(found.skipped) == {"chosen == rejected": 1, "unreadable image": 1}
    first = Path(found.pairs[0]["image"])  # extracted once into the cache, byte for byte
    assert first.is_relative_to((tmp_path / "cache" / "images").resolve()) and first.read_bytes() == _png()
    assert Image.open(found.pairs[1]["image"]).getpixel((0, 0)) == (0, 255, 0)
    assert found.pairs[0]["origin_dataset"] == "OK-VQA" and found.pairs[0]["ds_name"] == "RLHF-V"
    # a second read finds the images already there (resumable) and gives the same pairs
    stamp = first.stat().st_mtime_ns
    assert load_preference_set(str(source), context).pairs == found.pairs and first.stat().st_mtime_ns == stamp


def test_rlaif_v_parquet(tmp_path):
    source = _parquet(tmp_path / "hub" / "data" / "RLAIF-V-Dataset_000.parquet", {
        "ds_name": ["RLAIF-V"] * 3, "image": [{"bytes": _png(), "path": "x.jpg"}, {"bytes": None, "path": None},
                                              {"bytes": _png((1, 2, 3)), "path": "z.jpg"}],
        "question": ["<image>\nWhat color?", "Q2", "Describe the image."], "chosen": ["Red.", "a", "A dark square."],
        "rejected": ["Blue.", "b", ""], "origin_dataset": ["VQAv2"] * 3, "origin_split": ["{}"] * 3,
        "idx": ["r0", "r1", "r2"], "image_path": ["x.jpg", "y.jpg", "z.jpg"]})
    found = load_preference_set(str(source.parent.parent), SourceContext(cache_dir=tmp_path / "cache"))
    assert found.schema == "rlaif-v" and found.rows == 3
    assert [(p["id"], p["prompt"], p["chosen"], p["rejected"]) for p in found.pairs] == [
        ("r0", "What color?", "Red.", "Blue.")]
    # row r1's image has no bytes and its image_path is a bare name with no --prompt-images
    assert dict(found.skipped) == {"missing or empty rejected": 1, "no image": 1}


def _povid(tmp_path: Path) -> Path:
    coco = tmp_path / "coco"
    for name in ("COCO_train2014_000000000001.jpg", "COCO_train2014_000000000002.jpg"):
        coco.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8)).save(coco / name)

    def row(ident, image, question, chosen, rejected, rejected_question=None, extra_turns=()):
        return {"id": ident, "image": image,
                "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": chosen}, *extra_turns],
                "rejected_conversations": [{"from": "human", "value": rejected_question or question},
                                           {"from": "gpt", "value": rejected}]}

    rows = [
        row("COCO_train2014_000000000001", "./data/coco/COCO_train2014_000000000001.jpg",
            "<image>\nDescribe this image in detail.", "A dog on grass.", "A cat and a dog on grass."),
        row("COCO_train2014_000000000002", "COCO_train2014_000000000002.jpg", "What is this?\n<image>",
            "A bus.", "A red bus with three people."),
        row("COCO_train2014_000000000003", "COCO_train2014_000000000003.jpg", "<image>\nQ", "x", "y"),
        row("m", "COCO_train2014_000000000001.jpg", "<image>\nQ", "x", "y",
            extra_turns=({"from": "human", "value": "more?"}, {"from": "gpt", "value": "no"})),
        row("d", "COCO_train2014_000000000001.jpg", "<image>\nQ", "x", "y", rejected_question="<image>\nOther"),
    ]
    path = tmp_path / "hub" / "POVID_preference_data_for_VLLMs_version_1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))
    return path


def test_povid_json_resolves_coco_names_in_prompt_images(tmp_path):
    source = _povid(tmp_path)
    found = load_preference_set(str(source), SourceContext(cache_dir=tmp_path / "cache", images_dir=tmp_path / "coco"))
    assert found.schema == "povid" and found.rows == 5
    coco = (tmp_path / "coco").resolve()
    assert [(p["id"], p["image"], p["prompt"], p["chosen"], p["rejected"]) for p in found.pairs] == [
        ("COCO_train2014_000000000001", str(coco / "COCO_train2014_000000000001.jpg"),
         "Describe this image in detail.", "A dog on grass.", "A cat and a dog on grass."),
        ("COCO_train2014_000000000002", str(coco / "COCO_train2014_000000000002.jpg"), "What is this?", "A bus.",
         "A red bus with three people.")]
    assert dict(found.skipped) == {"image not in --prompt-images": 1,
                                   "multi-turn conversation (only one question and answer is supported)": 1,
                                   "chosen and rejected conversations ask different questions": 1}


def test_povid_without_prompt_images_is_one_line_error(tmp_path):
    source = _povid(tmp_path)
    with pytest.raises(CsrBenchError) as error:
        load_preference_set(str(source), SourceContext(cache_dir=tmp_path / "cache"))
    message = str(error.value)
    assert "\n" not in message and str(source) in message
    assert "3 rows image is a file name and no --prompt-images given" in message
    with pytest.raises(CsrBenchError, match=r"3 rows name an image not in --prompt-images .*empty"):
        (tmp_path / "empty").mkdir()
        load_preference_set(str(source), SourceContext(cache_dir=tmp_path / "cache", images_dir=tmp_path / "empty"))


def _vlfeedback_row(ident, prompt, ratings_and_responses):
    aspects = ("Helpfulness", "Ethical Considerations", "Visual Faithfulness")
    return {"id": ident, "prompt": prompt, "models": [f"m{i}" for i in range(len(ratings_and_responses))],
            "completions": [{"annotations": {a: {"Rating": r, "Rationale": "..."} for a, r in zip(aspects, ratings)},
                             "model": f"m{i}", "response": response}
                            for i, (ratings, response) in enumerate(ratings_and_responses)]}


def test_vlfeedback_pairs_follow_silkies_rule(tmp_path):
    import zipfile

    hub = tmp_path / "hub"
    _jsonl(hub / "vlfeedback_80k.jsonl", [
        # means: A 4.0, B 3.0, C 4.0 (tie with A), D has "N/A": pairs (A,B), (C,B); (A,C) tie; D's 3 pairs dropped
        _vlfeedback_row("svit-1", "What is shown?", [(("5", "3", "4"), "A"), (("3", "3", "3"), "B"),
                                                       (("4", "4", "4"), "C"), (("N/A", "5", "5"), "D")]),
        _vlfeedback_row("svit-2", "Describe.", [(("1", "1", "1"), "low"), (("2", "2", "2"), "high")]),
        _vlfeedback_row("svit-3", "Only one.", [(("1", "1", "1"), "x")]),
    ])
    with zipfile.ZipFile(hub / "merged_images.zip", "w") as archive:
        archive.writestr("merged_images/svit-1.jpg", _png((9, 9, 9)))
        archive.writestr("merged_images/svit-2.jpg", _png((7, 7, 7)))
    found = load_preference_set(str(hub), SourceContext(cache_dir=tmp_path / "cache"))
    assert found.schema == "vlfeedback" and found.rows == 3
    assert [(p["id"], p["prompt"], p["chosen"], p["rejected"], p["chosen_rating"], p["rejected_rating"])
            for p in found.pairs] == [
        ("svit-1:0>1", "What is shown?", "A", "B", 4.0, 3.0), ("svit-1:2>1", "What is shown?", "C", "B", 4.0, 3.0),
        ("svit-2:1>0", "Describe.", "high", "low", 2.0, 1.0)]
    assert dict(found.skipped) == {
        "completion pairs with equal mean ratings (Silkie drops them)": 1,
        "completion pairs with a rating that is not a number (Silkie drops them)": 3, "fewer than 2 completions": 1}
    # the two pairs of svit-1 share one extracted image
    assert found.pairs[0]["image"] == found.pairs[1]["image"]
    assert Image.open(found.pairs[2]["image"]).getpixel((0, 0)) == (7, 7, 7)
    # --prompt-images holding the extracted merged_images/ is used first
    extracted = tmp_path / "merged_images"
    _image(extracted / "svit-1.jpg")
    _image(extracted / "svit-2.jpg")
    moved = load_preference_set(str(hub / "vlfeedback_80k.jsonl"),
                                SourceContext(cache_dir=tmp_path / "cache2", images_dir=extracted))
    assert moved.pairs[0]["image"] == str((extracted / "svit-1.jpg").resolve())


# -- limit, detection, forced schema ----------------------------------------------------------------

def _many_pairs(tmp_path: Path, n: int = 20) -> Path:
    _image(tmp_path / "imgs" / "a.png")
    rows = [{"prompt_id": f"p{i}", "image": str(tmp_path / "imgs" / ("a.png" if i != 3 else "gone.png")),
             "prompt": f"Q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(n)]
    return _jsonl(tmp_path / "pairs.jsonl", rows)


def test_limit_is_a_seeded_subset_of_the_usable_rows(tmp_path):
    import random

    source = _many_pairs(tmp_path)
    context = SourceContext(cache_dir=tmp_path / "cache", seed=7)
    first = load_preference_set(str(source), context, limit=5)
    again = load_preference_set(str(source), context, limit=5)
    other = load_preference_set(str(source), SourceContext(cache_dir=tmp_path / "cache", seed=8), limit=5)
    assert first.pairs == again.pairs and len(first.pairs) == 5 and first.pairs != other.pairs
    # the rule: the usable rows (p3's image is gone) shuffled with random.Random(seed), the first 5, in file order
    usable = [f"p{i}" for i in range(20) if i != 3]
    order = list(range(len(usable)))
    random.Random(7).shuffle(order)
    assert [p["id"] for p in first.pairs] == [usable[i] for i in sorted(order[:5])]
    assert first.stats()["limit"] == 5 and first.stats()["seed"] == 7 and first.rows == 20
    assert len(load_preference_set(str(source), context, limit=100).pairs) == 19


def test_limit_refills_from_the_draw_when_an_image_is_unreadable(tmp_path):
    rows = []
    for i in range(6):
        path = tmp_path / "imgs" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"broken" if i % 2 else _png())
        rows.append({"id": f"p{i}", "image": str(path), "prompt": "Q", "chosen": f"a{i}", "rejected": f"b{i}"})
    source = _jsonl(tmp_path / "pairs.jsonl", rows)
    found = load_preference_set(str(source), SourceContext(cache_dir=tmp_path / "cache"), limit=3)
    assert [p["id"] for p in found.pairs] == ["p0", "p2", "p4"]
    # rows are examined along the seeded draw until 3 are kept: the broken ones on that stretch are counted
    import random

    order = list(range(6))
    random.Random(0).shuffle(order)
    stretch = next(order[:n] for n in range(1, 7) if sum(1 for i in order[:n] if i % 2 == 0) == 3)
    assert any(i % 2 for i in stretch)  # the draw did meet a broken image (so this tests the refill)
    assert found.skipped["unreadable image"] == sum(1 for i in stretch if i % 2)


def test_schema_detection_and_forcing(tmp_path):
    from csr_bench.preference_data.sources import detect_schema

    assert detect_schema(_rlhf_v(tmp_path)) == "rlhf-v"
    assert detect_schema(_povid(tmp_path)) == "povid"
    assert detect_schema(_csr_pairs(tmp_path)) == "csr-bench"
    unknown = _jsonl(tmp_path / "odd.jsonl", [{"instruction": "x", "output": "y"}])
    with pytest.raises(CsrBenchError) as error:
        load_preference_set(str(unknown), SourceContext(cache_dir=tmp_path))
    assert "\n" not in str(error.value) and "unknown preference schema (fields: instruction, output)" in str(error.value)
    with pytest.raises(CsrBenchError, match="no preference file in it"):
        (tmp_path / "nothing").mkdir()
        load_preference_set(str(tmp_path / "nothing"), SourceContext(cache_dir=tmp_path))
    with pytest.raises(CsrBenchError, match="unknown preference schema 'nope'"):
        load_preference_set(str(unknown), SourceContext(cache_dir=tmp_path), schema="nope")
    # forcing: the POVID file read as csr-bench has none of its keys
    with pytest.raises(CsrBenchError, match="no usable preference pair in 5 rows"):
        load_preference_set(str(_povid(tmp_path)), SourceContext(cache_dir=tmp_path), schema="csr-bench")
    with pytest.raises(CsrBenchError, match="no such file or folder, preset or hub id"):
        load_preference_set("no-such-thing", SourceContext(cache_dir=tmp_path))


# -- hub ids: everything up to the network call --------------------------------------------------

def test_presets_download_the_right_files_and_read_them(tmp_path, monkeypatch):
    from csr_bench.preference_data import hub

    snapshot = _povid(tmp_path).parent
    calls = []

    def fake_download(repo, patterns):
        calls.append((repo, patterns))
        return str(snapshot)

    monkeypatch.setattr(hub, "download", fake_download)
    found = load_preference_set("povid", SourceContext(cache_dir=tmp_path / "cache", images_dir=tmp_path / "coco"))
    assert calls == [("YiyangAiLab/POVID_preference_data_for_VLLMs", ("POVID_preference_data_for_VLLMs_version_1.json",))]
    assert found.source == "povid" and found.schema == "povid" and len(found.pairs) == 2
    # any hub id: its data files, schema detected
    calls.clear()
    assert load_preference_set("someone/povid-copy", SourceContext(cache_dir=tmp_path / "c",
                                                                   images_dir=tmp_path / "coco")).schema == "povid"
    assert calls == [("someone/povid-copy", ("*.parquet", "*.json", "*.jsonl"))]
    calls.clear()
    snapshot = _rlhf_v(tmp_path).parent
    assert len(load_preference_set("rlhf-v", SourceContext(cache_dir=tmp_path / "c2")).pairs) == 2
    assert calls == [("openbmb/RLHF-V-Dataset", ("RLHF-V-Dataset.parquet",))]


def test_the_real_download_call(tmp_path, monkeypatch):
    """hub.download calls huggingface_hub.snapshot_download for a data set, with the file patterns."""
    import huggingface_hub

    seen = {}
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kwargs: seen.update(kwargs) or str(tmp_path))
    from csr_bench.preference_data.hub import download

    assert download("MMInstruction/VLFeedback", ("vlfeedback_80k.jsonl", "merged_images.zip")) == str(tmp_path)
    assert seen == {"repo_id": "MMInstruction/VLFeedback", "repo_type": "dataset",
                    "allow_patterns": ["vlfeedback_80k.jsonl", "merged_images.zip"]}


def test_offline_with_nothing_cached_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(CsrBenchError) as error:
        load_preference_set("rlhf-v", SourceContext(cache_dir=tmp_path))
    message = str(error.value)
    assert "\n" not in message and "openbmb/RLHF-V-Dataset" in message and "offline" in message
    assert "huggingface-cli download --repo-type dataset openbmb/RLHF-V-Dataset" in message


# -- a model's own sets (world:rlhf-v) -----------------------------------------------------------

def toy_set(context: SourceContext):
    """A model's preference set, as ModelSpec.preference_sets names it ("module:function")."""
    from csr_bench.preference_data.base import PreferenceSet

    image = _image(Path(context.cache_dir) / "toy.png")
    pairs = [{"id": str(i), "image": str(image), "prompt": "Q", "chosen": f"c{i}", "rejected": f"r{i}"}
             for i in range(6)]
    return PreferenceSet(source="toy:set", schema="world", pairs=pairs, rows=6,
                         details={"data_root": context.data_root})


def test_model_preference_sets(tmp_path, monkeypatch):
    from dataclasses import replace

    from csr_bench.models import registry

    toy = replace(registry.MODELS["tiny-llava"], preference_sets={"set": f"{__name__}:toy_set"})
    monkeypatch.setitem(registry.MODELS, "toy", toy)
    context = SourceContext(cache_dir=tmp_path, seed=3)
    found = load_preference_set("toy:set", context)
    assert [p["chosen"] for p in found.pairs] == [f"c{i}" for i in range(6)]
    import random

    keep = sorted(random.Random(3).sample(range(6), 2))
    assert [p["chosen"] for p in load_preference_set("toy:set", context, limit=2).pairs] == [f"c{i}" for i in keep]
    with pytest.raises(CsrBenchError) as error:
        load_preference_set("toy:other", context)
    assert "\n" not in str(error.value) and "known: toy:set" in str(error.value)
    # --method dpo hands the set the run's data root (the world a run evaluates on, for world:*)
    from csr_bench.methods.base import IterationInput
    from csr_bench.methods.dpo.config import DpoConfig
    from csr_bench.methods.dpo.method import DpoMethod

    current = IterationInput(iteration=1, model_source="m", load_model=lambda: None, work_dir=tmp_path / "run" / "iter_1",
                             data_root=str(tmp_path / "my-world"))
    made = DpoMethod(DpoConfig(preferences="toy:set")).make_pairs(current)
    assert made.stats["data_root"] == str(tmp_path / "my-world") and len(made.pairs) == 6


def test_texts_are_kept_as_released(tmp_path):
    image = _image(tmp_path / "a.png")
    source = _jsonl(tmp_path / "pairs.jsonl", [
        {"image": str(image), "prompt": "Describe. ", "chosen": " A cat.\n", "rejected": "A dog."},
        {"image": str(image), "prompt": "Describe.", "chosen": "Same", "rejected": " Same "},
        {"image": str(image), "prompt": "Describe.", "chosen": "  ", "rejected": "A dog."}])
    found = load_preference_set(str(source), SourceContext(cache_dir=tmp_path))
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in found.pairs] == [("Describe. ", " A cat.\n", "A dog.")]
    assert dict(found.skipped) == {"chosen == rejected": 1, "missing or empty chosen": 1}
