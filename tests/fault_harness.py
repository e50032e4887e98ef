"""The crash-safety harness: runs a command killed at kill points (csr_bench.faults) or after
random delays, reruns it, and compares its final artefacts with an uninterrupted run's.

``run_until_done(argv, faults)`` runs a command (``csr-bench run ...``) in a fresh process once per
entry of ``faults``: a point name (``CSR_BENCH_FAULT``) or a delay in seconds after which the
harness sends SIGKILL itself; then runs it once more without a fault, as a user reruns the same
command after a crash. ``compare_runs(reference, candidate)`` lists every
difference between the final artefacts of two run folders: each iteration's results.json
metrics, its evaluation samples, its CSR trees, preference pairs and summary, and the merged
model's tensors. ``tests/test_fault_injection.py`` (one kill per stage) and
``scripts/fault_injection.py`` (many random kills) drive both; see docs/crash-safety.md. Test
infrastructure, so it lives in tests/ (not in the wheel); it also writes the tests' small world.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import csr_bench
from csr_bench.faults import ENV


@dataclass
class Attempt:
    """One process of a run: what was injected, how it ended."""

    fault: str | float | None  # a point name, a delay in seconds, or None (a plain rerun)
    returncode: int
    seconds: float
    stderr_tail: str = ""
    orphans: bool = False  # processes it started outlived it by more than ORPHAN_GRACE seconds

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def describe(self) -> str:
        what = "rerun" if self.fault is None else (f"kill after {self.fault:.2f}s" if isinstance(self.fault, float)
                                                   else f"kill at {self.fault}")
        end = "killed" if self.killed else f"exit {self.returncode}"
        return f"{what}: {end} ({self.seconds:.1f}s){', ORPHANED CHILD PROCESSES' if self.orphans else ''}"


class HarnessError(AssertionError):
    """A run failed in a way a crash must never cause (an error on rerun, a kill that never came)."""


def csr_bench_command(*args: str) -> list[str]:
    """``csr-bench ARGS`` as this interpreter runs it."""
    return [sys.executable, "-m", "csr_bench", *args]


# the shipped world VLM (a llava-hf checkpoint folder)
WORLD_VLM = Path(csr_bench.__file__).resolve().parent / "bundled" / "world-seed0" / "model"


def write_small_world(root: Path) -> Path:
    """A small world of seed 0 (every benchmark, a few images each; tests/conftest.py's
    ``small_world``), written in about a second."""
    from csr_bench.world.benchmarks import BenchmarkSizes, write_world

    sizes = BenchmarkSizes(pope_images_per_split=6, chair_images=8, mme_images=4, seed_questions=6,
                           mmbench_questions=4, scienceqa_questions=4, gqa_questions=6, vizwiz_questions=4,
                           amber_images=4, amber_existence=4, amber_state=4, amber_number=2, amber_relation=2)
    write_world(root, seed=0, n_train=20, n_eval=60, sizes=sizes, n_prompt=6)
    return Path(root)


def small_run_command(world: Path, output: Path, run_name: str = "w", iterations: int = 1) -> list[str]:
    """``csr-bench run`` of the shipped world VLM on a small world, small enough to run many times:
    24 POPE questions in 3 batches, 4 prompts searched 2 at a time (so that a kill can fall between
    two batches), 3 sentences at most, the tiny CLIP, DPO on the 4 pairs (4 steps)."""
    world = Path(world)
    return csr_bench_command(
        "run", "--model", str(WORLD_VLM), "--data-root", str(world), "--tasks", "pope",
        "--iterations", str(iterations), "--limit", "24", "--batch-size", "8",
        "--prompt-source", str(world / "prompts" / "images"), "--prompts", "4", "--prompts-per-batch", "2",
        "--max-sentences", "3", "--clip-model", "tiny", "--learning-rate", "1e-3",
        "--output", str(output), "--run-name", run_name, "--quiet")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_group(pgid: int) -> bool:
    """Kill what is left of the process group ``pgid`` once its leader has exited; True if
    something was left after ORPHAN_GRACE seconds (e.g. a DataLoader worker of a killed run)."""
    deadline = time.monotonic() + ORPHAN_GRACE
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return True
        time.sleep(0.05)
    return False


ORPHAN_GRACE = 3.0


def run_once(argv: Sequence[str], fault: str | float | None = None, env: dict[str, str] | None = None,
             timeout: float = 900) -> Attempt:
    """Run ``argv`` once in its own process group; with a point name it runs with CSR_BENCH_FAULT
    set, with a number the harness sends SIGKILL that many seconds after the start (unless it
    finished first). Processes the run started and left behind are killed and reported."""
    import tempfile

    env = dict(os.environ if env is None else env)
    env.pop(ENV, None)
    if isinstance(fault, str):
        env[ENV] = fault
    delay = float(fault) if isinstance(fault, (int, float)) and not isinstance(fault, bool) else None
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a leftover child cannot block reading it
        process = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=err, env=env,
                                   start_new_session=True)
        try:
            process.wait(timeout=delay if delay is not None else timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            if delay is None:
                _reap_group(process.pid)
                raise HarnessError(f"{' '.join(argv)}: no exit after {timeout:.0f}s (fault {fault!r})") from None
        seconds = time.perf_counter() - started
        orphans = _reap_group(process.pid)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return Attempt(fault, process.returncode, seconds, text[-4000:], orphans)


def run_until_done(argv: Sequence[str], faults: Sequence[str | float | None] = (), env: dict[str, str] | None = None,
                   require_fired: bool = True, timeout: float = 900) -> list[Attempt]:
    """One attempt per entry of ``faults``, then one plain rerun, which must exit 0: a user reruns
    the same command after each crash. An attempt that fails otherwise than by the kill, or leaves
    processes behind, is an error; so is a named point that is never reached (``require_fired``).
    Returns every attempt."""
    attempts = []
    for fault in [*faults, None]:
        attempt = run_once(argv, fault, env, timeout)
        attempts.append(attempt)
        step = f"attempt {len(attempts)} ({attempt.describe()})"
        if attempt.returncode not in (0, -signal.SIGKILL) or (fault is None and attempt.returncode != 0):
            raise HarnessError(f"{step} failed:\n{attempt.stderr_tail}")
        if attempt.orphans:
            raise HarnessError(f"{step}: processes it started were still running after it ended")
        if require_fired and isinstance(fault, str) and not attempt.killed:
            raise HarnessError(f"{step}: fault point {fault} was never reached")
    return attempts


# -- comparing run folders ---------------------------------------------------------------------

def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _iterations(run_dir: Path) -> list[str]:
    return sorted((p.name for p in run_dir.glob("iter_*") if p.is_dir()), key=lambda n: int(n.split("_")[1]))


def _tensors(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    tensors: dict[str, Any] = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(str(path)))
    return tensors


def compare_runs(reference: Path, candidate: Path, check_samples: bool = True) -> list[str]:
    """Every difference between two run folders' final artefacts (empty: they are equal).

    Compared per iteration: results.json metrics of every task (exactly), the evaluation samples'
    predictions (by document), the CSR trees (by prompt), preferences.jsonl (bytes), summary.json,
    and the merged model: the same safetensors tensors, bit for bit, and the same config.json.
    Timings, dates and absolute paths are not compared. Also reported: leftovers of an
    interrupted save in the candidate (``*.partial`` folders, which a finished rerun has reused)."""
    reference, candidate = Path(reference), Path(candidate)
    problems: list[str] = []
    names = _iterations(reference)
    if _iterations(candidate) != names:
        problems.append(f"iterations differ: {names} vs {_iterations(candidate)}")
    for name in names:
        ref, got = reference / name, candidate / name
        if not (got / "results.json").is_file():
            problems.append(f"{name}: no results.json")
            continue
        ref_results, got_results = _json(ref / "results.json")["results"], _json(got / "results.json")["results"]
        if set(ref_results) != set(got_results):
            problems.append(f"{name}: tasks differ: {sorted(ref_results)} vs {sorted(got_results)}")
        for task in sorted(set(ref_results) & set(got_results)):
            a, b = ref_results[task], got_results[task]
            if a.get("metrics") != b.get("metrics"):
                problems.append(f"{name}/{task}: metrics differ: {a.get('metrics')} vs {b.get('metrics')}")
            if a.get("n_samples") != b.get("n_samples"):
                problems.append(f"{name}/{task}: n_samples {a.get('n_samples')} vs {b.get('n_samples')}")
            if check_samples and a.get("samples"):
                ref_samples = {json.dumps(r["doc_id"]): r.get("prediction") for r in _jsonl(ref / a["samples"])}
                got_samples = {json.dumps(r["doc_id"]): r.get("prediction") for r in _jsonl(got / b["samples"])}
                if ref_samples != got_samples:
                    diff = sorted(k for k in set(ref_samples) | set(got_samples)
                                  if ref_samples.get(k) != got_samples.get(k))
                    problems.append(f"{name}/{task}: {len(diff)} samples differ (first: doc {diff[0]})")
                lines = len(_jsonl(got / b["samples"]))
                if lines != len(got_samples):
                    problems.append(f"{name}/{task}: samples.jsonl has {lines} lines for {len(got_samples)} documents")
        csr_ref, csr_got = ref / "csr", got / "csr"
        if (ref / "pairs").is_dir():
            for file in ("pairs/preferences.jsonl", "pairs/summary.json"):
                if not (got / file).is_file():
                    problems.append(f"{name}/{file}: missing")
                elif (ref / file).read_bytes() != (got / file).read_bytes():
                    problems.append(f"{name}/{file}: bytes differ")
        if csr_ref.is_dir():
            if (csr_got / "trees.jsonl").is_file():
                ref_trees = {t["prompt_id"]: t for t in _jsonl(csr_ref / "trees.jsonl")}
                got_records = _jsonl(csr_got / "trees.jsonl")
                got_trees = {t["prompt_id"]: t for t in got_records}
                if ref_trees != got_trees:
                    problems.append(f"{name}/csr/trees.jsonl: trees differ")
                if len(got_records) != len(got_trees):
                    problems.append(f"{name}/csr/trees.jsonl: {len(got_records)} lines for {len(got_trees)} prompts")
        if (ref / "model").is_dir():
            problems.extend(compare_models(ref / "model", got / "model", f"{name}/model"))
    problems.extend(f"leftover: {path.relative_to(candidate)}" for path in sorted(candidate.rglob("*.partial")))
    return problems


def compare_models(reference: Path, candidate: Path, label: str = "model") -> list[str]:
    """Differences between two saved models: a finished save (csr_dpo.json) with the same
    safetensors tensors, bit for bit, and the same config.json."""
    import torch

    if not (Path(candidate) / "csr_dpo.json").is_file():
        return [f"{label}: no finished merged model"]
    problems = []
    a, b = _tensors(Path(reference)), _tensors(Path(candidate))
    if a.keys() != b.keys():
        problems.append(f"{label}: tensor names differ")
    changed = [k for k in sorted(set(a) & set(b))
               if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or not torch.equal(a[k], b[k])]
    if changed:
        gaps = [float((a[k].double() - b[k].double()).abs().max()) for k in changed if a[k].shape == b[k].shape]
        problems.append(f"{label}: {len(changed)} of {len(a)} tensors differ (first {changed[0]}, "
                        f"largest difference {max(gaps) if gaps else 'n/a'})")
    if _json(Path(reference) / "config.json") != _json(Path(candidate) / "config.json"):
        problems.append(f"{label}/config.json differs")
    return problems


def temporary_files(run_dir: Path) -> list[Path]:
    """Temporary files of atomic writes killed before their rename (``.NAME.*.tmp``): harmless (no
    reader looks at them; the rerun wrote the file anew), so reported, not removed: in a
    data-parallel run another process's temporary file may be a live one."""
    return sorted(Path(run_dir).rglob(".*.tmp"))


def summarize(attempts: Sequence[Attempt]) -> str:
    return "; ".join(attempt.describe() for attempt in attempts)


def dpo_command(inputs: Path, preferences: Path, output: Path, save_steps: int = 1) -> list[str]:
    """A process that trains DPO as iteration ``inputs`` (a run's dpo_inputs.json) did, with a
    checkpoint every ``save_steps`` steps, into ``output`` (``python tests/fault_harness.py dpo``)."""
    return [sys.executable, str(Path(__file__).resolve()), "dpo", str(inputs), str(preferences), str(output),
            str(save_steps)]


def _dpo_main(inputs: str, preferences: str, output: str, save_steps: str) -> None:
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from csr_bench.training.dpo import DpoLoraConfig, train_dpo
    from csr_bench.storage.settings import from_run_relative

    recorded = json.loads(Path(inputs).read_text(encoding="utf-8"))
    config = DpoLoraConfig(**{**recorded["config"], "save_steps": int(save_steps)})
    model_dir = from_run_relative(recorded["model_dir"], Path(inputs).resolve().parent.parent)  # <run>/iter_k/dpo_inputs.json
    train_dpo(Path(model_dir), Path(preferences), recorded["images_root"], Path(output), config,
              device="cpu")


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "dpo":
        sys.exit("usage: python tests/fault_harness.py dpo DPO_INPUTS.json PREFERENCES.jsonl OUTPUT SAVE_STEPS")
    _dpo_main(*sys.argv[2:])
