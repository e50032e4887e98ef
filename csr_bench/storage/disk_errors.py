"""Failures to write a file (disk full, quota, read-only file system, I/O error, permission) as one
line naming the file, instead of an OSError traceback; what was saved before stays intact and a
rerun resumes (docs/crash-safety.md, "Implementation notes").
"""

from __future__ import annotations

import errno
import functools
from pathlib import Path
from typing import Callable, TypeVar

from csr_bench.errors import CsrBenchError

F = TypeVar("F", bound=Callable)

# Errors that say the disk (not the program) is the problem: worth one line, not a traceback.
DISK_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EROFS: "read-only file system", errno.EIO: "input/output error",
               errno.EFBIG: "file too large"}
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def write_error(path: str | Path, exc: OSError) -> CsrBenchError:
    """``cannot write PATH: <reason>; <what to do>`` for an OSError raised while writing ``path``."""
    reason = DISK_ERRNOS.get(exc.errno) or exc.strerror or str(exc) or type(exc).__name__
    advice = ("free some space, then rerun the same command to resume" if exc.errno in _NO_ROOM
              else "rerun the same command to resume once it can be written")
    return CsrBenchError(f"cannot write {path}: {reason}; what was saved before is intact: {advice}")


def names_the_file(function: F) -> F:
    """Wrap a writer whose first argument is the path: an OSError becomes ``write_error(path)``."""

    @functools.wraps(function)
    def wrapper(path, *args, **kwargs):
        try:
            return function(path, *args, **kwargs)
        except OSError as exc:
            raise write_error(path, exc) from None

    return wrapper  # type: ignore[return-value]


def one_line(exc: BaseException) -> str | None:
    """The one-line message for a disk failure raised anywhere (ENOSPC, EDQUOT, EROFS, EIO, EFBIG),
    naming the file when the error knows it; None for any other error (a bug keeps its traceback)."""
    if not isinstance(exc, OSError) or exc.errno not in DISK_ERRNOS:
        return None
    return str(write_error(exc.filename if exc.filename else "a file", exc))
