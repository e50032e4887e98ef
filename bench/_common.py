"""Shared helpers of the benchmark scripts: fresh-process runs, timers, medians, tables, a small world.

Every script runs each measured variant in a fresh Python process (``run_child``): the parent
starts ``python <script> --child '<json>'``, the child prints one JSON line (prefixed with
``CHILD_RESULT``) as its last output, the parent parses it. Progress goes to stderr; the final
tables go to stdout.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUNDLED_WORLD_VLM = REPO / "csr_bench" / "bundled" / "world-seed0" / "model"
RESULT_PREFIX = "CHILD_RESULT "
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def offline() -> None:
    """This process: no hub, no tokenizer threads (the benchmarks compare Python/torch work only)."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)


def code_dir() -> Path:
    """The checkout whose csr_bench the children import: this one, or $BENCH_CODE_DIR (another
    checkout, e.g. the commit before a speed change, to compare outputs and timings)."""
    return Path(os.environ.get("BENCH_CODE_DIR") or REPO).resolve()


def run_child(script: Path | str, payload: dict[str, Any], *, python: str | None = None,
              timeout: float | None = None) -> dict[str, Any]:
    """Run ``script --child payload`` in a fresh process; its result dict (the CHILD_RESULT line)."""
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": os.pathsep.join(
        p for p in [str(code_dir()), os.environ.get("PYTHONPATH", "")] if p)}
    command = [python or sys.executable, str(script), "--child", json.dumps(payload)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO, check=False)
    lines = [l for l in proc.stdout.splitlines() if l.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {payload} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def child_result(result: dict[str, Any]) -> None:
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size (``ru_maxrss``, KiB on Linux) in MiB: of this process so far, or with
    ``children`` of the largest of its finished child processes (e.g. DataLoader workers)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float | None:
    """Current resident set size (VmRSS) in MiB, where /proc exists."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Stopwatch:
    """Summed wall time of wrapped calls; nested/re-entrant calls count once (outermost only)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._depth = 0
        self._started = 0.0

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def start(self) -> None:
        if self._depth == 0:
            self._started = time.perf_counter()
        self._depth += 1

    def stop(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._started
            self.calls += 1

    def wrap(self, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            self.start()
            try:
                return function(*args, **kwargs)
            finally:
                self.stop()

        return timed


def time_forward(*modules) -> Stopwatch:
    """A stopwatch summing the time spent inside the modules' forward (forward pre-hook + hook);
    time inside nested calls counts once."""
    watch = Stopwatch()
    for module in modules:
        module.register_forward_pre_hook(lambda *_: watch.start())
        module.register_forward_hook(lambda *_: watch.stop())
    return watch


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: Sequence[float]) -> str:
    """min-max of the repeats, for the tables (how noisy a median is)."""
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def share(same: int, total: int) -> str:
    return f"{same}/{total} ({100 * same / total:.0f}%)" if total else "-"


def table(rows: list[dict[str, Any]], title: str | None = None) -> str:
    from tabulate import tabulate

    text = tabulate(rows, headers="keys", tablefmt="github", floatfmt=".2f", disable_numparse=True)
    return f"\n{title}\n\n{text}\n" if title else text


def machine() -> str:
    import platform

    import torch

    code = "" if code_dir() == REPO.resolve() else f", csr_bench from {code_dir()}"
    return (f"{os.cpu_count()} CPU cores ({torch.get_num_threads()} torch threads), torch {torch.__version__}, "
            f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} at the start{code}")


def small_world(root: Path, *, pope_images_per_split: int = 20, chair_images: int = 64, prompts: int = 16) -> Path:
    """A world of seed 0 with POPE, CHAIR and prompt images (as tests/conftest.py's small_world), in seconds."""
    from csr_bench.world.benchmarks import BenchmarkSizes, write_world

    root = Path(root)
    stamp = root / ".bench-sizes.json"
    wanted = {"pope": pope_images_per_split, "chair": chair_images, "prompts": prompts}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return root
    sizes = BenchmarkSizes(pope_images_per_split=pope_images_per_split, chair_images=chair_images, mme_images=4,
                           seed_questions=6, mmbench_questions=4, scienceqa_questions=4, gqa_questions=6,
                           vizwiz_questions=4)
    write_world(root, seed=0, n_train=20, n_eval=max(80, chair_images + 16), sizes=sizes, n_prompt=prompts)
    stamp.write_text(json.dumps(wanted))
    return root
