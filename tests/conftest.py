"""Shared fixtures. Everything runs offline: the hub is switched off before any HF library loads."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

_CACHE = tempfile.mkdtemp(prefix="csr-bench-test-hf-")
os.environ.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                   "HF_HOME": _CACHE, "TOKENIZERS_PARALLELISM": "false"})

# Under pytest-xdist (pyproject's addopts: one worker per CPU) the workers share the machine's cores: each
# worker and the `csr-bench` processes it starts get their share of threads (1 on CI's 2 cores), instead
# of every process starting one thread per core and the OpenMP threads of two workers fighting over them.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))
    if "torch" in sys.modules:  # imported before this file: set its pool too
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

import pytest  # noqa: E402

from csr_bench.compat import ensure_torchvision_importable  # noqa: E402
from fault_harness import WORLD_VLM, write_small_world  # noqa: E402

ensure_torchvision_importable()  # a no-op unless a CUDA torchvision sits next to a CPU torch

REPO = Path(__file__).resolve().parents[1]

# Test tiers (`make test-fast` runs `-m "not e2e"`; `make test` runs both): a test is end to end when it
# starts `csr-bench` in a process of its own or needs a whole run or world built by a session fixture.
# Found from the test itself, so a new test is put in its tier without anyone listing it.
E2E_FIXTURES = frozenset({"small_world", "tiny_run", "secret_env_run"})
E2E_CALLS = ("run_cli(", "small_world_run(", "subprocess.run(", "subprocess.Popen(")


def _source(function) -> str:
    import inspect

    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def _is_e2e(item) -> bool:
    """The test's own code, the functions of its module it names and the fixtures it uses, one level deep."""
    if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    function = getattr(item, "function", None)
    source = _source(function)
    module = getattr(item, "module", None)
    helpers = [value for name, value in vars(module).items()
               if callable(value) and getattr(value, "__module__", None) == module.__name__ and f"{name}(" in source
               ] if module is not None else []
    info = getattr(item, "_fixtureinfo", None)
    fixtures = [definition.func for definitions in info.name2fixturedefs.values()
                for definition in definitions] if info is not None else []
    return any(call in text for text in [source, *map(_source, helpers + fixtures)] for call in E2E_CALLS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _is_e2e(item):
            item.add_marker(pytest.mark.e2e)


def run_cli(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run ``csr-bench`` as a user would, in a fresh process."""
    result = subprocess.run([sys.executable, "-m", "csr_bench", *args], capture_output=True, text=True,
                            cwd=cwd, env=os.environ.copy(), timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"csr-bench {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


HEAVY_MODULES = ("torch", "transformers", "datasets")


def run_without_heavy_imports(code: str, heavy: tuple[str, ...] = HEAVY_MODULES,
                              cwd: Path | None = REPO) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; fail unless it succeeds without importing any of ``heavy``
    (commands that need no model must start fast)."""
    check = f"\nimport sys\nheavy = [m for m in {tuple(heavy)!r} if m in sys.modules]\nassert not heavy, heavy\n"
    result = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """A user-facing failure: non-zero exit, no traceback, one 'csr-bench: error:' line naming the problem."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("csr-bench: error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def shared_session_folder(tmp_path_factory, name: str, build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """(folder, value) of a session fixture that writes a folder: ``build(folder)`` runs once per test session.
    Under pytest-xdist the first worker that needs it builds it (under a file lock) in the session's shared
    temporary folder and the others wait for it and reuse it, instead of each worker building its own copy
    (a CSR run: tens of seconds); ``value`` must be JSON. Without xdist it is an ordinary session fixture."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        return folder, build(folder)
    import json

    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # this session's folder, above each worker's own
    done = shared / f"{name}.done.json"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.is_file():  # a worker whose build failed wrote nothing: the next one tries again
            folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=shared))
            done.write_text(json.dumps({"folder": str(folder), "value": build(folder)}))
    record = json.loads(done.read_text())
    return Path(record["folder"]), record["value"]


@pytest.fixture(scope="session")
def tiny_model():
    from csr_bench.models.registry import MODELS

    return MODELS["tiny-llava"].loader("tiny-llava")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from csr_bench.models.tiny_llava import save_tiny_llava

    return save_tiny_llava(tmp_path_factory.mktemp("ckpt") / "tiny-llava15")


@pytest.fixture(scope="session")
def pope_rows() -> list[dict]:
    import json

    path = REPO / "csr_bench" / "bundled" / "pope" / "pope.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


# A real CSR run, small enough for tests: the shipped world VLM (fault_harness.WORLD_VLM) on a
# small world written here, every world task, two CSR iterations with the tiny CLIP. ~15 s.
WORLD_TASKS = "pope,chair,mme,seed,mmbench,scienceqa,vizwiz,gqa"


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    """A small world of seed 0 (every benchmark, a few images each), written in about a second."""
    return shared_session_folder(tmp_path_factory, "small-world", lambda root: str(write_small_world(root)))[0]


def small_world_run(small_world: Path, output: Path, *extra: str, iterations: int = 2) -> Path:
    """Run `csr-bench run` on the small world; returns the run folder (OUTPUT/world-vlm)."""
    run_cli("run", "--model", str(WORLD_VLM), "--data-root", str(small_world), "--tasks", WORLD_TASKS,
            "--iterations", str(iterations), "--output", str(output), "--run-name", "world-vlm",
            "--prompt-source", str(small_world / "prompts" / "images"), "--clip-model", "tiny", "--prompts", "4",
            "--max-sentences", "3", "--learning-rate", "1e-3", "--quiet", *extra, check=True)
    return output / "world-vlm"


@pytest.fixture(scope="session")
def tiny_run(small_world, tmp_path_factory) -> Path:
    """A finished two-iteration CSR run on the small world (read-only for tests: copy it to change it)."""
    return shared_session_folder(tmp_path_factory, "tiny-run",
                                 lambda output: str(small_world_run(small_world, output)))[0] / "world-vlm"


# Secrets that must never reach a file or a terminal (tests/test_secrets.py): each one holds the marker.
SECRET_MARKER = "csrbench-leak-marker-6b1f0e2d9a"
SECRET_ENV = {"CSR_BENCH_JUDGE_API_KEY": f"sk-{SECRET_MARKER}-judge", "OPENAI_API_KEY": f"sk-{SECRET_MARKER}-openai",
              "HF_TOKEN": f"hf_{SECRET_MARKER}_token", "HUGGING_FACE_HUB_TOKEN": f"hf_{SECRET_MARKER}_hub"}


@pytest.fixture(scope="session")
def secret_env_run(small_world, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """(run folder, finished process): `csr-bench run` with tiny_run's arguments but one CSR iteration,
    every secret environment variable set to a marker and a fixed PYTHONHASHSEED (tiny_run's is random).
    tests/test_secrets.py scans it for the marker; tests/test_determinism.py compares it with tiny_run."""
    args = ["run", "--model", str(WORLD_VLM), "--data-root", str(small_world), "--tasks", WORLD_TASKS,
            "--iterations", "1", "--output", "OUTPUT", "--run-name", "world-vlm",
            "--prompt-source", str(small_world / "prompts" / "images"), "--clip-model", "tiny", "--prompts", "4",
            "--max-sentences", "3", "--learning-rate", "1e-3", "--quiet"]  # small_world_run's, one iteration
    env = {**os.environ, **SECRET_ENV, "PYTHONHASHSEED": "4242"}

    def build(output: Path) -> dict:
        command = [sys.executable, "-m", "csr_bench", *[str(output) if a == "OUTPUT" else a for a in args]]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
        return {"args": result.args, "returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}

    output, finished = shared_session_folder(tmp_path_factory, "secret-env-run", build)
    return output / "world-vlm", subprocess.CompletedProcess(**finished)
