"""The embedded world end to end: a small build (data, VLM, CLIP), then `csr-bench run --model
world` with a CSR iteration that uses the world's own CLIP and benchmarks."""

import json
import os

import pytest

from conftest import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def world_home(tmp_path_factory):
    from csr_bench.world.build import build_world, world_dir

    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("CSR_BENCH_HOME")
    os.environ["CSR_BENCH_HOME"] = str(home)
    build_world(0, world_dir(0), world={"n_train": 60, "n_eval": 60}, vlm={"steps": 20, "batch_size": 16},
                clip={"steps": 20})
    yield home
    if old is None:
        os.environ.pop("CSR_BENCH_HOME")
    else:
        os.environ["CSR_BENCH_HOME"] = old


def test_world_build_layout_and_path_command(world_home, tmp_path, monkeypatch):
    folder = world_home / "world-v1-seed0"
    built = json.loads((folder / "build.json").read_text())
    assert built["seed"] == 0 and built["examples"] > 0 and built["clip_pairs"] > 0
    assert list((folder / "model").glob("*.safetensors")) and (folder / "clip").is_dir()
    for task in ("pope", "chair", "mme", "seed", "mmbench", "scienceqa", "gqa", "vizwiz"):
        assert (folder / "data" / task).exists(), task
    assert run_cli("world", "path", check=True).stdout.strip() == str(folder)
    monkeypatch.setenv("CSR_BENCH_HOME", str(tmp_path / "empty"))
    assert_one_line_error(run_cli("world", "path", "--seed", "3"), "not built yet")


def test_csr_run_on_the_world(world_home, tmp_path):
    run_cli("run", "--model", "world", "--iterations", "1", "--prompts", "2", "--tasks", "pope,chair",
            "--limit", "6", "--max-sentences", "2", "--sentence-max-new-tokens", "6", "--max-new-tokens", "8",
            "--output", str(tmp_path), "--quiet", check=True)
    run_dir = tmp_path / "world"
    results = json.loads((run_dir / "iter_1" / "results.json").read_text())
    assert {"chair_s", "chair_i"} <= set(results["results"]["chair"]["metrics"])
    assert results["results"]["pope"]["data_source"].startswith("local:") and "world-v1-seed0" in \
        results["results"]["pope"]["data_source"]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["config"]["method_config"]["clip_model"] == "world"
    assert "train/images" in manifest["config"]["method_config"]["prompt_source"]
    pairs = (run_dir / "iter_1" / "csr" / "preferences.jsonl").read_text().splitlines()
    summary = json.loads((run_dir / "iter_1" / "csr" / "summary.json").read_text())
    assert len(pairs) + len(summary["skipped"]) == 2
