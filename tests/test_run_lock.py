"""csr_bench.storage.run_lock in one process: re-entrant (run() holds it and evaluate() takes it again),
exclusive against another process, and a no-op with one log line where fcntl is missing (Windows).
The CLI cases (two evals at once, a killed holder) are in tests/test_bad_inputs.py."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from csr_bench.storage import run_lock as lock_module
from csr_bench.errors import CsrBenchError
from csr_bench.storage.run_lock import LOCK_NAME, run_lock

TRY_LOCK = """
import sys
from pathlib import Path
from csr_bench.errors import CsrBenchError
from csr_bench.storage.run_lock import run_lock
try:
    with run_lock(Path(sys.argv[1])):
        print("taken")
except CsrBenchError as exc:
    print(exc)
"""


def other_process_tries(folder: Path) -> str:
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(folder)], capture_output=True, text=True,
                          timeout=120, check=True).stdout.strip()


def test_re_entrant_in_one_process_and_exclusive_against_another(tmp_path):
    folder = tmp_path / "out" / "run"
    with run_lock(folder):
        with run_lock(folder):  # evaluate() inside run(): the same process takes it again
            assert (folder / LOCK_NAME).exists()
        assert (folder / LOCK_NAME).exists()  # the inner release does not let go
        refused = other_process_tries(folder)
        assert refused.startswith(f"{folder} is in use by another csr-bench (pid ") and "wait for it" in refused
        (folder / "kept").write_text("x")
    assert not (folder / LOCK_NAME).exists()
    assert other_process_tries(folder) == "taken"
    assert (folder / "kept").exists()  # a folder with work in it stays


def test_folders_the_lock_made_are_removed_when_nothing_was_written(tmp_path):
    with pytest.raises(CsrBenchError, match="bad flag"):
        with run_lock(tmp_path / "a" / "b" / "run"):
            raise CsrBenchError("bad flag")
    assert list(tmp_path.iterdir()) == []


def test_without_fcntl_there_is_no_lock_and_one_log_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(lock_module, "fcntl", None)
    monkeypatch.setattr(lock_module, "_warned", False)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            with run_lock(tmp_path / "run"):
                assert not (tmp_path / "run" / LOCK_NAME).exists()
    assert sum("not locked" in record.getMessage() for record in caplog.records) == 1
