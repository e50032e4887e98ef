"""samples.jsonl of one task: written as batches finish, read back to resume after a crash.

Next to it, ``task_run.json`` records what produced the samples (task config, model, generation,
data). A rerun with other settings would mix incomparable predictions, so it is refused.

In a data-parallel run each process appends to its own ``samples.rank<r>-of-<n>.jsonl``; every
store reads them all (a resume may use another process count), and ``consolidate`` merges them
into samples.jsonl once every process has finished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from csr_bench.errors import CsrBenchError
from csr_bench import distributed
from csr_bench.storage.files import append_jsonl, atomic_write_json
from csr_bench.storage.settings import differences, settings_changed


class SampleStore:
    def __init__(self, task_dir: Path, fingerprint: dict[str, Any]):
        self.task_dir = Path(task_dir)
        self.path = self.task_dir / "samples.jsonl"
        self.write_path = distributed.own_file(self.path)  # this process's appends
        meta_path = self.task_dir / "task_run.json"
        # Round-trip through JSON so the comparison sees what a later run reads back.
        fingerprint = json.loads(json.dumps(fingerprint))
        if meta_path.exists():
            try:
                previous = json.loads(meta_path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise CsrBenchError(f"{meta_path}: unreadable ({exc}); pass --overwrite to start over") from None
            changes = differences(previous, fingerprint)
            if changes:
                raise settings_changed(f"{self.task_dir.name}: the earlier samples", self.task_dir, changes)
        else:
            atomic_write_json(meta_path, fingerprint)
        self.done: dict[str, dict[str, Any]] = {}
        for record in distributed.read_with_shards(self.path):
            self.done[self.key(record["doc_id"])] = record

    @staticmethod
    def key(doc_id: Any) -> str:
        return json.dumps(doc_id)

    def __contains__(self, doc_id: Any) -> bool:
        return self.key(doc_id) in self.done

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        records = list(records)
        append_jsonl(self.write_path, records)
        for record in records:
            self.done[self.key(record["doc_id"])] = record

    def get(self, doc_id: Any) -> dict[str, Any]:
        return self.done[self.key(doc_id)]

    def consolidate(self) -> None:
        """Merge the processes' files into samples.jsonl (document order), once all have finished."""
        if not distributed.shard_files(self.path):
            return
        for record in distributed.read_with_shards(self.path):  # the other processes wrote after this store was made
            self.done[self.key(record["doc_id"])] = record
        distributed.merge_shards(self.path, sorted(self.done.values(), key=lambda r: r.get("doc_index", 0)))
