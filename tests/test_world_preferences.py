"""The world's ground-truth preference sets on the small world's prompt images: CSR's questions,
the regenerated scenes, the POVID-style set's injections and the RLHF-V-style corrections checked by
hand on specific scenes, generation by the shipped world VLM cached and resumed after a kill, and
both sets reached as `world:<name>` through the model registry and the preference loader."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.lazy import load_target
from csr_bench.models.registry import resolve_model
from csr_bench.preference_data.base import SourceContext
from csr_bench.world.preferences import build_rlhf_v_set, correct_response, povid_set, prompt_scenes, rlhf_v_set
from csr_bench.world.scenes import CATEGORIES
from csr_bench.world.text import detailed_caption
from fault_harness import WORLD_VLM

FIRST = "WORLD_unlabeled2017_000000700001"  # mouse (red, tiny, bottom right), fork (red, large, bottom left),
SECOND = "WORLD_unlabeled2017_000000700002"  # knife (blue, tiny, bottom); apple (red, large, bottom right),
# spoon (blue, tiny, top), cup (pink, small, right)


def scenes(small_world):
    return {item.prompt_id: item for item in prompt_scenes(Path(small_world))}


def test_prompt_scenes_are_csrs_prompts_and_the_drawn_scenes(small_world, tmp_path):
    from csr_bench.methods.prompts import build_prompt_set

    items = scenes(small_world)
    csr = {p.prompt_id: (p.image_path.resolve(), p.question)
           for p in build_prompt_set(Path(small_world) / "prompts" / "images", seed=0)}
    assert {k: (v.image, v.question) for k, v in items.items()} == csr
    first = items[FIRST].scene
    assert [(o.category, o.color, o.size, o.position) for o in first.objects] == [
        ("mouse", "red", "tiny", "bottom right"), ("fork", "red", "large", "bottom left"),
        ("knife", "blue", "tiny", "bottom")]
    # an image that is not the world's scene is refused in one line
    copy = tmp_path / "world"
    shutil.copytree(small_world, copy)
    image = copy / "prompts" / "images" / f"{FIRST}.png"
    image.write_bytes(image.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CsrBenchError, match=f"{FIRST}.png is not a prompt image of the world of seed 0"):
        prompt_scenes(copy)


def test_povid_set_injections_by_hand(small_world, tmp_path):
    found = povid_set(SourceContext(cache_dir=tmp_path, data_root=str(small_world)))
    assert (found.source, found.schema, found.rows, len(found.pairs)) == ("world:povid", "world", 6, 6)
    first = found.pairs[0]
    # the mouse's partner (laptop) is absent, the fork's and knife's are each other: only the mouse is
    # swapped; three -> two; one colour changed
    assert first["chosen"] == ("The image shows three objects on a plain background. A tiny red mouse is in the "
                               "bottom right corner. There is a red fork in the bottom left corner. Beside it is a "
                               "tiny blue knife at the bottom.")
    assert first["rejected"] == ("The image shows two objects on a plain background. A tiny red laptop is in the "
                                 "bottom right corner. There is a yellow fork in the bottom left corner. Beside it is "
                                 "a tiny blue knife at the bottom.")
    assert first["injected"] == [{"kind": "count", "from": "three", "to": "two"},
                                 {"kind": "object", "from": "mouse", "to": "laptop"},
                                 {"kind": "attribute", "from": "red", "to": "yellow"}]
    items = scenes(small_world)
    for pair in found.pairs:
        scene = items[pair["id"]].scene
        assert pair["chosen"] == detailed_caption(scene) and Path(pair["image"]).is_absolute()
        assert pair["prompt"] == items[pair["id"]].question
        for edit in pair["injected"]:
            if edit["kind"] == "object":  # a partner of an object shown, not in the image
                by_word = {c.word: c for c in CATEGORIES.values()}
                assert by_word[edit["from"]].partner == by_word[edit["to"]].name
                assert not scene.has(by_word[edit["to"]].name)
    again = povid_set(SourceContext(cache_dir=tmp_path, data_root=str(small_world)))
    assert again.pairs == found.pairs


def test_corrections_by_hand(small_world):
    items = scenes(small_world)
    first, second = items[FIRST].scene, items[SECOND].scene
    # the world VLM's own answer on the first scene: size and places fixed, the absent spoon's sentence removed
    made = correct_response("The picture contains three objects. There is a tiny red fork in the bottom right "
                            "corner. There is also a tiny knife in the bottom left corner. There is a large spoon "
                            "at the bottom.", first)
    assert made.text == ("The picture contains three objects. There is a large red fork in the bottom left corner. "
                         "There is also a tiny knife at the bottom.")
    assert [e["kind"] for e in made.edits] == ["size", "position", "position", "removed"]
    # count fixed; an absent banana at the apple's place removed (the apple is named elsewhere); a second
    # cup removed; a sentence about nothing kept
    made = correct_response("The image shows four objects on a plain background. An apple is at the top. A large "
                            "banana is in the bottom right corner. There is a small pink cup on the right. There "
                            "is a blue cup in the center. It is nice.", second)
    assert made.text == ("The image shows three objects on a plain background. An apple is in the bottom right "
                         "corner. There is a small pink cup on the right. It is nice.")
    # wrong object words at an object's place become that object (with "a" -> "an"), its attributes fixed
    made = correct_response("A banana is in the bottom right corner. There is a tiny blue fork at the top. "
                            "A small yellow clock is on the right.", second)
    assert made.text == ("An apple is in the bottom right corner. There is a tiny blue spoon at the top. "
                         "A small pink cup is on the right.")
    assert made.edits[0] == {"kind": "object", "from": "banana", "to": "apple"}
    # ground truth needs no correction; nothing right leaves nothing
    for item in items.values():
        for variant in range(3):
            assert correct_response(detailed_caption(item.scene, variant), item.scene).edits == ()
    assert correct_response("There is a dog in the center.", first).text == ""


class CountingModel:
    """The shipped world VLM, counting what it is asked; ``fail_on`` makes that generate call die (a kill)."""

    def __init__(self, fail_on: int | None = None):
        from csr_bench.models.llava import LlavaModel

        self.model = LlavaModel.from_pretrained(str(WORLD_VLM), name="world", device="cpu")
        self.calls, self.prompts, self.fail_on = 0, 0, fail_on

    def generate(self, requests, settings):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt
        self.prompts += len(requests)
        assert settings.max_new_tokens == 512 and not settings.do_sample  # CHAIR's settings
        return self.model.generate(requests, settings)


def test_rlhf_v_set_generates_once_resumes_and_corrects(small_world, tmp_path):
    context = SourceContext(cache_dir=tmp_path / "cache", data_root=str(small_world), device="cpu")
    killed = CountingModel(fail_on=2)
    with pytest.raises(KeyboardInterrupt):
        build_rlhf_v_set(context, lambda device: killed, model_label="shipped", batch_size=2)
    resumed = CountingModel()
    found = build_rlhf_v_set(context, lambda device: resumed, model_label="shipped", batch_size=2)
    assert (killed.prompts, resumed.prompts) == (2, 4)  # the first batch was kept, the rest generated
    fresh = build_rlhf_v_set(SourceContext(cache_dir=tmp_path / "fresh", data_root=str(small_world), device="cpu"),
                             lambda device: CountingModel(), model_label="shipped", batch_size=4)
    assert fresh.pairs == found.pairs  # batches of any size, resumed or not: the same set

    def no_model(device):
        raise AssertionError("every response is cached")

    assert build_rlhf_v_set(context, no_model, model_label="shipped").pairs == found.pairs
    with pytest.raises(CsrBenchError, match="model"):
        build_rlhf_v_set(context, no_model, model_label="another model")

    assert (found.source, found.schema, found.rows) == ("world:rlhf-v", "world", 6)
    assert len(found.pairs) + sum(found.skipped.values()) == 6 and found.pairs
    items = scenes(small_world)
    for pair in found.pairs:
        scene = items[pair["id"]].scene
        assert correct_response(pair["rejected"], scene).text == pair["chosen"] != pair["rejected"]
        assert correct_response(pair["chosen"], scene).edits == ()  # the correction is correct
        assert pair["corrections"] and pair["prompt"] == items[pair["id"]].question


def test_world_sets_through_the_registry_and_the_loader(small_world, tmp_path):
    from csr_bench.preference_data.sources import load_preference_set

    sets = resolve_model("world").preference_sets
    assert load_target(sets["rlhf-v"]) is rlhf_v_set and load_target(sets["povid"]) is povid_set
    context = SourceContext(cache_dir=tmp_path, data_root=str(small_world), seed=0)
    found = load_preference_set("world:povid", context, limit=3)
    assert found.source == "world:povid" and len(found.pairs) == 3
    assert all(p in povid_set(context).pairs for p in found.pairs)
