"""The same seed and config give byte-identical CSR data and identical metrics on the CPU.

Two `csr-bench run` processes on the small world with the same flags: tiny_run (two iterations, a random
PYTHONHASHSEED) and secret_env_run (one iteration, PYTHONHASHSEED=4242, secrets in the environment).
Their iteration 0 and 1 must agree: the search trees, the preference pairs, the summary, the merged
model's weights, every sample and every metric. What may differ on GPUs, and why, is in
docs/safety-and-determinism.md."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import WORLD_TASKS

CSR_FILES = ("csr/trees.jsonl", "pairs/preferences.jsonl", "pairs/summary.json", "csr/config.json")


def _results(iteration: Path) -> dict:
    return json.loads((iteration / "results.json").read_text())


def test_same_seed_and_config_give_byte_identical_preferences_and_trees(tiny_run, secret_env_run):
    again, _ = secret_env_run
    for name in CSR_FILES:
        first, second = (run / "iter_1" / name for run in (tiny_run, again))
        assert first.read_bytes() == second.read_bytes(), f"{name} differs between two identical runs"
    pairs = (tiny_run / "iter_1" / "pairs" / "preferences.jsonl").read_text().splitlines()
    assert pairs and len((tiny_run / "iter_1" / "csr" / "trees.jsonl").read_text().splitlines()) == 4
    # DPO on those pairs: the same merged weights, to the bit
    assert (tiny_run / "iter_1" / "model" / "model.safetensors").read_bytes() == \
        (again / "iter_1" / "model" / "model.safetensors").read_bytes()


def test_same_seed_and_config_give_identical_samples_and_metrics(tiny_run, secret_env_run):
    again, _ = secret_env_run
    for k in (0, 1):
        first, second = _results(tiny_run / f"iter_{k}"), _results(again / f"iter_{k}")
        assert set(first["results"]) == set(WORLD_TASKS.split(",")) == set(second["results"])
        for task, entry in first["results"].items():
            other = second["results"][task]
            assert entry["metrics"] == other["metrics"], (k, task)
            assert entry["n_samples"] == other["n_samples"] and entry["generation"] == other["generation"]
            samples = Path(f"iter_{k}") / entry["samples"]  # relative to the iteration folder
            assert (tiny_run / samples).read_bytes() == (again / samples).read_bytes(), (k, samples)
        assert first["seed"] == second["seed"] == 0
