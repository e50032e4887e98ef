"""Never relabel, never mix (issue 16, cases 1 and 7), through the real command line.

A rerun with other settings than a stage was made with is one line naming the settings and the ways
out, and leaves every file as it was; equal settings resume; ``--overwrite`` redoes the run. A run
folder copied elsewhere resumes and extends, and a checkpoint a run wrote is evaluated with no extra
flags, named after its run and iteration.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import WORLD_TASKS, WORLD_VLM, assert_one_line_error, run_cli, small_world_run


def _copy_run(tiny_run: Path, tmp_path: Path) -> Path:
    """A writable copy of the session's two-iteration run, at OUTPUT/world-vlm."""
    output = tmp_path / "copied"
    shutil.copytree(tiny_run, output / "world-vlm")
    return output


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _rerun(small_world: Path, output: Path, *extra: str, iterations: int = 2):
    """small_world_run's command again (the same settings unless ``extra`` changes them), unchecked."""
    return run_cli("run", "--model", str(WORLD_VLM), "--data-root", str(small_world), "--tasks", WORLD_TASKS,
                   "--iterations", str(iterations), "--output", str(output), "--run-name", "world-vlm",
                   "--prompt-source", str(small_world / "prompts" / "images"), "--clip-model", "tiny",
                   "--prompts", "4", "--max-sentences", "3", "--learning-rate", "1e-3", "--quiet", *extra)


@pytest.mark.parametrize("flags, named", [
    (["--lambda", "0.5"], "lam 0.9 -> 0.5"),  # the search prunes and the pairs are chosen with lambda
    (["--num-beams", "3"], "search.num_beams 5 -> 3"),
    (["--beta", "0.2"], "config.beta 0.1 -> 0.2"),  # only the training differs: the finished model is refused
    (["--merge-dtype", "float16"], "config.merge_dtype float32 -> float16"),
])
def test_a_rerun_with_other_settings_is_refused_naming_them_and_changes_nothing(tiny_run, small_world, tmp_path,
                                                                                flags, named):
    output = _copy_run(tiny_run, tmp_path)
    before = _snapshot(output / "world-vlm")
    result = _rerun(small_world, output, *flags)
    line = assert_one_line_error(result, "iter_1", "was made with other settings", named, "--overwrite",
                                 "--run-name")
    assert result.returncode == 2, line
    assert _snapshot(output / "world-vlm") == before  # run.json, the tables, the report: nothing relabelled


def test_a_killed_search_is_not_resumed_with_other_settings(tiny_run, small_world, tmp_path):
    """The search of iteration 1 stopped after 2 of its 4 prompts; a rerun with other beams and lambda
    would have mixed trees of both settings in one file (issue 16: 8 trees of 5 roots, 24 of 3)."""
    output = _copy_run(tiny_run, tmp_path)
    iteration = output / "world-vlm" / "iter_1"
    for name in ("model", "trainer"):
        shutil.rmtree(iteration / name)
    (iteration / "dpo_inputs.json").unlink()
    trees = iteration / "csr" / "trees.jsonl"
    trees.write_text("".join(trees.read_text().splitlines(keepends=True)[:2]))
    before = trees.read_bytes()
    result = _rerun(small_world, output, "--num-beams", "3", "--lambda", "0.3")
    assert_one_line_error(result, "iteration 1's CSR search in", "lam 0.9 -> 0.3", "search.num_beams 5 -> 3",
                          "search.num_beam_groups 5 -> 3", "--overwrite")
    assert trees.read_bytes() == before


def test_equal_settings_resume_and_batching_flags_are_not_settings(tiny_run, small_world, tmp_path):
    output = _copy_run(tiny_run, tmp_path)
    models = {k: (output / "world-vlm" / f"iter_{k}" / "model" / "model.safetensors").read_bytes() for k in (1, 2)}
    result = _rerun(small_world, output, "--prompts-per-batch", "2", "--batch-size", "3")
    assert result.returncode == 0, result.stderr
    for k in (1, 2):  # nothing trained again
        assert (output / "world-vlm" / f"iter_{k}" / "model" / "model.safetensors").read_bytes() == models[k]
    assert "evaluation already finished" in result.stderr


def test_overwrite_redoes_the_run_with_the_new_settings(tiny_run, small_world, tmp_path):
    output = _copy_run(tiny_run, tmp_path)
    result = _rerun(small_world, output, "--lambda", "0.5", "--overwrite", iterations=1)
    assert result.returncode == 0, result.stderr
    run = output / "world-vlm"
    assert not (run / "iter_2").exists()  # the earlier run's work is gone, not mixed in
    assert json.loads((run / "iter_1" / "csr" / "search_settings.json").read_text())["lam"] == 0.5
    assert json.loads((run / "iter_1" / "pairs" / "summary.json").read_text())["lambda"] == 0.5
    assert json.loads((run / "run.json").read_text())["config"]["method_config"]["lam"] == 0.5
    assert json.loads((run / "iter_1" / "results.json").read_text())["results"]["pope"]["n_generated"] > 0


def test_a_moved_run_extends_without_redoing_anything(tiny_run, small_world, tmp_path):
    output = _copy_run(tiny_run, tmp_path)
    run = output / "world-vlm"
    for name in ("task_run.json",):  # what a resume compares holds no path of where the run was made
        for path in run.rglob(name):
            assert str(tiny_run) not in path.read_text(), path
    for path in [*run.rglob("search_settings.json"), *run.rglob("dpo_inputs.json"), *run.rglob("csr_dpo.json")]:
        assert str(tiny_run) not in path.read_text(), path
    settings = json.loads((run / "iter_2" / "csr" / "search_settings.json").read_text())
    assert settings["model"] == "<run>/iter_1/model"
    before = {k: (run / f"iter_{k}" / "results.json").read_bytes() for k in (0, 1, 2)}
    small_world_run(small_world, output, iterations=3)
    for k in (0, 1, 2):  # finished evaluations are not redone in the new place
        assert (run / f"iter_{k}" / "results.json").read_bytes() == before[k]
    results = json.loads((run / "iter_3" / "results.json").read_text())
    assert results["model"]["source"] == "<run>/iter_3/model"
    assert json.loads((run / "iter_3" / "csr" / "search_settings.json").read_text())["model"] == "<run>/iter_2/model"


def test_a_checkpoint_of_a_run_is_evaluated_with_no_extra_flags(tiny_run, small_world, tmp_path):
    origin = json.loads((tiny_run / "iter_1" / "model" / "csr_bench_origin.json").read_text())
    assert origin == {"run": "world-vlm", "iteration": 1, "method": "csr", "base_model": str(WORLD_VLM.resolve()),
                      "data_root": str(small_world)}
    result = run_cli("eval", "--model", str(tiny_run / "iter_1" / "model"), "--tasks", "pope", "--limit", "4",
                     "--output", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "world-vlm-iter1" / "iter_0" / "results.json").read_text())
    assert results["model"]["name"] == "world-vlm-iter1"
    assert results["results"]["pope"]["data_source"] == f"local:{small_world / 'pope'}"  # the run's data, found by itself
    run_cli("models", check=True)  # the registry still lists
