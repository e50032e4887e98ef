"""Loads a task's documents through `datasets`: the hub dataset, or a local copy under --data-root.

Images are decoded one document at a time, when a batch needs them (never the whole set), and an
unreadable image is an error that names the document and the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.tasks.config import TaskConfig

# Small task data that ships with csr-bench, for the offline default (`--data-root bundled`).
BUNDLED_DATA_ROOT = Path(__file__).resolve().parent.parent / "bundled"
DATA_FILE_TYPES = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}


def resolve_data_root(data_root: str | Path | None) -> Path | None:
    if data_root is None:
        return None
    if str(data_root) == "bundled":
        return BUNDLED_DATA_ROOT
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise CsrBenchError(f"--data-root {root}: no such folder")
    return root


@dataclass
class TaskData:
    """A task's documents: text fields held in memory, images fetched per document on demand."""

    task: TaskConfig
    source: str
    rows: list[dict[str, Any]]
    dataset: Any  # datasets.Dataset with its image column left undecoded
    image_base: Path | None

    def __len__(self) -> int:
        return len(self.rows)

    def doc_id(self, index: int) -> Any:
        return self.rows[index][self.task.doc_id]

    def image(self, index: int):
        """The document's image as RGB, or a one-line error naming the document and file."""
        from PIL import Image, UnidentifiedImageError

        value = self.dataset[index][self.task.image_field]
        where = f"{self.task.name}: {self.task.doc_id}={self.doc_id(index)!r}"
        path = None
        try:
            if isinstance(value, dict) and value.get("bytes"):
                image = Image.open(io.BytesIO(value["bytes"]))
            else:
                raw = value.get("path") if isinstance(value, dict) else value
                if not raw:
                    raise CsrBenchError(f"{where}: no image in column '{self.task.image_field}'")
                path = Path(raw)
                if not path.is_absolute() and self.image_base is not None:
                    path = self.image_base / path
                if not path.is_file():
                    raise CsrBenchError(f"{where}: image file not found: {path}")
                image = Image.open(path)
            image.load()
            return image.convert("RGB")
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            shown = f" ({path})" if path else ""
            raise CsrBenchError(f"{where}: unreadable image{shown}: {exc}") from None


def _local_path(task: TaskConfig, root: Path) -> Path:
    base = root / task.dataset.local
    for candidate in [base] + [base.with_name(base.name + ext) for ext in DATA_FILE_TYPES]:
        if candidate.exists():
            return candidate
    raise CsrBenchError(
        f"{task.name}: no data at {base} (expected a .jsonl/.json/.parquet file, a folder of them, "
        f"or a datasets save_to_disk folder)")


def _load_local(task: TaskConfig, path: Path):
    import datasets

    try:
        if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                wanted = task.dataset.hub.split if task.dataset.hub else None
                split = wanted if wanted in loaded else (next(iter(loaded)) if len(loaded) == 1 else None)
                if split is None:
                    raise CsrBenchError(f"{task.name}: {path} holds splits {', '.join(loaded)}; "
                                        f"expected '{wanted}' or a single split")
                loaded = loaded[split]
            return loaded, path
        if path.is_dir():
            for suffix, kind in DATA_FILE_TYPES.items():
                files = sorted(str(p) for p in path.rglob(f"*{suffix}"))
                if files:
                    return datasets.load_dataset(kind, data_files=files, split="train"), path
            raise CsrBenchError(f"{task.name}: {path} holds no .parquet/.jsonl/.json files")
        kind = DATA_FILE_TYPES.get(path.suffix)
        if kind is None:
            raise CsrBenchError(f"{task.name}: {path}: unsupported data file type (use .jsonl, .json or .parquet)")
        return datasets.load_dataset(kind, data_files=[str(path)], split="train"), path.parent
    except CsrBenchError:
        raise
    except Exception as exc:  # datasets wraps parser errors in several exception types
        cause = exc.__cause__ or exc
        raise CsrBenchError(f"{task.name}: cannot read {path}: {str(cause).splitlines()[0] if str(cause) else type(cause).__name__}") from None


def _load_hub(task: TaskConfig):
    import datasets

    hub = task.dataset.hub
    if hub is None:
        raise CsrBenchError(f"{task.name}: no hub dataset is declared; pass --data-root DIR with the data")
    try:
        return datasets.load_dataset(hub.path, hub.name, split=hub.split)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CsrBenchError(
            f"{task.name}: cannot load hub dataset {hub.path} (split {hub.split}): {reason}; "
            f"without the network pass --data-root DIR holding '{task.dataset.local}'") from None


def load_task_data(task: TaskConfig, data_root: str | Path | None) -> TaskData:
    """Documents from ``data_root`` (local copy) or, when it is None, from the task's hub dataset."""
    import datasets

    datasets.disable_progress_bars()
    root = resolve_data_root(data_root)
    if root is None:
        dataset, image_base = _load_hub(task), None
        source = f"hub:{task.dataset.hub.path}[{task.dataset.hub.split}]"
    else:
        path = _local_path(task, root)
        dataset, image_base = _load_local(task, path)
        source = (f"bundled:{path.relative_to(BUNDLED_DATA_ROOT)}" if root == BUNDLED_DATA_ROOT
                  else f"local:{path}")

    columns = set(dataset.column_names)
    needed = [task.doc_id, task.image_field, *task.fields]
    missing = [c for c in dict.fromkeys(needed) if c not in columns]
    if missing:
        raise CsrBenchError(f"{task.name}: {source} lacks column(s) {', '.join(missing)} "
                            f"(has: {', '.join(sorted(columns))})")
    if len(dataset) == 0:
        raise CsrBenchError(f"{task.name}: {source} holds no documents")
    if isinstance(dataset.features[task.image_field], datasets.Image):
        dataset = dataset.cast_column(task.image_field, datasets.Image(decode=False))
    text_columns = list(dict.fromkeys([task.doc_id, *task.fields]))
    rows = dataset.select_columns(text_columns).to_list()
    seen: set = set()
    for row in rows:
        key = row[task.doc_id]
        if key in seen:
            raise CsrBenchError(f"{task.name}: {source} has duplicate {task.doc_id} {key!r}")
        seen.add(key)
    return TaskData(task=task, source=source, rows=rows, dataset=dataset, image_base=image_base)
