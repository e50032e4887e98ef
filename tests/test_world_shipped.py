"""The world VLM and CLIP that ship with csr-bench (csr_bench/bundled/world-seed0): what a default build
copies instead of training for minutes, and only when they were trained with exactly the current knobs."""

import json
from dataclasses import asdict, replace

import pytest

from csr_bench.world import MODELS_VERSION
from csr_bench.world.build import shipped_clip, shipped_dir, shipped_vlm
from csr_bench.world.train_clip import WorldClipConfig
from csr_bench.world.train_vlm import WorldVlmConfig

BUNDLED = shipped_dir(0).parent


def test_the_shipped_vlm_matches_the_default_knobs_and_loads_offline():
    defaults = asdict(WorldVlmConfig())
    folder = shipped_vlm(0, defaults)
    assert folder is not None, "csr_bench/bundled/world-seed0 is stale: run scripts/ship_world_checkpoints.py"
    record = json.loads((shipped_dir(0) / "build.json").read_text())
    assert record["models_version"] == MODELS_VERSION and record["vlm"] == defaults
    assert list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin"))
    assert sum(p.stat().st_size for p in folder.iterdir()) < 10_000_000  # small enough to ship

    from csr_bench.models.llava import LlavaModel

    model = LlavaModel.from_pretrained(str(folder), name="world", device="cpu")
    trained = model.model.config.world_training
    assert {k: trained[k] for k in defaults} == defaults and trained["seed"] == 0


def test_other_knobs_or_seeds_are_never_given_the_shipped_vlm():
    assert shipped_vlm(0, asdict(replace(WorldVlmConfig(), steps=10))) is None
    assert shipped_vlm(1, asdict(WorldVlmConfig())) is None


def test_everything_bundled_is_under_10_mb():
    assert sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file()) < 10_000_000


def test_the_shipped_clip_matches_the_default_knobs_loads_offline_and_is_trimmed():
    defaults = asdict(WorldClipConfig())
    vlm = shipped_dir(0) / "model"
    folder = shipped_clip(0, defaults, vlm)
    assert folder is not None, "csr_bench/bundled/world-seed0 is stale: run scripts/ship_world_checkpoints.py"
    assert json.loads((shipped_dir(0) / "build.json").read_text())["clip"] == defaults
    assert shipped_clip(0, asdict(replace(WorldClipConfig(), steps=10)), vlm) is None
    assert list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin"))

    from csr_bench.models.clip import ClipScorer
    from csr_bench.world.train_clip import load_world_clip

    scorer = load_world_clip(folder)
    assert {k: scorer.world_config["world_training"][k] for k in defaults} == defaults
    assert scorer.world_config["world_training"]["seed"] == 0
    text_cfg = scorer.world_config["model_cfg"]["text_cfg"]
    assert text_cfg["vocab_size"] < 2000 and scorer.model.token_embedding.weight.shape[0] == text_cfg["vocab_size"]
    same = ClipScorer.from_pretrained(f"local-dir:{folder}", device="cpu")  # open_clip's own local-dir loading
    image = BUNDLED / "pope" / "images" / sorted(p.name for p in (BUNDLED / "pope" / "images").iterdir())[0]
    assert same.score(image, ["a red cup.", "a dog."]) == scorer.score(image, ["a red cup.", "a dog."])


def test_the_shipped_clip_tokenizes_every_word_of_the_world_as_the_untrimmed_clip_did():
    """The trimmed tokenizer gives open_clip's SimpleTokenizer's tokens (by name) for every word the
    shipped VLM can say, alone, in a sentence and after a word (punctuation: up to two marks in a row); the kept embedding rows are the trained
    ones, so R_I of any world sentence is the untrimmed CLIP's (tests/test_world_training.py checks that
    on a tiny CLIP trained in the test, against its untrimmed self)."""
    from open_clip.tokenizer import SimpleTokenizer

    from csr_bench.world.build import clip_vocabulary
    from csr_bench.world.train_clip import load_world_clip

    scorer = load_world_clip(shipped_clip(0, asdict(WorldClipConfig()), shipped_dir(0) / "model"))
    words = clip_vocabulary(shipped_dir(0) / "model", [])
    spoken = [w for w in words if any(c.isalnum() for c in w)]  # punctuation is covered two marks at a time
    texts = words + [f"There is a {w} on the left." for w in words] + [f"a {w}, {w}." for w in spoken]
    simple = SimpleTokenizer(context_length=scorer.tokenizer.context_length)
    names = {i: token for token, i in scorer.tokenizer.tokenizer.get_vocab().items()}
    for ours, theirs in zip(scorer.tokenizer(texts).tolist(), simple(texts).tolist()):
        end = theirs.index(simple.eot_token_id) + 1
        assert [names[i] for i in ours[:end]] == [simple.decoder[i] for i in theirs[:end]]


def test_a_default_build_copies_the_shipped_vlm_and_clip_and_train_trains_them(tmp_path, monkeypatch):
    from csr_bench.world import build

    trained = []

    def stand_in(name):  # training itself is tested in test_world_training.py
        def train(*args, **kwargs):
            trained.append((name, kwargs))
            raise RuntimeError(f"trained the {name}")
        return train

    monkeypatch.setattr("csr_bench.world.train_vlm.train_world_vlm", stand_in("VLM"))
    monkeypatch.setattr("csr_bench.world.train_clip.train_world_clip", stand_in("CLIP"))
    folder = build.build_world(0, tmp_path / "world")
    for part in ("model", "clip"):
        for shipped in (shipped_dir(0) / part).iterdir():
            assert (folder / part / shipped.name).read_bytes() == shipped.read_bytes()
    record = json.loads((folder / "build.json").read_text())
    assert not trained and record["vlm_source"].startswith("shipped") and record["clip_source"].startswith("shipped")
    with pytest.raises(RuntimeError, match="trained the VLM"):  # --train: the same build trains instead
        build.build_world(0, tmp_path / "trained", train=True)
    assert trained[0][1]["config"] == WorldVlmConfig()
    (tmp_path / "trained" / "model").mkdir()  # as if the VLM were trained: the CLIP is trained next
    (tmp_path / "trained" / "model" / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match="trained the CLIP"):
        build.build_world(0, tmp_path / "trained", train=True)
    assert trained[1][1]["config"] == WorldClipConfig()
    with pytest.raises(RuntimeError, match="trained the CLIP"):  # other CLIP knobs: not the shipped one either
        build.build_world(0, tmp_path / "world-2", clip={"steps": 2})
