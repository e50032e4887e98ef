"""Named kill points for the crash-safety tests (the harness that drives them: fault_harness.py).

Kill points
-----------
``fault_point(name)`` sits at the few places where a crash matters. With the environment variable
``CSR_BENCH_FAULT`` unset (always, outside tests) it returns after one environment lookup. With
``CSR_BENCH_FAULT=NAME`` or ``NAME@N`` the process kills itself with SIGKILL (no cleanup, no
``finally``, no flush: what a power cut or the OOM killer leaves) the N-th time (default: the
first) it reaches point NAME. NAME may be an ``fnmatch`` pattern (``append:*``). The points:

==================== =========================================================================
``write:<file>``     an atomic whole-file write (``results.json``, ``preferences.jsonl``,
                     ``summary.json``, ``dpo_inputs.json``, ``run.json``, ...): the temporary
                     file is written, the rename has not happened
``torn:<file>``      in the middle of a JSONL append to ``<file>`` (``samples.jsonl``: a batch of
                     evaluation samples; ``trees.jsonl``: a batch of searched prompts): half of
                     its bytes written, the rest lost
``unsealed:<file>``  such an append written and fsynced, its ``.appending`` marker not yet removed
``append:<file>``    such an append finished
``train:step``       DPO: an optimizer step has ended (its checkpoint, if any, not yet saved)
``train:checkpoint`` DPO: inside a checkpoint save, the adapter written, the optimizer,
                     scheduler, RNG state and trainer_state.json not yet (a half-written one)
``train:saved``      DPO: a checkpoint is complete
``merge:weights``    the merged model's weights are written into ``model.partial``, its
                     processor and marker not yet
``merge:done``       the merged model has been renamed into place
==================== =========================================================================
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
