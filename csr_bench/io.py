"""Crash-safe file writes: whole-file writes are atomic, JSONL appends are line-atomic.

A run can be killed at any instant; what is read back afterwards is either the old file, the new
file, or a JSONL file whose last line may be cut short (which ``read_jsonl_records`` drops).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it an ordinary file's mode
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def append_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Append records as one write followed by fsync, so a batch lands whole or (at worst) as a cut tail."""
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not payload:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl_records(path: Path, repair: bool = True) -> list[dict]:
    """Read a JSONL file written by ``append_jsonl``; a final line cut by a crash is skipped and,
    with ``repair``, removed from disk (readers of a run that may still be writing pass False).

    Any other malformed line is corruption we did not cause, so it is an error naming the line.
    """
    from csr_bench.errors import CsrBenchError

    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    records: list[dict] = []
    good_end = 0
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        is_last = number == len(lines)
        if not line.strip():
            if not is_last:
                good_end += len(line) + 1
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if is_last:  # cut short by a crash mid-append: drop it, it will be recomputed
                break
            raise CsrBenchError(f"{path}:{number}: malformed JSON line ({exc})") from None
        if is_last and repair:  # a complete object without its newline: keep it, restore the newline
            with open(path, "ab") as handle:
                handle.write(b"\n")
        good_end += len(line) + 1
        records.append(record)
    if good_end < len(raw) and repair:
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
    return records


def read_jsonl_objects(path: Path, what: str = "records") -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a user-supplied JSONL file, strictly:
    an unreadable file, a malformed line or a non-object is a one-line error naming the line."""
    from csr_bench.errors import CsrBenchError

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CsrBenchError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CsrBenchError(f"{path}: not a UTF-8 text file") from None
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise CsrBenchError(f"{path}:{number}: malformed JSON ({getattr(exc, 'msg', exc)})") from None
        if not isinstance(record, dict):
            raise CsrBenchError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        objects.append((number, record))
    return objects
