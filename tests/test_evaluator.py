"""Evaluation end to end on the tiny LLaVA and bundled POPE: layout, batch invariance, resume."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from csr_bench.evaluation import EvalConfig, evaluate
from csr_bench.storage.files import read_jsonl_records
from csr_bench.scorers.pope import PopeScorer, parse_yes_no
from csr_bench.tasks.data import BUNDLED_DATA_ROOT

from conftest import REPO, assert_one_line_error, run_cli


def _samples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _predictions(run_dir: Path) -> dict:
    return {s["doc_id"]: s["prediction"] for s in _samples(run_dir / "iter_0" / "pope" / "samples.jsonl")}


def test_eval_writes_the_results_layout(tmp_path, pope_rows):
    result = run_cli("eval", "--model", "tiny-llava", "--tasks", "pope", "--limit", "20", "--output", str(tmp_path),
                     "--seed", "3", "--quiet", check=True)
    iteration = tmp_path / "tiny-llava" / "iter_0"
    assert "pope" in result.stdout and str(iteration) in result.stdout
    assert "sample/s" not in result.stderr  # --quiet: no progress bars

    results = json.loads((iteration / "results.json").read_text())
    assert results["run"] == {"name": "tiny-llava", "iteration": 0, "dir": str(iteration)}
    assert results["seed"] == 3 and results["config"]["seed"] == 3 and results["config"]["limit"] == 20
    assert results["config"]["data_root"] == "bundled"
    assert results["model"]["class"] == "LlavaForConditionalGeneration" and results["model"]["dtype"] == "float32"
    assert {"torch", "transformers", "csr-bench", "python"} <= set(results["versions"])
    assert results["timing"]["seconds"] > 0
    pope = results["results"]["pope"]
    assert pope["n_samples"] == 20 and pope["n_documents"] == 141 and pope["data_source"] == "bundled:pope"

    samples = _samples(iteration / "pope" / "samples.jsonl")
    # --limit 20 on the bundled POPE (47 questions per split, split by split): dealt round-robin over
    # the splits, so the first 7 adversarial, 7 popular and 6 random (tasks/subset.py)
    chosen = pope_rows[0:7] + pope_rows[47:54] + pope_rows[94:100]
    assert sorted(s["doc_id"] for s in samples) == sorted(r["question_id"] for r in chosen)
    assert pope["subset"] == {"limit": 20, "strata": "category",
                              "per_stratum": {"adversarial": 7, "popular": 7, "random": 6}}
    for sample in samples:
        row = pope_rows[sample["doc_index"]]
        assert sample["prompt"] == row["question"] + "\nAnswer the question using a single word or phrase."
        assert {k: sample[k] for k in ("question_id", "question", "answer", "category")} == \
            {k: row[k] for k in ("question_id", "question", "answer", "category")}
        assert sample["parsed"] == parse_yes_no(sample["prediction"])
        assert sample["correct"] == (sample["parsed"] == row["answer"])
    # The metrics are the official POPE numbers of exactly these samples.
    correct = sum(s["correct"] for s in samples)
    assert pope["metrics"]["accuracy"] == pytest.approx(100 * correct / 20)
    assert pope["metrics"] == pytest.approx(PopeScorer().aggregate(samples))


def test_batch_size_does_not_change_predictions(tmp_path, tiny_model):
    predictions = {}
    for batch_size in (1, 8):
        config = EvalConfig(model="tiny-llava", tasks=["pope"], output=str(tmp_path / f"bs{batch_size}"),
                            batch_size=batch_size)
        results = evaluate(config, model=tiny_model)
        predictions[batch_size] = _predictions(tmp_path / f"bs{batch_size}" / "tiny-llava")
        metrics = results["results"]["pope"]["metrics"]
        predictions[f"metrics{batch_size}"] = metrics
    assert len(predictions[1]) == 141
    assert predictions[1] == predictions[8]
    assert predictions["metrics1"] == predictions["metrics8"]


def _default_sigint() -> None:
    # A terminal's Ctrl-C reaches a command with SIGINT at its default. A child inherits an ignored
    # SIGINT instead (and Python then raises no KeyboardInterrupt), and the test process has one
    # when it was started in the background by a non-interactive shell (`make test &`, as CI may).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "csr_bench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy(), preexec_fn=_default_sigint)


def _wait_for_samples(path: Path, count: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} samples")


RESUME_EVAL = ["eval", "--model", "tiny-llava", "--tasks", "pope", "--batch-size", "1", "--limit", "60"]


@pytest.fixture(scope="module")
def uninterrupted_eval(tmp_path_factory) -> Path:
    """RESUME_EVAL run to the end without interruption: what both resumed runs below must equal."""
    reference = tmp_path_factory.mktemp("reference")
    run_cli(*RESUME_EVAL, "--output", str(reference), "--quiet", check=True)
    return reference


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_a_killed_run_resumes_without_redoing_finished_samples(tmp_path, how, uninterrupted_eval):
    common, reference = RESUME_EVAL, uninterrupted_eval
    out = tmp_path / "crashed"
    samples = out / "tiny-llava" / "iter_0" / "pope" / "samples.jsonl"
    process = _start([*common, "--output", str(out), "--quiet"])
    _wait_for_samples(samples, 10, process)
    if how == "kill":
        process.kill()  # SIGKILL: no chance to clean up
    else:
        process.send_signal(signal.SIGINT)  # Ctrl-C
    _, stderr = process.communicate(timeout=120)
    if how == "interrupt":
        assert process.returncode == 130 and "rerun the same command to resume" in stderr
        assert "Traceback" not in stderr
    # Counted as the resume counts them: a signal that lands between an append's write and the removal
    # of its marker leaves that last sample uncommitted, and the resume cuts it off (csr_bench.storage.files).
    done_before = len(read_jsonl_records(samples, repair=False))
    assert 9 <= done_before < 60  # 10 lines were seen; with batch size 1, at most the last is uncommitted

    resumed = run_cli(*common, "--output", str(out), "--quiet", check=True)
    assert f"{done_before} of 60 samples already done" in resumed.stderr
    results = json.loads((out / "tiny-llava" / "iter_0" / "results.json").read_text())
    assert results["results"]["pope"]["n_generated"] == 60 - done_before
    final = _samples(samples)
    assert len(final) == 60 and len({s["doc_id"] for s in final}) == 60
    expected = json.loads((reference / "tiny-llava" / "iter_0" / "results.json").read_text())
    assert results["results"]["pope"]["metrics"] == expected["results"]["pope"]["metrics"]
    assert _predictions(out / "tiny-llava") == _predictions(reference / "tiny-llava")


def test_resume_refuses_other_settings_unless_overwritten(tmp_path, tiny_model):
    base = dict(model="tiny-llava", tasks=["pope"], output=str(tmp_path), limit=4, max_new_tokens=8)
    evaluate(EvalConfig(**base), model=tiny_model)
    from csr_bench.errors import CsrBenchError

    with pytest.raises(CsrBenchError, match=r"other settings \(generation.max_new_tokens 8 -> 9\).*--overwrite.*--run-name"):
        evaluate(EvalConfig(**{**base, "max_new_tokens": 9}), model=tiny_model)
    results = evaluate(EvalConfig(**{**base, "max_new_tokens": 9, "overwrite": True}), model=tiny_model)
    assert results["results"]["pope"]["n_generated"] == 4
    # a larger --limit on the same settings only adds the new documents
    results = evaluate(EvalConfig(**{**base, "max_new_tokens": 9, "limit": 6}), model=tiny_model)
    assert results["results"]["pope"]["n_generated"] == 2 and results["results"]["pope"]["n_samples"] == 6


def test_unreadable_image_stops_with_one_line_and_keeps_finished_samples(tmp_path, pope_rows):
    data = tmp_path / "data" / "pope"
    shutil.copytree(BUNDLED_DATA_ROOT / "pope", data)
    rows = pope_rows[:6]
    # The broken document has the shortest prompt, so it is processed last (longest first).
    rows[5] = {**rows[5], "question": "Bar?", "image": "images/broken.png"}
    (data / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (data / "pope.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_cli("eval", "--model", "tiny-llava", "--tasks", "pope", "--data-root", str(tmp_path / "data"),
                     "--batch-size", "1", "--output", str(tmp_path / "out"), "--max-new-tokens", "4")
    assert_one_line_error(result, f"question_id={rows[5]['question_id']}", "broken.png")
    samples = _samples(tmp_path / "out" / "tiny-llava" / "iter_0" / "pope" / "samples.jsonl")
    assert sorted(s["doc_id"] for s in samples) == [r["question_id"] for r in rows[:5]]


def test_saved_llava15_checkpoint_evaluates_through_model_dir(tmp_path, tiny_checkpoint):
    run_cli("eval", "--model", str(tiny_checkpoint), "--tasks", "pope", "--data-root", "bundled", "--limit", "8",
            "--output", str(tmp_path), "--quiet", check=True)
    results = json.loads((tmp_path / "tiny-llava15" / "iter_0" / "results.json").read_text())
    assert results["model"]["source"] == str(tiny_checkpoint)
    assert results["results"]["pope"]["n_samples"] == 8
    run_cli("eval", "--model", "tiny-llava", "--tasks", "pope", "--limit", "8", "--output", str(tmp_path),
            "--quiet", check=True)
    # same weights, same predictions: the saved folder is the tiny model in llava-hf format
    assert _predictions(tmp_path / "tiny-llava15") == _predictions(tmp_path / "tiny-llava")


def test_run_with_no_iterations_only_evaluates(tmp_path):
    result = run_cli("run", "--model", "tiny-llava", "--iterations", "0", "--output", str(tmp_path), "--limit", "6",
                     "--quiet", check=True)
    run_dir = tmp_path / "tiny-llava"
    assert (run_dir / "iter_0" / "results.json").is_file()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["config"]["model"] == "tiny-llava" and manifest["iterations"][0]["iteration"] == 0
    assert "pope" in result.stdout and not (run_dir / "iter_1").exists()
    assert_one_line_error(run_cli("run", "--model", "tiny-llava", "--output", str(tmp_path), "--iterations", "-1"),
                          "--iterations")
    assert_one_line_error(run_cli("run", "--model", "tiny-llava", "--output", str(tmp_path), "--method", "nosuch"),
                          "unknown --method nosuch")


def test_judge_failure_keeps_other_results_and_fails_the_command(tmp_path, tiny_model, pope_rows, monkeypatch):
    import socket

    from csr_bench.errors import CsrBenchError

    root = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA_ROOT / "pope", root / "pope")
    (root / "mmvet.jsonl").write_text("".join(json.dumps(
        {"question_id": f"v{i}", "question": "What is it?", "answer": "a circle", "capability": "rec",
         "image": f"pope/{pope_rows[i]['image']}"}) + "\n" for i in range(2)))
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CSR_BENCH_JUDGE_RETRIES", "0")
    config = EvalConfig(model="tiny-llava", tasks=["pope", "mmvet"], data_root=str(root), output=str(tmp_path / "out"),
                        limit=3, max_new_tokens=4, judge_url=f"http://127.0.0.1:{port}/v1", judge_model="judge")
    with pytest.raises(CsrBenchError, match=r"scoring failed for mmvet .*rerun the same command"):
        evaluate(config, model=tiny_model)
    results = json.loads((tmp_path / "out" / "tiny-llava" / "iter_0" / "results.json").read_text())
    assert results["results"]["pope"]["metrics"]["accuracy"] >= 0  # the other task's results are kept
    assert results["results"]["mmvet"]["metrics"] == {} and "127.0.0.1" in results["results"]["mmvet"]["error"]
    assert len((tmp_path / "out" / "tiny-llava" / "iter_0" / "mmvet" / "samples.jsonl").read_text().splitlines()) == 2


def test_without_batch_size_the_models_default_is_used_and_recorded(tmp_path, tiny_model, monkeypatch):
    from dataclasses import replace as replace_spec

    from csr_bench.models import registry

    spec = registry.MODELS["tiny-llava"]
    monkeypatch.setitem(registry.MODELS, "tiny-llava", replace_spec(spec, eval_batch_size=5))
    seen = []
    generate = tiny_model.generate

    def counting(requests, *args, **kwargs):
        seen.append(len(requests))
        return generate(requests, *args, **kwargs)

    monkeypatch.setattr(tiny_model, "generate", counting)
    config = EvalConfig(model="tiny-llava", tasks=["pope"], output=str(tmp_path), limit=12)
    results = evaluate(config, model=tiny_model)
    assert seen == [5, 5, 2]  # 12 documents in batches of the model's default
    assert results["config"]["batch_size"] == 5
    assert registry.MODELS["world"].eval_batch_size == 128 and spec.eval_batch_size == 8


def test_a_runs_checkpoint_keeps_every_default_of_its_base_model(tmp_path):
    """A checkpoint a run wrote evaluates like the model the run started from (its batch size, tasks,
    CLIP and CSR settings), also two runs down; only its name, loader and data root are its own."""
    import json

    from csr_bench.models.registry import MODELS, ORIGIN_FILE, resolve_model

    first, second = tmp_path / "a", tmp_path / "b"
    for folder, origin in [(first, {"run": "r1", "iteration": 2, "base_model": "world", "data_root": "/data/x"}),
                           (second, {"run": "r2", "iteration": 1, "base_model": str(first), "data_root": None})]:
        folder.mkdir()
        (folder / ORIGIN_FILE).write_text(json.dumps({**origin, "method": "csr"}))
    world = MODELS["world"]
    for folder, name, data_root in [(first, "r1-iter2", "/data/x"), (second, "r2-iter1", "/data/x")]:
        spec = resolve_model(str(folder))
        assert (spec.name, spec.default_data_root, spec.hub_id) == (name, data_root, None)
        assert spec.eval_batch_size == world.eval_batch_size == 128
        assert (spec.default_tasks, spec.method_presets, spec.default_prompt_source) == (
            world.default_tasks, world.method_presets, world.default_prompt_source)
        assert spec.loader is not world.loader


def test_a_hub_model_training_cannot_fetch_offline_is_one_line(tmp_path, monkeypatch):
    """What the first training of --model llava15 loads is the hub snapshot; offline, a one-line error."""
    from csr_bench.errors import CsrBenchError
    from csr_bench.models.registry import MODELS

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(CsrBenchError) as info:
        MODELS["llava15"].training_checkpoint(tmp_path)
    assert str(info.value).startswith("cannot fetch llava-hf/llava-1.5-7b-hf for training: ")
    assert "\n" not in str(info.value)
