"""A reward_pairs task's pairs (MJ-Bench): the hub split, or a local copy under --data-root, read as
tasks/data.py reads a task's documents (JSON/JSONL/parquet files, a folder of them, or a
save_to_disk folder). Text columns are held in memory, images decoded one pair at a time.

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
from csr_bench.images import open_rgb
from csr_bench.tasks.config import PAIR_SHAPES, TaskConfig
from csr_bench.tasks.data import BUNDLED_DATA_ROOT, DATA_FILE_TYPES, INDEX_ID, resolve_data_root

OPTIONAL = ("subcategory", "label_0")


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
        value = self.dataset[index][column]
        if isinstance(value, dict) and value.get("bytes"):
            return open_rgb(value["bytes"], where)
        raw = value.get("path") if isinstance(value, dict) else value
        if not raw or not isinstance(raw, str):
            raise CsrBenchError(f"{where}: no image")
        path = Path(raw)
        if not path.is_absolute() and self.image_base is not None:
            path = self.image_base / path
        if not path.is_file():
            raise CsrBenchError(f"{where}: image file not found: {path}")
        return open_rgb(path, where)

    def digest(self) -> str:
        """A fingerprint of the pairs' text columns and image references (names, not pixels): a
        resumed grading refuses data that changed under it."""
        sha = hashlib.sha256()
        image_columns = [c for c in PAIR_SHAPES[self.shape] if c.startswith("image")]
        for index, row in enumerate(self.rows):
            sha.update(json.dumps(row, sort_keys=True, default=str).encode())
            for column in image_columns:
                value = self.dataset[index][column]
                ref = value.get("path") or hashlib.sha256(value.get("bytes") or b"").hexdigest() \
                    if isinstance(value, dict) else str(value)
                sha.update(str(ref).encode())
        return sha.hexdigest()[:16]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_jsonl(name: str, files: list[str]) -> None:
    """A malformed JSONL line as one error naming the file and line (datasets would say "row N")."""
    from csr_bench.storage.files import read_jsonl_objects

    for file in files:
        if file.endswith(".jsonl"):
            try:
                read_jsonl_objects(Path(file), "reward pairs")
            except CsrBenchError as exc:
                raise CsrBenchError(f"{name}: cannot read {exc}") from None


def _open(task: TaskConfig, root: Path | None):
    """(dataset, folder that image file names start from, source) as tasks/data.py reads a task's data."""
    import datasets

    name, hub = task.name, task.dataset.hub
    if root is None:
        if hub is None:
            raise CsrBenchError(f"{name}: no hub dataset is declared; pass --data-root DIR with the data")
        try:
            return datasets.load_dataset(hub.path, hub.name, split=hub.split, **hub.pinned()), None, \
                f"hub:{hub.path}[{hub.split}]"
        except Exception as exc:  # gated, offline, missing: one line
            raise CsrBenchError(f"{name}: cannot load hub dataset {hub.path} (split {hub.split}): {_first_line(exc)}; "
                                f"without the network pass --data-root DIR holding '{task.dataset.local}'") from None
    base = root / task.dataset.local
    path = next((p for p in [base, *(base.with_name(base.name + ext) for ext in DATA_FILE_TYPES)] if p.exists()), None)
    if path is None:
        raise CsrBenchError(f"{name}: no data at {base} (expected a .jsonl/.json/.parquet file, a folder of them, "
                            "or a datasets save_to_disk folder)")
    source = f"bundled:{path.relative_to(BUNDLED_DATA_ROOT)}" if root == BUNDLED_DATA_ROOT else f"local:{path}"
    try:
        if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                split = hub.split if hub else None
                chosen = split if split in loaded else (next(iter(loaded)) if len(loaded) == 1 else None)
                if chosen is None:
                    raise CsrBenchError(f"{name}: {path} holds splits {', '.join(loaded)}; expected '{split}'")
                loaded = loaded[chosen]
            return loaded, path, source
        if path.is_dir():
            for suffix, kind in DATA_FILE_TYPES.items():
                files = sorted(str(p) for p in path.rglob(f"*{suffix}"))
                if files:
                    _check_jsonl(name, files)
                    return datasets.load_dataset(kind, data_files=files, split="train"), path, source
            raise CsrBenchError(f"{name}: {path} holds no .parquet/.jsonl/.json files")
        kind = DATA_FILE_TYPES.get(path.suffix)
        if kind is None:
            raise CsrBenchError(f"{name}: {path}: unsupported data file type (use .jsonl, .json or .parquet)")
        _check_jsonl(name, [str(path)])
        return datasets.load_dataset(kind, data_files=[str(path)], split="train"), path.parent, source
    except CsrBenchError:
        raise
    except Exception as exc:  # datasets wraps parser errors in several exception types
        raise CsrBenchError(f"{name}: cannot read {path}: {_first_line(exc.__cause__ or exc)}") from None


def load_pairs(task: TaskConfig, data_root: str | Path | None) -> PairData:
    """The pairs of a reward_pairs ``task`` from ``data_root`` (or, when None, its hub split)."""
    import datasets

    if not task.is_reward_pairs:
        raise CsrBenchError(f"{task.name}: not a reward_pairs task")
    datasets.disable_progress_bars()
    dataset, image_base, source = _open(task, resolve_data_root(data_root))
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
    image_columns = [c for c in PAIR_SHAPES[shape] if c.startswith("image")]
    for column in image_columns:  # images stay bytes / paths until a pair is scored
        if isinstance(dataset.features.get(column), datasets.Image):
            dataset = dataset.cast_column(column, datasets.Image(decode=False))
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
