"""The embedded world end to end: a default build (data, the shipped VLM and CLIP),
then `csr-bench run` with no model named, which is the world: a CSR iteration with the world's own
CLIP, prompt images, CSR defaults and every world benchmark."""

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
    build_world(0, world_dir(0))  # the default world, with the shipped VLM and CLIP: seconds
    yield home
    if old is None:
        os.environ.pop("CSR_BENCH_HOME")
    else:
        os.environ["CSR_BENCH_HOME"] = old


def test_world_build_layout_and_path_command(world_home, tmp_path, monkeypatch):
    from csr_bench.world import WORLD_VERSION

    folder = world_home / f"world-v{WORLD_VERSION}-seed0"
    built = json.loads((folder / "build.json").read_text())
    assert built["seed"] == 0 and built["examples"] > 0 and built["clip_pairs"] > 0
    assert list((folder / "model").glob("*.safetensors")) and (folder / "clip").is_dir()
    for task in ("pope", "chair", "mme", "seed", "mmbench", "scienceqa", "gqa", "vizwiz"):
        assert (folder / "data" / task).exists(), task
    assert run_cli("world", "path", check=True).stdout.strip() == str(folder)
    monkeypatch.setenv("CSR_BENCH_HOME", str(tmp_path / "empty"))
    assert_one_line_error(run_cli("world", "path", "--seed", "3"), "not built yet")


def test_run_with_no_model_is_csr_on_the_world(world_home, tmp_path):
    from csr_bench.models.registry import WORLD_CSR_PRESETS, WORLD_TASKS
    from csr_bench.world_at_chance import WORLD_AT_CHANCE

    result = run_cli("run", "--iterations", "1", "--prompts", "3", "--limit", "4", "--max-sentences", "3",
                     "--sentence-max-new-tokens", "12", "--max-new-tokens", "8", "--output", str(tmp_path), "--quiet",
                     check=True)
    run_dir = tmp_path / "world"
    tables = (run_dir / "tables.md").read_text()
    grid = tables[tables.index("**CSR iterations"):].split("\n\n")[1]  # the iteration table, printed too
    assert grid in result.stdout and "CHAIR_S" in grid and len(grid.splitlines()) == 4  # header, rule, 2 rows
    assert "**Table 1" in tables and "\\begin{table}" in (run_dir / "tables.tex").read_text()
    assert (run_dir / "report.html").is_file() and (run_dir / "plots" / "metrics.png").is_file()
    results = json.loads((run_dir / "iter_1" / "results.json").read_text())
    assert set(results["results"]) == set(WORLD_TASKS)
    for task in WORLD_AT_CHANCE:  # left out of the default set: '–' with the reason in Table 1, never 0
        assert f"{task} is not in the world's default set" in tables
    assert {"chair_s", "chair_i"} <= set(results["results"]["chair"]["metrics"])
    assert results["results"]["pope"]["data_source"].startswith("local:") and \
        str(world_home / "world-v") in results["results"]["pope"]["data_source"]
    manifest = json.loads((run_dir / "run.json").read_text())
    method = manifest["config"]["method_config"]
    assert manifest["config"]["model"] == "world" and method["clip_model"] == "world"
    assert method["training"]["learning_rate"] == WORLD_CSR_PRESETS["training"]["learning_rate"]  # the world's
    assert method["prompts"] == 3 and method["lam"] == 0.9  # a flag; the reference's
    assert method["prompt_source"].endswith("prompts/images")  # unlabelled images, not the training ones
    pairs = (run_dir / "iter_1" / "pairs" / "preferences.jsonl").read_text().splitlines()
    summary = json.loads((run_dir / "iter_1" / "pairs" / "summary.json").read_text())
    assert pairs and len(pairs) + len(summary["skipped"]) == 3
