"""Data parallelism on torch.distributed: `torchrun --nproc_per_node 2` (two CPU processes, gloo)
gives the same samples and results.json metrics as one process."""

import json
import os
import subprocess
import sys

from conftest import WORLD_VLM, run_cli


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "csr_bench", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def _samples(iteration, task):
    lines = (iteration / task / "samples.jsonl").read_text().splitlines()
    return sorted(lines)


def test_two_processes_give_the_results_of_one(small_world, tmp_path):
    args = ["eval", "--model", str(WORLD_VLM), "--tasks", "pope,chair", "--data-root", str(small_world),
            "--run-name", "dp", "--batch-size", "4", "--quiet"]
    run_cli(*args, "--output", str(tmp_path / "one"), check=True)
    result = _torchrun(*args, "--output", str(tmp_path / "two"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("dp iter_0") == 1  # the main process reports, once
    one, two = tmp_path / "one" / "dp" / "iter_0", tmp_path / "two" / "dp" / "iter_0"
    for task in ("pope", "chair"):
        assert _samples(one, task) == _samples(two, task)
        assert not list((two / task).glob("samples.rank*"))  # merged into samples.jsonl
    metrics = [{task: entry["metrics"] for task, entry in json.loads((folder / "results.json").read_text())
                ["results"].items()} for folder in (one, two)]
    assert metrics[0] == metrics[1] and metrics[0]["pope"]["accuracy"] > 0


def test_resume_with_another_process_count(small_world, tmp_path):
    args = ["eval", "--model", str(WORLD_VLM), "--tasks", "pope", "--data-root", str(small_world),
            "--run-name", "dp", "--output", str(tmp_path), "--quiet"]
    result = _torchrun(*args, "--limit", "20")
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = run_cli(*args, "--limit", "40", check=True)  # one process adds the next 20
    assert "20 of 40 samples already done" in resumed.stderr
    records = [json.loads(line) for line in (tmp_path / "dp" / "iter_0" / "pope" / "samples.jsonl").read_text().splitlines()]
    # --limit 40 of the small world's POPE (36 per split, split by split): 14, 13 and 13 of the splits
    assert sorted(r["doc_index"] for r in records) == [*range(0, 14), *range(36, 49), *range(72, 85)]


def test_csr_iteration_on_two_processes(small_world, tmp_path):
    """The CSR search is sharded by prompt and gathered: the same preference pairs as one process;
    DPO then trains with trl/accelerate's DDP (its updates average two processes' batches, so the
    trained model is not expected to equal one process's)."""
    args = ["run", "--model", str(WORLD_VLM), "--data-root", str(small_world), "--tasks", "pope",
            "--iterations", "1", "--run-name", "csr", "--prompt-source", str(small_world / "prompts" / "images"),
            "--clip-model", "tiny", "--prompts", "4", "--max-sentences", "3", "--learning-rate", "1e-3", "--quiet"]
    run_cli(*args, "--output", str(tmp_path / "one"), check=True)
    result = _torchrun(*args, "--output", str(tmp_path / "two"))
    assert result.returncode == 0, result.stderr[-3000:]
    pairs = []
    for side in ("one", "two"):
        folder = tmp_path / side / "csr" / "iter_1"
        records = [json.loads(line) for line in (folder / "pairs" / "preferences.jsonl").read_text().splitlines()]
        pairs.append([(r["prompt_id"], r["chosen"], r["rejected"], r["chosen_reward"], r["rejected_reward"])
                      for r in records])
        trees = [json.loads(line)["prompt_id"] for line in (folder / "csr" / "trees.jsonl").read_text().splitlines()]
        assert len(trees) == 4 and not list((folder / "csr").glob("trees.rank*"))
        assert (folder / "model" / "csr_dpo.json").is_file() and (folder / "results.json").is_file()
    assert pairs[0] == pairs[1] and len(pairs[0]) > 0
    assert (tmp_path / "two" / "csr" / "report.html").is_file()
