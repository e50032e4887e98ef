"""Released preference sets fetched from the Hugging Face hub (huggingface_hub.snapshot_download into
its usual cache, so a second run reads them offline); only a set's data files are fetched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.preference_data.base import SourceContext

DATA_FILES = ("*.parquet", "*.json", "*.jsonl")  # a set without named files: its data files


def download(repo: str, patterns: tuple[str, ...]) -> str:
    """The local snapshot folder of data set ``repo`` holding the files ``patterns`` match."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=repo, repo_type="dataset", allow_patterns=list(patterns))


def fetch_files(repo: str, patterns: tuple[str, ...], where: str) -> tuple[Path, list[Path]]:
    """The snapshot folder of hub data set ``repo`` and its files ``patterns`` match (sorted), fetched
    into the hub cache once; offline with nothing cached, or any hub failure, is one line starting
    with ``where`` (the flag that named the set), the offline one naming the command that fetches it."""
    try:
        folder = Path(download(repo, patterns))
    except Exception as exc:  # huggingface_hub: offline, not found, gated, HTTP errors
        name = type(exc).__name__
        if "Offline" in name or "LocalEntryNotFound" in name or "offline" in str(exc).lower():
            named = "" if any(c in p for p in patterns for c in "*?[") else " " + " ".join(patterns)
            raise CsrBenchError(f"{where} {repo}: not in the hub cache and the hub is offline (HF_HUB_OFFLINE); "
                                f"fetch it once online (`huggingface-cli download --repo-type dataset {repo}{named}`) "
                                "or pass a local file") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CsrBenchError(f"{where} {repo}: cannot fetch the hub data set ({name}: {first})") from None
    files = sorted(p for pattern in patterns for p in folder.rglob(pattern))
    if not files:
        raise CsrBenchError(f"{where} {repo}: the hub data set has no file matching {', '.join(patterns)}")
    return folder, files


def _fetch(repo: str, patterns: tuple[str, ...]) -> Path:
    folder, files = fetch_files(repo, patterns, "--preferences")
    return files[0] if len(files) == 1 else folder


def fetch_preset(preset: Any, context: SourceContext) -> Path:
    """The file (or folder of parquet files) of a named preset (sources.PRESETS)."""
    return _fetch(preset.repo, tuple(preset.files) or DATA_FILES)


def fetch_dataset(repo: str, context: SourceContext) -> Path:
    """A hub data set named by id: its data files."""
    return _fetch(repo, DATA_FILES)
