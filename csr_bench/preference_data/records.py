"""Rows of a preference file, whatever its container: a JSON list, JSONL, or parquet (the hub's
datasets); a parquet's image column is left on disk and read only for the rows that are kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import read_json_records

TABLE_SUFFIXES = (".json", ".jsonl", ".parquet")


def read_json_rows(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON list (or JSONL) file; anything else is a one-line error naming the file."""
    # a non-object row becomes {}: the schema's reader skips it, counted
    return [row if isinstance(row, dict) else {} for row in read_json_records(path, "preference rows")]


def first_keys(path: Path) -> set[str]:
    """The field names of a file's first row (the parquet's columns): what schema detection reads."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return set(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError...
            raise CsrBenchError(f"{path}: unreadable parquet file ({exc})") from None
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    try:
                        row = json.loads(line)
                    except ValueError:
                        raise CsrBenchError(f"{path}: malformed JSON in its first row") from None
                    return set(row) if isinstance(row, dict) else set()
        return set()
    rows = read_json_rows(path)
    return set(rows[0]) if rows else set()


class ParquetRows:
    """The rows of parquet files without their image column; ``image(i)`` reads row i's image bytes.

    Images are read a row group at a time (the last one kept), so reading the kept rows in file
    order reads each row group once."""

    def __init__(self, paths: list[Path], image_column: str = "image"):
        import pyarrow.parquet as pq

        self.image_column = image_column
        self._files = []  # (ParquetFile, [(first row, rows) per row group])
        self._where: list[tuple[int, int, int]] = []  # row -> (file, row group, index in it)
        self._cached: tuple[tuple[int, int], list[Any]] | None = None
        for path in paths:
            try:
                handle = pq.ParquetFile(path)
            except Exception as exc:
                raise CsrBenchError(f"{path}: unreadable parquet file ({exc})") from None
            self._files.append((path, handle))
            for group in range(handle.num_row_groups):
                for index in range(handle.metadata.row_group(group).num_rows):
                    self._where.append((len(self._files) - 1, group, index))

    @property
    def has_images(self) -> bool:
        return any(self.image_column in handle.schema_arrow.names for _, handle in self._files)

    def __len__(self) -> int:
        return len(self._where)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row, the image column left out."""
        for path, handle in self._files:
            columns = [name for name in handle.schema_arrow.names if name != self.image_column]
            for group in range(handle.num_row_groups):
                try:
                    table = handle.read_row_group(group, columns=columns)
                except Exception as exc:
                    raise CsrBenchError(f"{path}: unreadable parquet row group {group} ({exc})") from None
                yield from table.to_pylist()

    def image(self, row: int) -> bytes | None:
        """Row ``row``'s image bytes (a datasets Image struct {bytes, path}, or raw bytes)."""
        file_index, group, index = self._where[row]
        if self._cached is None or self._cached[0] != (file_index, group):
            path, handle = self._files[file_index]
            if self.image_column not in handle.schema_arrow.names:
                return None
            values = handle.read_row_group(group, columns=[self.image_column]).column(0).to_pylist()
            self._cached = ((file_index, group), values)
        value = self._cached[1][index]
        if isinstance(value, dict):
            value = value.get("bytes")
        return value if isinstance(value, (bytes, bytearray)) and value else None

    def loader(self, row: int) -> Callable[[], bytes | None]:
        return lambda: self.image(row)


def table_files(path: Path) -> list[Path]:
    """A file, or a folder's parquet / JSON files (a hub snapshot), in name order."""
    path = Path(path)
    if path.is_file():
        return [path]
    for suffix in TABLE_SUFFIXES[::-1]:  # parquet first: a hub snapshot's data files
        found = sorted(p for p in path.rglob(f"*{suffix}") if not any(part.startswith(".") for part in p.parts))
        if found:
            return found
    return []


def open_table(path: Path) -> tuple[str, "ParquetRows | None", Iterator[dict[str, Any]]]:
    """The rows of a preference file or folder, and its files' names: parquet files through
    ``ParquetRows`` (its images read only when asked), else the JSON/JSONL rows."""
    files = table_files(path)
    parquet = [f for f in files if f.suffix == ".parquet"]
    table = ParquetRows(parquet) if parquet else None
    rows = table.rows() if table else (row for f in files for row in read_json_rows(f))
    return ", ".join(str(f) for f in files), table, rows
