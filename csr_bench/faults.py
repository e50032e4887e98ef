"""Named kill points for the crash-safety tests (driven by fault_harness.py): with
``CSR_BENCH_FAULT=NAME[@N]`` the process SIGKILLs itself the N-th time it passes point NAME;
unset (always, outside tests) a point costs one environment lookup. The points:
docs/crash-safety.md, "Kill points".
"""

from __future__ import annotations

import fnmatch
import os
import signal
import sys
import time

ENV = "CSR_BENCH_FAULT"
_hits: dict[str, int] = {}


def _armed(name: str) -> bool:
    """Count this pass through point ``name``; True when it is the one CSR_BENCH_FAULT names."""
    spec = os.environ.get(ENV)
    if not spec:
        return False
    pattern, _, nth = spec.partition("@")
    if not fnmatch.fnmatchcase(name, pattern):
        return False
    _hits[name] = _hits.get(name, 0) + 1
    return _hits[name] == (int(nth) if nth else 1)


def active() -> bool:
    """Whether a fault is requested at all (lets callers install hooks only then)."""
    return bool(os.environ.get(ENV))


def kill_now() -> None:
    """SIGKILL this process: nothing after this line runs, not even ``finally`` blocks."""
    sys.stderr.write(f"csr-bench: fault injection: {os.environ.get(ENV)}: killing process {os.getpid()}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # SIGKILL is delivered before this returns; never reached


def fault_point(name: str) -> None:
    """Kill the process here when CSR_BENCH_FAULT names this point (and this pass through it)."""
    if ENV in os.environ and _armed(name):
        kill_now()


def torn_write_point(name: str, handle, payload: str) -> None:
    """At a ``torn:`` point: write the first half of ``payload`` (in bytes, so a UTF-8 character
    may be cut too) to the open text ``handle``, flush it and kill the process."""
    if ENV in os.environ and _armed(name):
        data = payload.encode("utf-8")
        handle.flush()
        handle.buffer.write(data[:max(1, len(data) // 2)])
        handle.buffer.flush()
        kill_now()
