"""``--method dpo``: DPO + LoRA on a released preference set. Its flags, its one-line errors, and one
real iteration of the tiny LLaVA through the shared driver (trl + peft steps on the CPU) on a
3-pair csr-bench preferences.jsonl; the finished iteration is returned as it is, and a rerun with
another --preferences (or a set that changed on disk) is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from csr_bench.errors import CsrBenchError

from conftest import assert_one_line_error, run_cli
from preference_pairs import COLOURS, FAST, iteration_input, trained_once, write_pairs


def dpo_method(pairs: Path, **changes):
    from csr_bench.methods.dpo.config import DpoConfig
    from csr_bench.methods.dpo.method import DpoMethod
    from csr_bench.training.config import DpoLoraConfig

    config = DpoConfig(preferences=str(pairs), prompt_images=str(pairs.parent), training=DpoLoraConfig(**FAST))
    for key, value in changes.items():
        setattr(config, key, value)
    return DpoMethod(config, device="cpu")


def test_run_help_lists_the_flags():
    out = run_cli("run", "--method", "dpo", "--help", check=True).stdout
    for flag in ("--preferences", "--prompt-images", "--preferences-limit", "--preferences-seed"):
        assert flag in out
    assert "rlhf-v" in out and "vlfeedback" in out and "world:rlhf-v" in out


def test_needs_preferences_and_a_positive_limit(tmp_path):
    from csr_bench.methods.dpo.config import DpoConfig
    from csr_bench.methods.dpo.method import DpoMethod
    from csr_bench.methods.registry import default_iterations, method_class

    assert method_class("dpo") is DpoMethod and default_iterations("dpo") == 1
    with pytest.raises(CsrBenchError) as error:
        DpoMethod(DpoConfig())
    assert str(error.value).startswith("--method dpo needs --preferences SOURCE (presets: rlhf-v, rlaif-v, vlfeedback")
    with pytest.raises(CsrBenchError, match="--preferences-limit must be at least 1"):
        DpoMethod(DpoConfig(preferences="rlhf-v", preferences_limit=0))
    # the draw's seed: --preferences-seed, else the run's --seed (which run puts in training.seed)
    from csr_bench.training.config import DpoLoraConfig

    assert DpoMethod(DpoConfig(preferences="rlhf-v", training=DpoLoraConfig(seed=5))).seed == 5
    assert DpoMethod(DpoConfig(preferences="a/b", preferences_seed=2, training=DpoLoraConfig(seed=5))).seed == 2


def test_cli_without_preferences_is_one_line_error(tmp_path):
    result = run_cli("run", "--model", "tiny-llava", "--method", "dpo", "--tasks", "pope", "--output", str(tmp_path))
    assert_one_line_error(result, "--method dpo needs --preferences SOURCE")


@pytest.mark.parametrize("source, images, message", [
    ("nope.json", None, "--preferences nope.json: no such file or folder, preset or hub id (presets: rlhf-v"),
    ("world:nosuch", None, "--preferences world:nosuch: model world has no preference set 'nosuch' (known: "
                           "world:povid, world:rlhf-v)"),
    ("povid", None, "--preferences povid: its rows name COCO train2014 images by file: pass the folder holding "
                    "them as --prompt-images DIR"),
    ("hostname.txt", None, "not a preference file (expected .json, .jsonl, .parquet)"),
])
def test_a_wrong_preferences_stops_the_run_before_any_work(tmp_path, source, images, message):
    """Checked when the method is made, before iteration 0 is evaluated: no run folder is left."""
    (tmp_path / "hostname.txt").write_text("host\n")
    result = run_cli("run", "--model", "tiny-llava", "--method", "povid" if source == "povid" else "dpo",
                     "--preferences", source, "--tasks", "pope", "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert_one_line_error(result, message)
    assert not (tmp_path / "out").exists()


def test_check_source_names_what_a_source_is(tmp_path):
    from csr_bench.preference_data.sources import check_source

    pairs = write_pairs(tmp_path)
    assert [check_source(s) for s in (str(pairs), "rlhf-v", "world:rlhf-v", "openbmb/RLAIF-V-Dataset")] == [
        "file", "preset", "model set", "hub id"]
    assert check_source("povid", tmp_path) == "preset"  # COCO names resolve in --prompt-images


@pytest.fixture(scope="module")
def dpo_run(tmp_path_factory, tiny_checkpoint):
    return trained_once(dpo_method, tmp_path_factory.mktemp("dpo"), tiny_checkpoint)


def test_one_iteration_trains_on_the_set(dpo_run):
    iteration = dpo_run["run"] / "iter_1"
    assert dpo_run["model"] == iteration / "model" and (iteration / "model" / "config.json").is_file()
    written = [json.loads(line) for line in (iteration / "pairs" / "preferences.jsonl").read_text().splitlines()]
    root = dpo_run["root"].resolve()
    assert [(p["id"], p["image"], p["chosen"], p["rejected"]) for p in written] == [
        (f"p{i}", str(root / f"img{i}.png"), f"A {c} square.", f"A {c} square and a cat.")
        for i, c in enumerate(COLOURS)]
    summary = json.loads((iteration / "pairs" / "summary.json").read_text())
    assert summary["method"] == "dpo" and summary["pairs"] == 3 and summary["schema"] == "csr-bench"
    assert summary["source"] == str(dpo_run["pairs"]) and summary["rows"] == 3 and summary["skipped"] == {}
    digest = hashlib.sha256("".join(json.dumps([p["image"], p["prompt"], p["chosen"], p["rejected"]]) + "\n"
                                    for p in written).encode()).hexdigest()
    read = json.loads((iteration / "dpo" / "read.json").read_text())
    assert read == {"source": str(dpo_run["pairs"]), "schema": "csr-bench", "limit": None, "seed": 0, "pairs": 3,
                    "pairs_sha256": digest}
    settings = json.loads((iteration / "dpo" / "settings.json").read_text())
    assert settings["preferences"] == str(dpo_run["pairs"]) and settings["preferences_seed"] == 0
    trained = json.loads((iteration / "model" / "csr_dpo.json").read_text())
    assert trained["num_preferences"] == 3
    # trl's log dicts, one JSON line per step (warnings are plain lines): the first step is at log 2
    # (LoRA's B starts at zero, so the policy is its reference)
    log = [json.loads(line) for line in (iteration / "train.log").read_text().splitlines() if line.startswith("{")]
    assert log and log[0]["step"] == 1 and log[0]["loss"] == pytest.approx(0.6931, abs=1e-3)


def test_finished_iteration_is_returned_and_another_set_is_refused(dpo_run):
    from csr_bench.methods.driver import run_iteration

    marker = dpo_run["run"] / "iter_1" / "model" / "csr_dpo.json"
    before = marker.stat().st_mtime_ns
    inputs = iteration_input(dpo_run["run"], dpo_run["checkpoint"])
    assert run_iteration(dpo_method(dpo_run["pairs"]), inputs) == dpo_run["model"]
    assert marker.stat().st_mtime_ns == before
    other = write_pairs(dpo_run["root"], "other.jsonl", rejected="and a dog")
    with pytest.raises(CsrBenchError) as error:
        run_iteration(dpo_method(other), inputs)
    assert "\n" not in str(error.value) and "preferences" in str(error.value) and "other.jsonl" in str(error.value)
    with pytest.raises(CsrBenchError, match="preferences_limit"):
        run_iteration(dpo_method(dpo_run["pairs"], preferences_limit=2), inputs)


def test_a_set_that_changed_on_disk_is_refused(tmp_path):
    """Before training finished (no model yet): the pairs read again differ from those recorded."""
    from csr_bench.methods.base import IterationInput

    pairs = write_pairs(tmp_path)
    current = IterationInput(iteration=1, model_source="tiny-llava", load_model=lambda: None,
                             work_dir=tmp_path / "run" / "iter_1")
    method = dpo_method(pairs)
    assert len(method.make_pairs(current).pairs) == 3
    write_pairs(tmp_path, rejected="and a dog")  # same file name, other rows
    with pytest.raises(CsrBenchError, match="pairs_sha256"):
        method.make_pairs(current)


def test_an_iteration_another_method_made_is_never_taken_for_this_ones(dpo_run, tmp_path):
    """A run folder reused with --run-name: iter_1 finished by dpo is refused to a POVID method (and a
    CSR one) before anything is read or returned; the finished model is left as it was."""
    from csr_bench.methods.driver import run_iteration
    from csr_bench.methods.povid.config import PovidConfig
    from csr_bench.methods.povid.method import PovidMethod

    marker = dpo_run["run"] / "iter_1" / "model" / "csr_dpo.json"
    before = marker.read_bytes()
    povid = PovidMethod(PovidConfig(preferences=str(dpo_run["pairs"])))
    with pytest.raises(CsrBenchError) as error:
        run_iteration(povid, iteration_input(dpo_run["run"], dpo_run["checkpoint"]))
    assert str(error.value) == (f"{dpo_run['run'] / 'iter_1'} holds an iteration of --method dpo, not povid: give "
                                "this run another --run-name, or pass --overwrite to discard that run's work")
    assert marker.read_bytes() == before
