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
from csr_bench.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl_records


class SampleStore:
    def __init__(self, task_dir: Path, fingerprint: dict[str, Any], shard_suffix: str = ""):
        self.task_dir = Path(task_dir)
        self.path = self.task_dir / "samples.jsonl"
        self.write_path = self.task_dir / f"samples{shard_suffix}.jsonl"  # this process's appends
        meta_path = self.task_dir / "task_run.json"
        # Round-trip through JSON so the comparison sees what a later run reads back.
        fingerprint = json.loads(json.dumps(fingerprint))
        if meta_path.exists():
            try:
                previous = json.loads(meta_path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise CsrBenchError(f"{meta_path}: unreadable ({exc}); pass --overwrite to start over") from None
            changed = [key for key in sorted(set(previous) | set(fingerprint))
                       if previous.get(key) != fingerprint.get(key)]
            if changed:
                raise CsrBenchError(
                    f"{self.task_dir}: earlier samples were produced with different {', '.join(changed)}; "
                    f"pass --overwrite to replace them, or choose another --run-name/--output")
        else:
            atomic_write_json(meta_path, fingerprint)
        self.done: dict[str, dict[str, Any]] = {}
        for path in [self.path, *self.shard_paths()]:
            for record in read_jsonl_records(path):
                self.done[self.key(record["doc_id"])] = record

    def shard_paths(self) -> list[Path]:
        return sorted(self.task_dir.glob("samples.rank*-of-*.jsonl"))

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
        """Merge the processes' shard files into samples.jsonl (document order), then remove them."""
        shards = self.shard_paths()
        if not shards:
            return
        for path in [self.path, *shards]:  # re-read: the other processes wrote after this store was made
            for record in read_jsonl_records(path):
                self.done[self.key(record["doc_id"])] = record
        records = sorted(self.done.values(), key=lambda r: r.get("doc_index", 0))
        atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        for path in shards:
            path.unlink()
