"""Loads a task's documents through `datasets`: the hub dataset, or a local copy under --data-root.

Images are decoded one document at a time, when a batch needs them (never the whole set), and an
unreadable image is an error that names the document and the file. Bad data is found before a
model loads, each as one line naming the file and the item: a malformed JSONL line (file:line), a
data file with no documents, a missing column, or a record whose values its scorer cannot read
(``check_records``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.images import IMAGE_FILE_TYPES, open_rgb
from csr_bench.lazy import load_target
from csr_bench.tasks.config import HubSource, TaskConfig

# Small task data that ships with csr-bench, for the offline default (`--data-root bundled`).
BUNDLED_DATA_ROOT = Path(__file__).resolve().parent.parent / "bundled"
DATA_FILE_TYPES = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}
INDEX_ID = "@index"  # doc_id value meaning "the row's position"
# --data-root names served by a data provider: name -> "module:function" returning the folder. Imported
# only when used, so the data layer never imports a provider (the world is reached through the model
# registry, which builds it on first use).
DATA_ROOTS: dict[str, str] = {"world": "csr_bench.models.registry:world_data_root"}


def resolve_data_root(data_root: str | Path | None) -> Path | None:
    if data_root is None:
        return None
    if str(data_root) == "bundled":
        return BUNDLED_DATA_ROOT
    if str(data_root) in DATA_ROOTS:
        return Path(load_target(DATA_ROOTS[str(data_root)])())
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
    annotations: Path | None = None
    # Images joined on a key (task.images): a dataset with a key -> row index, or key -> file.
    image_dataset: Any = None
    image_rows: dict[Any, int] | None = None
    image_files: dict[str, Path] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def doc_id(self, index: int) -> Any:
        return self.rows[index][self.task.doc_id]

    def _raw_image(self, index: int, where: str) -> Any:
        if self.task.images is None:
            return self.dataset[index][self.task.image_field]
        key = self.rows[index][self.task.image_field]
        if self.image_files is not None:
            if str(key) not in self.image_files:
                raise CsrBenchError(f"{where}: no image file named {key}.* in {self.image_base}")
            return str(self.image_files[str(key)])
        if key not in self.image_rows:
            raise CsrBenchError(f"{where}: no image with {self.task.images.key}={key!r} in the image set")
        return self.image_dataset[self.image_rows[key]][self.task.images.column]

    def image(self, index: int):
        """The document's image as RGB, or a one-line error naming the document and file."""
        where = f"{self.task.name}: {self.task.doc_id}={self.doc_id(index)!r}"
        return decode_image(self._raw_image(index, where), self.image_base, where, self.task.image_field)


def decode_image(value: Any, image_base: Path | None, where: str, column: str):
    """An undecoded image cell (embedded bytes, or a path relative to ``image_base``) as RGB, or a
    one-line error naming ``where`` and the file."""
    if isinstance(value, dict) and value.get("bytes"):
        return open_rgb(value["bytes"], where)
    raw = value.get("path") if isinstance(value, dict) else value
    if not raw or not isinstance(raw, str):
        raise CsrBenchError(f"{where}: no image in column '{column}'")
    path = Path(raw)
    if not path.is_absolute() and image_base is not None:
        path = image_base / path
    if not path.is_file():
        raise CsrBenchError(f"{where}: image file not found: {path}")
    return open_rgb(path, where)


def _local_path(name: str, local: str, root: Path) -> Path:
    base = root / local
    for candidate in [base] + [base.with_name(base.name + ext) for ext in DATA_FILE_TYPES]:
        if candidate.exists():
            return candidate
    raise CsrBenchError(
        f"{name}: no data at {base} (expected a .jsonl/.json/.parquet file, a folder of them, "
        f"or a datasets save_to_disk folder)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_json_files(name: str, files: list[str]) -> None:
    """One line naming the file and line for a malformed JSONL line (``datasets`` would say "row N"
    of the folder), and an error when the files hold no document at all."""
    from csr_bench.storage.files import read_jsonl_objects

    documents = 0
    for file in map(Path, files):
        if file.suffix == ".jsonl":
            try:
                documents += len(read_jsonl_objects(file, "task data"))
            except CsrBenchError as exc:
                raise CsrBenchError(f"{name}: cannot read {exc}") from None
        else:  # a .json file: one array, one object or JSON lines; datasets reads all three
            try:
                documents += bool(file.read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError) as exc:
                raise CsrBenchError(f"{name}: cannot read {file}: {exc}") from None
    if not documents:
        shown = files[0] if len(files) == 1 else f"{Path(files[0]).parent} ({len(files)} files)"
        raise CsrBenchError(f"{name}: {shown} holds no documents")


def _load_local(name: str, path: Path, split: str | None):
    """(dataset, folder that relative image paths start from)."""
    import datasets

    try:
        if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                chosen = split if split in loaded else (next(iter(loaded)) if len(loaded) == 1 else None)
                if chosen is None:
                    raise CsrBenchError(f"{name}: {path} holds splits {', '.join(loaded)}; "
                                        f"expected '{split}' or a single split")
                loaded = loaded[chosen]
            return loaded, path
        if path.is_dir():
            for suffix, kind in DATA_FILE_TYPES.items():
                files = sorted(str(p) for p in path.rglob(f"*{suffix}"))
                if files:
                    if kind == "json":
                        _check_json_files(name, files)
                    return datasets.load_dataset(kind, data_files=files, split="train"), path
            raise CsrBenchError(f"{name}: {path} holds no .parquet/.jsonl/.json files")
        kind = DATA_FILE_TYPES.get(path.suffix)
        if kind is None:
            raise CsrBenchError(f"{name}: {path}: unsupported data file type (use .jsonl, .json or .parquet)")
        if kind == "json":
            _check_json_files(name, [str(path)])
        return datasets.load_dataset(kind, data_files=[str(path)], split="train"), path.parent
    except CsrBenchError:
        raise
    except Exception as exc:  # datasets wraps parser errors in several exception types
        raise CsrBenchError(f"{name}: cannot read {path}: {_first_line(exc.__cause__ or exc)}") from None


def _load_hub(name: str, hub: HubSource | None, local: str):
    import datasets

    if hub is None:
        raise CsrBenchError(f"{name}: no hub dataset is declared; pass --data-root DIR with the data")
    try:
        return datasets.load_dataset(hub.path, hub.name, split=hub.split, **hub.pinned())
    except Exception as exc:
        raise CsrBenchError(
            f"{name}: cannot load hub dataset {hub.path} (split {hub.split}): {_first_line(exc)}; "
            f"without the network pass --data-root DIR holding '{local}'") from None


def undecoded(dataset, column: str):
    """Leave images as bytes/paths: each is decoded when its document is evaluated."""
    import datasets

    if isinstance(dataset.features.get(column), datasets.Image):
        return dataset.cast_column(column, datasets.Image(decode=False))
    return dataset


def _attach_images(data: TaskData, root: Path | None) -> None:
    """Join a separately stored image set (task.images) to the documents."""
    spec = data.task.images
    name = f"{data.task.name} images"
    if root is not None:
        folder = root / spec.local
        if folder.is_dir() and not any(p.suffix in DATA_FILE_TYPES for p in folder.iterdir()):
            data.image_files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_FILE_TYPES}
            data.image_base = folder
            return
        dataset, data.image_base = _load_local(name, _local_path(name, spec.local, root),
                                               spec.hub.split if spec.hub else None)
    else:
        dataset = _load_hub(name, spec.hub, spec.local)
    missing = [c for c in (spec.key, spec.column) if c not in dataset.column_names]
    if missing:
        raise CsrBenchError(f"{name}: image set lacks column(s) {', '.join(missing)}")
    data.image_dataset = undecoded(dataset, spec.column)
    data.image_rows = {key: i for i, key in enumerate(dataset.select_columns([spec.key])[spec.key])}


def check_records(task: TaskConfig, rows: list[dict[str, Any]], source: str) -> None:
    """Every document's fields must be readable by the task's scorer (a POPE answer of 'yes' or
    'no', a COCO image id, ...): found here, before the model loads, as one line naming the item,
    not after its batch has been generated."""
    from csr_bench.scorers import SCORERS
    from csr_bench.scorers.base import check_record

    scorer = SCORERS.get(task.scorer)
    if scorer is None:
        return
    for index, row in enumerate(rows):
        try:
            check_record(scorer, row)
        except CsrBenchError as exc:
            problem = str(exc)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            problem = f"record does not fit scorer '{task.scorer}' ({type(exc).__name__}: {exc})"
        else:
            continue
        item = f"row {index}" if task.doc_id == INDEX_ID else f"{task.doc_id}={row[task.doc_id]!r}"
        raise CsrBenchError(f"{task.name}: {source}: {item}: {problem}")


def open_task_dataset(task: TaskConfig, root: Path | None):
    """(dataset, folder relative image paths start from, source) of the task's data: its local copy
    under ``root``, or its hub split when ``root`` is None. Shared by the documents of a generation
    task and the pairs of a reward_pairs task (tasks/pair_data.py)."""
    if root is None:
        dataset = _load_hub(task.name, task.dataset.hub, task.dataset.local)
        return dataset, None, f"hub:{task.dataset.hub.path}[{task.dataset.hub.split}]"
    path = _local_path(task.name, task.dataset.local, root)
    dataset, image_base = _load_local(task.name, path, task.dataset.hub.split if task.dataset.hub else None)
    source = f"bundled:{path.relative_to(BUNDLED_DATA_ROOT)}" if root == BUNDLED_DATA_ROOT else f"local:{path}"
    return dataset, image_base, source


def load_task_data(task: TaskConfig, data_root: str | Path | None) -> TaskData:
    """Documents from ``data_root`` (local copy) or, when it is None, from the task's hub dataset."""
    import datasets

    datasets.disable_progress_bars()
    root = resolve_data_root(data_root)
    dataset, image_base, source = open_task_dataset(task, root)

    if task.filter:
        unknown = [c for c in task.filter if c not in dataset.column_names]
        if unknown:
            raise CsrBenchError(f"{task.name}: {source} lacks filter column(s) {', '.join(unknown)}")
        wanted = task.filter
        dataset = dataset.filter(lambda *values: all(v == wanted[c] for c, v in zip(wanted, values)),
                                 input_columns=list(wanted))
    by_index = task.doc_id == INDEX_ID
    columns = set(dataset.column_names)
    needed = [*([] if by_index else [task.doc_id]), task.image_field, *task.fields]
    missing = [c for c in dict.fromkeys(needed) if c not in columns]
    if missing:
        raise CsrBenchError(f"{task.name}: {source} lacks column(s) {', '.join(missing)} "
                            f"(has: {', '.join(sorted(columns))})")
    if len(dataset) == 0:
        raise CsrBenchError(f"{task.name}: {source} holds no documents")
    joined = task.images is not None
    if not joined:
        dataset = undecoded(dataset, task.image_field)
    text_columns = list(dict.fromkeys([*([] if by_index else [task.doc_id]), *task.fields,
                                       *([task.image_field] if joined else [])]))
    rows = dataset.select_columns(text_columns).to_list()
    if by_index:  # the data has no unique id: a document is its row (stable for a fixed dataset)
        for index, row in enumerate(rows):
            row[INDEX_ID] = index
    seen: set = set()
    for row in rows:
        key = row[task.doc_id]
        if key in seen:
            raise CsrBenchError(f"{task.name}: {source} has duplicate {task.doc_id} {key!r}")
        seen.add(key)
    check_records(task, rows, source)
    annotations = root / task.annotations if (root is not None and task.annotations) else None
    data = TaskData(task=task, source=source, rows=rows, dataset=dataset, image_base=image_base,
                    annotations=annotations)
    if joined:
        _attach_images(data, root)
    return data
