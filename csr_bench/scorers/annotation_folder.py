"""A scorer's annotation folder (``--annotations``), read once per folder and content: scoring reads
it for every record, and COCO val2014's annotations are large (CHAIR, Object HalBench, AMBER). Each
loader keeps one folder at a time; a changed file (size or time) is read again."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, TypeVar

from csr_bench.errors import CsrBenchError

T = TypeVar("T")

_LOADED: dict[Callable, tuple[tuple, object]] = {}  # loader -> (folder and its files' sizes and times, what it read)


def annotation_folder(folder: str | Path | None, task: str, missing: str) -> Path:
    """The folder, resolved; one line naming the task when none is given (``missing``) or it is not there."""
    if folder is None:
        raise CsrBenchError(missing)
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise CsrBenchError(f"{task}: annotations folder not found: {folder}")
    return folder


def read_once(folder: Path, files: Iterable[Path], load: Callable[[Path], T]) -> T:
    """``load(folder)``, reused while ``folder`` and its ``files`` are unchanged."""
    key = (str(folder), tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(files)))
    held = _LOADED.get(load)
    if held is None or held[0] != key:
        _LOADED[load] = (key, load(folder))
    return _LOADED[load][1]


def forget() -> None:
    """Drop every folder read (tests that rewrite a folder in place within one clock tick)."""
    _LOADED.clear()


__all__ = ["annotation_folder", "forget", "read_once"]
