"""A reward_pairs task's pairs (MJ-Bench): the hub split, or a local copy under --data-root, opened as a
task's documents are (tasks/data.py: JSON/JSONL/parquet files, a folder of them, or a save_to_disk
folder). Text columns are held in memory, images decoded one pair at a time.

Local schema, as MJ-Bench's own files: ``caption, image0, image1, label`` (images: one caption, two
images) or ``image, caption0, caption1, label`` (captions: one image, two captions); an image is a
file name relative to the data file's folder, or embedded bytes (the hub's parquet). Optional:
``id`` (else the row's position), ``subcategory``, and Pick-a-Pic's ``label_0`` (which
get_label reads before ``label``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.tasks.config import PAIR_SHAPES, TaskConfig
from csr_bench.tasks.data import INDEX_ID, decode_image, open_task_dataset, resolve_data_root, undecoded

OPTIONAL = ("subcategory", "label_0")


def image_columns_of(shape: str) -> list[str]:
    """The image columns of a pair shape (image0 and image1, or image)."""
    return [c for c in PAIR_SHAPES[shape] if c.startswith("image")]


@dataclass
class PairData:
    task: TaskConfig
    source: str
    shape: str  # "images" or "captions"
    rows: list[dict[str, Any]]  # "id" (str), the texts, "label" / "label_0", "subcategory"
    dataset: Any  # image columns left undecoded
    image_base: Path | None

    def __len__(self) -> int:
        return len(self.rows)

    def image(self, index: int, column: str):
        """The pair's image in ``column`` as RGB, or a one-line error naming the pair and the file."""
        where = f"{self.task.name}: pair {self.rows[index]['id']!r}, {column}"
        return decode_image(self.dataset[column][index], self.image_base, where, column)

    def digest(self) -> str:
        """A fingerprint of the pairs' text columns and image references (names, not pixels): a
        resumed grading refuses data that changed under it."""
        sha = hashlib.sha256()
        image_columns = image_columns_of(self.shape)
        cells = {column: self.dataset[column] for column in image_columns}  # each column read once
        for index, row in enumerate(self.rows):
            sha.update(json.dumps(row, sort_keys=True, default=str).encode())
            for column in image_columns:
                value = cells[column][index]
                ref = value.get("path") or hashlib.sha256(value.get("bytes") or b"").hexdigest() \
                    if isinstance(value, dict) else str(value)
                sha.update(str(ref).encode())
        return sha.hexdigest()[:16]


def load_pairs(task: TaskConfig, data_root: str | Path | None) -> PairData:
    """The pairs of a reward_pairs ``task`` from ``data_root`` (or, when None, its hub split)."""
    import datasets

    if not task.is_reward_pairs:
        raise CsrBenchError(f"{task.name}: not a reward_pairs task")
    datasets.disable_progress_bars()
    dataset, image_base, source = open_task_dataset(task, resolve_data_root(data_root))
    shape = task.pair_shape
    columns = set(dataset.column_names)
    by_index = task.doc_id == INDEX_ID
    needed = [*([] if by_index else [task.doc_id]), *task.fields]
    if "label" in needed and "label" not in columns and "label_0" in columns:
        needed.remove("label")  # Pick-a-Pic's style: get_label reads label_0
    missing = [c for c in dict.fromkeys(needed) if c not in columns]
    if missing:
        raise CsrBenchError(f"{task.name}: {source} lacks column(s) {', '.join(missing)} (has: {', '.join(sorted(columns))})")
    if len(dataset) == 0:
        raise CsrBenchError(f"{task.name}: {source} holds no pairs")
    image_columns = image_columns_of(shape)
    for column in image_columns:  # images stay bytes / paths until a pair is scored
        dataset = undecoded(dataset, column)
    text = [c for c in dict.fromkeys([*([] if by_index else [task.doc_id]), *task.fields, *OPTIONAL])
            if c in columns and c not in image_columns]
    rows = dataset.select_columns(text).to_list()
    seen: set[str] = set()
    from csr_bench.scorers.mjbench import label_of

    for index, row in enumerate(rows):
        key = str(index if by_index else row[task.doc_id])
        row["id"] = key
        if key in seen:
            raise CsrBenchError(f"{task.name}: {source} has duplicate {task.doc_id} {key!r}")
        seen.add(key)
        try:
            label_of(row)
        except CsrBenchError as exc:
            raise CsrBenchError(f"{task.name}: {source}: pair {key!r}: {exc}") from None
        for column in PAIR_SHAPES[shape]:
            if not column.startswith("image") and not isinstance(row.get(column), str):
                raise CsrBenchError(f"{task.name}: {source}: pair {key!r}: '{column}' must be text, got {row.get(column)!r}")
    return PairData(task=task, source=source, shape=shape, rows=rows, dataset=dataset, image_base=image_base)


__all__ = ["PairData", "load_pairs"]
