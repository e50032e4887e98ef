"""Shared fixtures. Everything runs offline: the hub is switched off before any HF library loads."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CACHE = tempfile.mkdtemp(prefix="csr-bench-test-hf-")
os.environ.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                   "HF_HOME": _CACHE, "TOKENIZERS_PARALLELISM": "false"})

import pytest  # noqa: E402

from csr_bench.compat import ensure_torchvision_importable  # noqa: E402

ensure_torchvision_importable()  # a no-op unless a CUDA torchvision sits next to a CPU torch

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run ``csr-bench`` as a user would, in a fresh process."""
    result = subprocess.run([sys.executable, "-m", "csr_bench", *args], capture_output=True, text=True,
                            cwd=cwd, env=os.environ.copy(), timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"csr-bench {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
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
