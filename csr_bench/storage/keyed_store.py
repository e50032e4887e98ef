"""One resumable store of records keyed by one field (a task's samples, CSR's candidate trees): a
rerun reads what is done and computes the rest; a store made with other settings is refused.

Each process appends to its own shard file (sealed batch appends, storage.files) and the main
process merges the shards into the one file once all have finished. Design: docs/crash-safety.md,
"Resumable stores".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from csr_bench import distributed
from csr_bench.storage.files import append_jsonl, atomic_write_text, read_jsonl_records
from csr_bench.storage.settings import require_same_settings


def own_file(path: Path) -> Path:
    """This process's file beside ``path`` (``name.rank<r>-of-<n>.jsonl``; ``path`` itself in a single
    process): processes never append to one file, so a crash cuts at most each one's last batch."""
    if not distributed.is_distributed():
        return path
    return path.with_name(f"{path.stem}.rank{distributed.rank()}-of-{distributed.world_size()}{path.suffix}")


def shard_files(path: Path) -> list[Path]:
    """Every process's file beside ``path``, whatever process count wrote them."""
    return sorted(path.parent.glob(f"{path.stem}.rank*-of-*{path.suffix}"))


class KeyedStore:
    """Records keyed by ``record[key]`` in the JSONL file ``path`` and its shards.

    ``settings`` (with ``settings_file``, ``stage``, ``ignore``) are recorded the first time and
    compared on every later open (storage.settings.require_same_settings): a store made with other
    settings is a one-line error naming the folder and each differing setting. Keys compare as
    their JSON text, so ``1`` and ``"1"`` are different keys and a list may be one.
    """

    def __init__(self, path: Path, key: str, *, settings: dict[str, Any] | None = None,
                 settings_file: Path | None = None, stage: str = "", ignore: Iterable[str] = ()):
        self.path = Path(path)
        self.key = key
        self.own_path = own_file(self.path)  # this process's appends
        if settings is not None:
            if settings_file is None:
                raise ValueError("KeyedStore: settings need a settings_file to be recorded in")
            require_same_settings(settings_file, settings, stage or str(self.path), ignore=ignore)
        self._records: dict[str, dict[str, Any]] = {}
        self.reload()

    @staticmethod
    def _id(value: Any) -> str:
        return json.dumps(value)

    def reload(self) -> None:
        """Read what every process has written (the file and every shard, any process count; an
        append a crash interrupted is cut off): after the other processes appended, or at open."""
        for source in [self.path, *shard_files(self.path)]:
            for record in read_jsonl_records(source):
                self._records[self._id(record[self.key])] = record

    def __contains__(self, key: Any) -> bool:
        return self._id(key) in self._records

    def __getitem__(self, key: Any) -> dict[str, Any]:
        return self._records[self._id(key)]

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[dict[str, Any]]:
        """The records this process knows (read at open or by ``reload``, or appended), first seen first."""
        return list(self._records.values())

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append ``records`` to this process's file as one batch: after a crash it is all there or not at all."""
        records = list(records)
        append_jsonl(self.own_path, records)
        for record in records:
            self._records[self._id(record[self.key])] = record

    def shards(self) -> list[Path]:
        """The processes' files beside the file (a data-parallel run's, or a killed one's, not yet merged)."""
        return shard_files(self.path)

    def merge(self, order: Sequence[Any]) -> None:
        """Write the records of the keys ``order``, in that order and as this store holds them now, as
        the one file (atomically), and remove the processes' shard files. The main process alone,
        once every process has appended and ``reload`` has read their shards."""
        atomic_write_text(self.path, "".join(json.dumps(self[key], ensure_ascii=False) + "\n" for key in order))
        for shard in shard_files(self.path):
            shard.unlink()


__all__ = ["KeyedStore", "own_file", "shard_files"]
