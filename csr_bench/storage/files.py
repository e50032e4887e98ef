"""Crash-safe file writes: a whole-file write is atomic (temporary file, fsync, rename), a JSONL
append lands whole or not at all (a sealed batch; one a crash interrupted is cut off whole by the
next read or append), a folder is written as NAME.partial and renamed. The kill points of
csr_bench.faults sit in these writes. Design: docs/crash-safety.md, "Implementation notes".
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from csr_bench.storage.disk_errors import names_the_file
from csr_bench.faults import fault_point, torn_write_point


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@names_the_file
def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    _write_atomically(path, text)


@names_the_file
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (an image taken out of a data set)."""
    _write_atomically(path, data)


def _write_atomically(path: Path, text: str | bytes) -> None:
    """``atomic_write_text`` whose failure is reported by the caller (a marker names its data file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it an ordinary file's mode
        with (os.fdopen(fd, "wb") if isinstance(text, bytes) else os.fdopen(fd, "w", encoding="utf-8")) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        fault_point(f"write:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _append_marker(path).unlink(missing_ok=True)  # a whole new file: no unfinished append left in it


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """``rows`` as JSON lines (non-ASCII text kept as it is), written atomically."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def partial_dir(target: Path) -> Path:
    """An empty ``TARGET.partial`` folder to write ``target`` into (what a killed write left there is removed)."""
    partial = Path(target).with_name(Path(target).name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def replace_dir(partial: Path, target: Path) -> None:
    """Put the finished folder ``partial`` in place of ``target`` with a rename (a stale
    ``target``, e.g. an unfinished folder of an older version, is removed first)."""
    partial, target = Path(partial), Path(target)
    if target.exists():
        shutil.rmtree(target)
    os.replace(partial, target)


def _append_marker(path: Path) -> Path:
    return path.with_name(f".{path.name}.appending")


def _unfinished_append(path: Path) -> int | None:
    """The length ``path`` had before an append that a crash interrupted (from its marker), or
    None when no append was interrupted. Read before the file itself: if another process cuts the
    append off meanwhile, the file read afterwards simply ends there."""
    try:
        committed = json.loads(_append_marker(path).read_text(encoding="utf-8"))["size"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return committed if isinstance(committed, int) and committed >= 0 else None


def _cut_unfinished_append(path: Path) -> None:
    """Remove what an interrupted append left (see ``read_jsonl_records``) and its marker."""
    marker = _append_marker(path)
    if not marker.exists():
        return
    committed = _unfinished_append(path)
    size = path.stat().st_size if path.exists() else 0
    if committed is not None and committed < size:  # (longer than the file: a stale marker, ignored)
        with open(path, "r+b") as handle:
            handle.truncate(committed)
    marker.unlink(missing_ok=True)


@names_the_file
def append_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Append ``records`` as one batch: after a crash the batch is either all there or not at all
    (an interrupted append is cut off whole by the next read or append, docs/crash-safety.md)."""
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not payload:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _cut_unfinished_append(path)
    size = path.stat().st_size if path.exists() else 0
    _write_atomically(_append_marker(path), json.dumps({"size": size}) + "\n")
    with open(path, "a", encoding="utf-8") as handle:
        torn_write_point(f"torn:{path.name}", handle, payload)
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    fault_point(f"unsealed:{path.name}")
    _append_marker(path).unlink()
    fault_point(f"append:{path.name}")


def read_jsonl_records(path: Path, repair: bool = True) -> list[dict]:
    """Read a JSONL file written by ``append_jsonl``. An append a crash interrupted is skipped
    whole (its marker says where it began); a final line cut short by a crash (in a file without
    marker) is skipped too. With ``repair`` they are also removed from disk; readers of a run that
    may still be writing pass False.

    Any other malformed line is corruption we did not cause, so it is an error naming the line.
    """
    from csr_bench.errors import CsrBenchError

    path = Path(path)
    if not path.exists():
        return []
    committed = _unfinished_append(path)
    raw = path.read_bytes()
    if committed is not None:
        if repair:
            _cut_unfinished_append(path)
        if committed <= len(raw):  # everything past ``committed`` is an unfinished append (else a stale marker)
            raw = raw[:committed]
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


def _read_user_text(path: Path, what: str) -> str:
    """A user-supplied text file's content, or a one-line error naming it and ``what`` it should hold."""
    from csr_bench.errors import CsrBenchError

    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CsrBenchError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CsrBenchError(f"{path}: not a UTF-8 text file") from None


def read_json_records(path: Path, what: str = "records") -> list:
    """The entries of a user-supplied JSON list file, or the objects of a JSONL one
    (``read_jsonl_objects``); an unreadable file, malformed JSON or a JSON file that holds no list is
    a one-line error naming the file and ``what`` it should hold."""
    import json

    from csr_bench.errors import CsrBenchError

    path = Path(path)
    if path.suffix == ".jsonl":
        return [record for _, record in read_jsonl_objects(path, what)]
    text = _read_user_text(path, what)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CsrBenchError(f"{path}: malformed JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(data, list):
        raise CsrBenchError(f"{path}: expected a JSON list of {what}, got a {type(data).__name__}")
    return data


def read_json_or_jsonl(path: Path, what: str = "rows") -> list:
    """The entries of a file that holds one JSON value (a list: its entries; anything else: itself)
    or JSON lines, whatever its suffix says: releases name either ".json" (HELM's copies, POVID's
    file). A line that is not JSON is a one-line error naming it."""
    from csr_bench.errors import CsrBenchError

    path = Path(path)
    text = _read_user_text(path, what)
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except ValueError:
        pass
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise CsrBenchError(f"{path}:{number}: neither a JSON list nor JSON lines "
                                    f"({getattr(exc, 'msg', exc)})") from None
    return rows


def read_jsonl_objects(path: Path, what: str = "records") -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a user-supplied JSONL file, strictly:
    an unreadable file, a malformed line or a non-object is a one-line error naming the line."""
    from csr_bench.errors import CsrBenchError

    path = Path(path)
    text = _read_user_text(path, what)
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
