"""Crash safety: `csr-bench run` killed with SIGKILL in each stage (evaluation, candidate search,
pair writing, DPO training, merging), rerun until it finishes, ends with the artefacts of an
uninterrupted run: the same results.json metrics, samples, trees, preferences.jsonl bytes and
merged weights, bit for bit. The kill points are csr_bench.faults'; scripts/fault_injection.py is
the longer version, with random kill times (docs/crash-safety.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from csr_bench import faults
from csr_bench.training.dpo import checkpoint_is_complete
from fault_harness import (compare_models, compare_runs, dpo_command, run_once, run_until_done,
                                     small_run_command, summarize, temporary_files)

RUN_NAME = "w"


def run_args(world: Path, output: Path) -> list[str]:
    return small_run_command(world, output, RUN_NAME)  # one CSR iteration, 4 prompts in 2 batches, 4 DPO steps


@pytest.fixture(scope="module")
def reference(small_world, tmp_path_factory) -> Path:
    """The uninterrupted run that every crashed one must end up equal to."""
    output = tmp_path_factory.mktemp("uninterrupted")
    run_until_done(run_args(small_world, output))
    return output / RUN_NAME


# One kill in each stage, in pipeline order: each rerun resumes and is killed in the next stage.
EVERY_STAGE = [
    "torn:samples.jsonl@2",  # evaluation: the second batch of samples half written
    "torn:trees.jsonl@2",  # candidate search (rewards included): the second batch of prompts half written
    "write:preferences.jsonl",  # pairs: preferences.jsonl written to its temporary file, not renamed
    "train:checkpoint",  # DPO: killed while transformers writes its checkpoint (left half written)
    "merge:weights",  # merging: merged weights in model.partial/, processor and marker not yet
]


def test_killed_in_every_stage_the_rerun_ends_as_an_uninterrupted_run(small_world, reference, tmp_path):
    attempts = run_until_done(run_args(small_world, tmp_path), EVERY_STAGE)
    assert [a.killed for a in attempts] == [True] * len(EVERY_STAGE) + [False], summarize(attempts)
    assert compare_runs(reference, tmp_path / RUN_NAME) == []
    crashed = tmp_path / RUN_NAME / "iter_1"
    # the checkpoint left half written was removed, not resumed from; the next kill came after a new
    # one was complete, which the last rerun resumed from (all steps done) to merge
    assert "checkpoint-4 was not written to the end" in attempts[4].stderr_tail, attempts[4].stderr_tail
    assert json.loads((crashed / "model" / "csr_dpo.json").read_text())["train_metrics"]["resumed_from"] == \
        "checkpoint-4"
    assert all(checkpoint_is_complete(path) for path in (crashed / "trainer").glob("checkpoint-*"))
    # what the killed atomic write left: a hidden temporary file no reader looks at
    assert [p.name.split(".")[1] for p in temporary_files(tmp_path)] == ["preferences"]
    again = run_until_done(run_args(small_world, tmp_path))[0]  # everything finished: nothing redone
    assert "evaluation already finished" in again.stderr_tail and "training" not in again.stderr_tail


def test_dpo_resumed_from_a_checkpoint_merges_the_same_weights_bit_for_bit(reference, tmp_path):
    """Checkpoints after every step; killed while writing the third (left half written): the rerun
    discards it, resumes from checkpoint-2 and merges exactly the weights of the uninterrupted run."""
    iteration = reference / "iter_1"
    argv = dpo_command(iteration / "dpo_inputs.json", iteration / "pairs" / "preferences.jsonl", tmp_path, save_steps=1)
    attempts = run_until_done(argv, ["train:checkpoint@3"])
    assert "checkpoint-3 was not written to the end" in attempts[1].stderr_tail, attempts[1].stderr_tail
    marker = json.loads((tmp_path / "model" / "csr_dpo.json").read_text())
    assert marker["train_metrics"]["resumed_from"] == "checkpoint-2"
    assert compare_models(iteration / "model", tmp_path / "model") == []


def test_fault_points_are_inert_unarmed_and_fire_on_the_nth_pass(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    faults._hits.clear()
    assert not faults.active() and not any(faults._armed("append:samples.jsonl") for _ in range(3))
    monkeypatch.setenv(faults.ENV, "append:*@2")
    assert [faults._armed("append:samples.jsonl") for _ in range(3)] == [False, True, False]
    assert not faults._armed("torn:samples.jsonl")
    faults._hits.clear()


APPEND_TWO_BATCHES = """
from csr_bench.storage.files import append_jsonl
append_jsonl("{path}", [{{"doc_id": 1, "text": "héllo"}}, {{"doc_id": 2}}])
append_jsonl("{path}", [{{"doc_id": 3, "text": "wörld"}}, {{"doc_id": 4}}])
"""


@pytest.mark.parametrize("point", ["torn:samples.jsonl@2", "unsealed:samples.jsonl@2"])
def test_an_append_a_crash_interrupts_is_dropped_whole(tmp_path, point):
    """Killed half way through the second append (its first record may be complete) or after all of
    it but before it was sealed: the second batch is gone, whole, on read and on disk."""
    from csr_bench.storage.files import append_jsonl, read_jsonl_records

    path = tmp_path / "samples.jsonl"
    attempt = run_once([sys.executable, "-c", APPEND_TWO_BATCHES.format(path=path)], point)
    assert attempt.killed and (tmp_path / ".samples.jsonl.appending").exists()
    assert read_jsonl_records(path, repair=False) == read_jsonl_records(path) == \
        [{"doc_id": 1, "text": "héllo"}, {"doc_id": 2}]
    assert not (tmp_path / ".samples.jsonl.appending").exists()
    append_jsonl(path, [{"doc_id": 3}])
    assert [r["doc_id"] for r in read_jsonl_records(path)] == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["samples.jsonl"]  # a finished append leaves no marker


def test_a_stale_append_marker_is_ignored(tmp_path):
    """A marker that cannot describe the file (longer than it: the file was replaced) changes nothing."""
    from csr_bench.storage.files import append_jsonl, atomic_write_text, read_jsonl_records

    path = tmp_path / "trees.jsonl"
    append_jsonl(path, [{"a": 1}, {"a": 2}])
    (tmp_path / ".trees.jsonl.appending").write_text('{"size": 999}\n')
    assert read_jsonl_records(path) == [{"a": 1}, {"a": 2}]
    (tmp_path / ".trees.jsonl.appending").write_text('{"size": 3}\n')
    atomic_write_text(path, '{"a": 5}\n')  # a whole-file write supersedes any unfinished append
    assert read_jsonl_records(path) == [{"a": 5}] and not (tmp_path / ".trees.jsonl.appending").exists()


WRITE_WORLD = ("import sys; sys.path.insert(0, {tests!r}); from fault_harness import write_small_world; "
               "write_small_world({root!r})")


def test_a_world_write_killed_midway_is_written_again_by_the_rerun(small_world, tmp_path):
    """Before, the rerun refused the half-written folder ('not a world folder')."""
    root = tmp_path / "world"
    argv = [sys.executable, "-c", WRITE_WORLD.format(tests=str(Path(__file__).resolve().parent), root=str(root))]
    run_until_done(argv, ["write:seed.jsonl"])

    def files(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert files(root) == files(small_world)


def test_overwrite_discards_an_iterations_evaluation_not_its_model(tmp_path):
    from csr_bench.evaluation.evaluator import discard_evaluation

    for name in ("results.json", "pope/task_run.json", "pope/samples.jsonl", "chair/samples.rank0-of-2.jsonl",
                 "model/config.json", "csr/preferences.jsonl", "trainer/checkpoint-4/trainer_state.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}\n")
    discard_evaluation(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csr", "model", "trainer"]


# -- POVID: two trainings in one iteration -------------------------------------------------------

POVID_ITERATION = ("from csr_bench.compat import ensure_torchvision_importable; ensure_torchvision_importable(); "
                   "import sys; sys.path.insert(0, {tests!r}); from test_povid import run_povid_iteration; "
                   "run_povid_iteration({pairs!r}, {run!r}, {checkpoint!r})")


def povid_command(pairs: Path, run: Path, checkpoint: Path) -> list[str]:
    return [sys.executable, "-c", POVID_ITERATION.format(tests=str(Path(__file__).resolve().parent), pairs=str(pairs),
                                                         run=str(run), checkpoint=str(checkpoint))]


@pytest.fixture(scope="module")
def povid_reference(tiny_checkpoint, tmp_path_factory) -> dict:
    """An uninterrupted POVID iteration (3 pairs: stage 1 and stage 2 three steps each, a checkpoint
    after every step)."""
    from preference_pairs import write_pairs

    root = tmp_path_factory.mktemp("povid-faults")
    pairs = write_pairs(root)
    run_until_done(povid_command(pairs, root / "run", tiny_checkpoint))
    return {"pairs": pairs, "run": root / "run", "checkpoint": tiny_checkpoint}


@pytest.mark.parametrize("fault, stage, killed_checkpoint", [
    ("train:checkpoint@2", "stage1", "stages/stage1/trainer/checkpoint-2"),  # stage 1's second step
    ("train:checkpoint@5", "stage2", "trainer/checkpoint-2"),  # stage 1's 3 checkpoints, then stage 2's second
])
def test_povid_killed_in_either_stage_resumes_to_the_uninterrupted_models(povid_reference, tmp_path, fault, stage,
                                                                          killed_checkpoint):
    run = tmp_path / "run"
    argv = povid_command(povid_reference["pairs"], run, povid_reference["checkpoint"])
    first = run_once(argv, fault)
    iteration = run / "iter_1"
    assert first.killed, first.describe()
    assert (iteration / "stages" / "stage1" / "model" / "csr_dpo.json").is_file() == (stage == "stage2")
    assert not (iteration / "model").exists()
    assert (iteration / killed_checkpoint).is_dir() and not checkpoint_is_complete(iteration / killed_checkpoint)
    run_until_done(argv)  # discards the half-written checkpoint and resumes from the one before it
    resumed = json.loads(((iteration / "stages" / "stage1" if stage == "stage1" else iteration) / "model" /
                          "csr_dpo.json").read_text())["train_metrics"]["resumed_from"]
    assert resumed == "checkpoint-1"
    reference = povid_reference["run"] / "iter_1"
    assert compare_models(reference / "stages" / "stage1" / "model", iteration / "stages" / "stage1" / "model",
                          "stage 1 model") == []
    assert compare_models(reference / "model", iteration / "model") == []
