"""One csr-bench per run folder: an exclusive ``flock`` on ``<run folder>/.lock``, taken without
waiting, so a second process fails at once with one line naming the holder (two writers would
append every document twice). Re-entrant, data-parallel aware; details in docs/crash-safety.md,
"One process per run folder" and "Implementation notes".
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.progress import get_logger

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

log = get_logger()
LOCK_NAME = ".lock"
_held: dict[Path, list] = {}  # resolved run folder -> [count, fd, folders the lock created]
_warned = False


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock (making the folder) for the block; CsrBenchError if another process holds it."""
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    error = None
    if distributed.is_main():
        try:
            _acquire(run_dir, key)
        except CsrBenchError as exc:
            error = str(exc)
    if distributed.is_distributed():
        error = distributed.gather(error)[0]  # the main process's outcome, on every process
    if error:
        raise CsrBenchError(error)
    try:
        yield
    finally:
        if distributed.is_main():
            _release(key)


def _acquire(run_dir: Path, key: Path) -> None:
    global _warned
    if key in _held:
        _held[key][0] += 1
        return
    created = _make_folder(run_dir)
    if fcntl is None:
        if not _warned:
            log.warning("no fcntl on this system: run folders are not locked, so do not start two csr-bench "
                        "runs on one folder")
            _warned = True
        _held[key] = [1, None, created]
        return
    path = run_dir / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            _remove_folders(created)
            raise CsrBenchError(f"cannot write in the run folder {run_dir}: {exc.strerror or exc}; "
                                "choose another --output") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _describe(fd)
            os.close(fd)
            raise CsrBenchError(f"{run_dir} is in use by another csr-bench ({holder}); wait for it to finish, "
                                "or choose another --run-name/--output") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed this file as we opened it: take the new one
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                             "command": _command_line()}).encode("utf-8") + b"\n")
    _held[key] = [1, fd, created]


def _release(key: Path) -> None:
    entry = _held.get(key)
    if entry is None:
        return
    entry[0] -= 1
    if entry[0]:
        return
    del _held[key]
    _, fd, created = entry
    if fd is not None:
        try:
            (key / LOCK_NAME).unlink(missing_ok=True)  # still held: a taker that opened it retries
        except OSError:
            pass
        os.close(fd)
    _remove_folders(created)


def _make_folder(run_dir: Path) -> list[Path]:
    """Make ``run_dir`` and its missing parents; the folders made, deepest first."""
    missing = []
    folder = run_dir
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise CsrBenchError(f"cannot create the run folder {run_dir}: {folder} is a file, not a folder; "
                            "choose another --output")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CsrBenchError(f"cannot create the run folder {run_dir}: {exc.strerror or exc}; "
                            "choose another --output") from None
    return missing


def _remove_folders(folders: list[Path]) -> None:
    """Remove the folders the lock made, if they are still empty (deepest first)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _describe(fd: int) -> str:
    """The holder as its lock file tells it: "pid 123 on HOST since 11:02:03: csr-bench eval ..."."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 65536).decode("utf-8"))
        started = datetime.fromtimestamp(float(info["started"]))
        when = started.strftime("%H:%M:%S" if started.date() == datetime.now().date() else "%Y-%m-%d %H:%M:%S")
        return f"pid {info['pid']} on {info['host']} since {when}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "it is starting; its details are not written yet"


def _command_line() -> str:
    from csr_bench.redaction import redact_text

    return redact_text(shlex.join(["csr-bench", *sys.argv[1:]]))


__all__ = ["LOCK_NAME", "run_lock"]
