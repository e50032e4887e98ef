"""samples.jsonl of one task: a keyed store (storage.keyed_store) of its generated samples, resumed
after a crash; ``task_run.json`` beside it records what produced them (task config, model,
generation, data), and a rerun with other settings is refused rather than mixing predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csr_bench.storage.keyed_store import KeyedStore

SAMPLES_FILE = "samples.jsonl"
SETTINGS_FILE = "task_run.json"


def sample_store(task_dir: Path, fingerprint: dict[str, Any]) -> KeyedStore:
    """The task's samples, keyed by ``doc_id``; refused when ``fingerprint`` differs from the recorded one."""
    task_dir = Path(task_dir)
    return KeyedStore(task_dir / SAMPLES_FILE, key="doc_id", settings=fingerprint,
                      settings_file=task_dir / SETTINGS_FILE, stage=f"{task_dir.name}: the earlier samples")


def document_order(store: KeyedStore) -> list[Any]:
    """The doc_ids of every sample in the store, in document order (how samples.jsonl is written)."""
    return [record["doc_id"] for record in sorted(store.records(), key=lambda r: r.get("doc_index", 0))]
