"""What csr-bench agrees to load: safetensors weights and the library's own code, unless asked
(``--allow-pickle``, ``--trust-remote-code``, or ``set_loading_policy`` / ``loading_policy_as``).
Details: docs/safety-and-determinism.md, "csr_bench/safety.py".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from csr_bench.errors import CsrBenchError

ALLOW_PICKLE_FLAG = "--allow-pickle"
TRUST_REMOTE_CODE_FLAG = "--trust-remote-code"
SAFE_WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json")
# Weight files in pickle (or other non-safetensors) formats that the libraries we use would load.
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".npz", ".npy", ".bin.index.json")


@dataclass(frozen=True)
class LoadingPolicy:
    allow_pickle: bool = False
    trust_remote_code: bool = False


_policy = LoadingPolicy()


def loading_policy() -> LoadingPolicy:
    """The policy in force (the safe default unless the command line or the caller changed it)."""
    return _policy


def set_loading_policy(allow_pickle: bool = False, trust_remote_code: bool = False) -> LoadingPolicy:
    """Set the process-wide policy; returns the previous one."""
    global _policy
    previous = _policy
    _policy = LoadingPolicy(allow_pickle=bool(allow_pickle), trust_remote_code=bool(trust_remote_code))
    return previous


@contextlib.contextmanager
def loading_policy_as(**changes: bool) -> Iterator[LoadingPolicy]:
    """``with loading_policy_as(allow_pickle=True): ...``: the policy changed for the block only."""
    global _policy
    previous = _policy
    _policy = replace(previous, **changes)
    try:
        yield _policy
    finally:
        _policy = previous


def is_safetensors(path: str | Path) -> bool:
    return str(path).endswith(SAFE_WEIGHT_SUFFIXES)


def pickle_refused(path: str | Path, what: str = "weights") -> CsrBenchError:
    """The one-line error for a pickle-format weights file loaded without --allow-pickle."""
    return CsrBenchError(f"{path}: {what} not in safetensors format are not loaded (unpickling a file can run "
                         f"code); convert it to .safetensors, or pass {ALLOW_PICKLE_FLAG} if you trust it")


def check_weights_file(path: str | Path, what: str = "weights") -> None:
    """Refuse a weights file that is not safetensors, unless --allow-pickle was given."""
    if not is_safetensors(path) and not _policy.allow_pickle:
        raise pickle_refused(path, what)


def pickle_weight_files(folder: Path) -> list[Path]:
    """Pickle-format weight files directly in ``folder``, by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(PICKLE_WEIGHT_SUFFIXES))


def hf_kwargs() -> dict[str, bool]:
    """Keyword arguments for every transformers ``from_pretrained``: remote code only when asked for."""
    return {"trust_remote_code": _policy.trust_remote_code}


def explain_load_error(reason: str) -> str:
    """A transformers loading error, with the flag that would allow what it refused."""
    lowered = reason.lower()
    if "trust_remote_code" in lowered or "custom code" in lowered:
        return (f"{reason.split(' You can inspect')[0].strip()} (remote code is not run unless you pass "
                f"{TRUST_REMOTE_CODE_FLAG})")
    if "safetensors" in lowered and not _policy.allow_pickle:
        return (f"no .safetensors weights found ({reason}); pickled weights are loaded only with "
                f"{ALLOW_PICKLE_FLAG}")
    return reason
