"""Never relabel, never mix: each stage of a run records the settings its output depends on, and a
rerun with other settings is refused, naming what differs, instead of resuming into a mixture.

A stage (CSR's search, its pairs, DPO training and the merge, a task's evaluation) calls
``require_same_settings`` when it starts: the first time it writes ``<folder>/<file>``, and every
rerun compares. Paths inside the run folder are recorded relative to it (``run_relative``), so a run
copied or moved elsewhere still resumes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_json

RUN_PREFIX = "<run>"  # how a path inside the run folder is written: <run>/iter_1/model
WAYS_OUT = ("rerun with the earlier settings to resume it, pass --overwrite to redo the run with the new ones, "
            "or choose another --run-name")


def run_relative(path: str | Path | None, run_dir: str | Path) -> str | None:
    """``<run>/iter_1/model`` for a path inside ``run_dir``; anything else (a hub id, a path outside) unchanged."""
    if path is None:
        return None
    text = str(path)
    candidate = Path(text).expanduser()
    if not candidate.is_absolute() and not candidate.exists():
        return text  # a hub id or a registered name
    try:
        inside = candidate.resolve().relative_to(Path(run_dir).resolve())
    except ValueError:
        return text
    return f"{RUN_PREFIX}/{inside.as_posix()}" if inside.parts else RUN_PREFIX


def from_run_relative(text: str, run_dir: str | Path) -> str:
    """The path ``run_relative`` wrote, back under ``run_dir`` (where the run folder is now)."""
    if text == RUN_PREFIX or text.startswith(f"{RUN_PREFIX}/"):
        return str(Path(run_dir) / text[len(RUN_PREFIX):].lstrip("/"))
    return text


def flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    """{"search.num_beams": 5, ...}: nested dicts as dotted keys, so a difference names its setting."""
    if isinstance(settings, dict) and settings:
        flat: dict[str, Any] = {}
        for key, value in settings.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): settings}


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:28] + "..." + text[-28:]


def differences(previous: dict[str, Any], current: dict[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """``lam 0.9 -> 0.5`` for every setting that differs (dotted names), in name order."""
    old, new = flatten(json.loads(json.dumps(previous, default=str))), flatten(json.loads(json.dumps(current, default=str)))
    skipped = set(ignore)
    found = []
    for key in sorted(set(old) | set(new)):
        if key in skipped or any(key.startswith(f"{name}.") for name in skipped):
            continue
        if old.get(key, "<unset>") != new.get(key, "<unset>"):
            found.append(f"{key} {_short(old.get(key, '<unset>'))} -> {_short(new.get(key, '<unset>'))}")
    return found


def settings_changed(stage: str, where: Path, changes: list[str]) -> CsrBenchError:
    shown = "; ".join(changes[:6]) + (f"; and {len(changes) - 6} more" if len(changes) > 6 else "")
    return CsrBenchError(f"{stage} in {where} was made with other settings ({shown}): {WAYS_OUT}")


def require_same_settings(path: Path, settings: dict[str, Any], stage: str, *, ignore: Iterable[str] = (),
                          write: bool = True) -> None:
    """Record ``settings`` in ``path`` the first time; afterwards refuse any that differ (``ignore``:
    recorded settings that do not change the output, such as a checkpoint interval)."""
    path = Path(path)
    settings = json.loads(json.dumps(settings, default=str))  # what a later run reads back
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CsrBenchError(f"{path}: unreadable ({exc}); pass --overwrite to redo the run") from None
        changes = differences(previous, settings, ignore)
        if changes:
            raise settings_changed(stage, path.parent, changes)
        return
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, settings)
