"""The world VLM that ships with csr-bench (csr_bench/bundled/world-seed0): what a default build copies
instead of training for minutes, and only when it was trained with exactly the current knobs."""

import json
from dataclasses import asdict, replace

import pytest

from csr_bench.world import WORLD_VERSION
from csr_bench.world.build import shipped_dir, shipped_vlm
from csr_bench.world.train_vlm import WorldVlmConfig


def test_the_shipped_vlm_matches_the_default_knobs_and_loads_offline():
    defaults = asdict(WorldVlmConfig())
    folder = shipped_vlm(0, defaults)
    assert folder is not None, "csr_bench/bundled/world-seed0 is stale: run scripts/ship_world_checkpoints.py"
    record = json.loads((shipped_dir(0) / "build.json").read_text())
    assert record["world_version"] == WORLD_VERSION and record["vlm"] == defaults
    assert list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin"))
    assert sum(p.stat().st_size for p in folder.iterdir()) < 10_000_000  # small enough to ship

    from csr_bench.models.llava import LlavaModel

    model = LlavaModel.from_pretrained(str(folder), name="world", device="cpu")
    trained = model.model.config.world_training
    assert {k: trained[k] for k in defaults} == defaults and trained["seed"] == 0


def test_other_knobs_or_seeds_are_never_given_the_shipped_vlm():
    assert shipped_vlm(0, asdict(replace(WorldVlmConfig(), steps=10))) is None
    assert shipped_vlm(1, asdict(WorldVlmConfig())) is None


def test_a_default_build_copies_the_shipped_vlm_and_train_trains_it(tmp_path, monkeypatch):
    from csr_bench.world import build

    trained = []

    def stand_in(*args, **kwargs):  # training itself is tested in test_world_training.py
        trained.append(kwargs)
        raise RuntimeError("trained")

    monkeypatch.setattr("csr_bench.world.train_vlm.train_world_vlm", stand_in)
    folder = build.build_world(0, tmp_path / "world", clip={"steps": 2, "batch_size": 8})
    shipped = shipped_vlm(0, asdict(WorldVlmConfig()))
    for weights in shipped.glob("*.safetensors"):
        assert (folder / "model" / weights.name).read_bytes() == weights.read_bytes()
    assert not trained and json.loads((folder / "build.json").read_text())["vlm_source"].startswith("shipped")
    with pytest.raises(RuntimeError, match="trained"):  # --train: the same build trains instead
        build.build_world(0, tmp_path / "trained", train=True, clip={"steps": 2, "batch_size": 8})
    assert trained and trained[0]["config"] == WorldVlmConfig()
