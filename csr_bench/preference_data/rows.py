"""What every schema reader hands back before images are touched: candidate rows (text checked, the
image only named), the rows it had to skip and why; and the one place that turns the usable rows into
a ``PreferenceSet``: the ``limit`` subset drawn with the run's seed first, then the images checked
(or taken out of the file once, into the cache), so a limited read of a large set stays cheap."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_bytes
from csr_bench.preference_data.base import PreferenceSet, SourceContext

# Reasons shared by the schemas (a schema may add its own, e.g. "multi-turn conversation").
MISSING = "missing or empty {}"
SAME = "chosen == rejected"
NOT_FOUND = "image not found"
NOT_IN_DIR = "image not in --prompt-images"
NO_DIR = "image is a file name and no --prompt-images given"
UNREADABLE = "unreadable image"
NO_IMAGE = "no image"


@dataclass
class Candidate:
    """One row whose text is usable; its image is a file (``image_file``) or bytes read on demand."""

    id: str
    prompt: str
    chosen: str
    rejected: str
    image_file: Path | None = None
    image_bytes: Callable[[], bytes | None] | None = None  # read only for the rows kept
    image_name: str | None = None  # file name under cache/images/ for extracted bytes
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reading:
    """What a schema reader found in one source."""

    candidates: list[Candidate] = field(default_factory=list)
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)
    details: dict[str, Any] = field(default_factory=dict)
    # reason -> a longer form for the "no usable row" error (e.g. naming the --prompt-images folder)
    explain: dict[str, str] = field(default_factory=dict)


def text(value: Any) -> str | None:
    """A non-empty, stripped string, or None."""
    return value.strip() or None if isinstance(value, str) else None


def check_texts(prompt: Any, chosen: Any, rejected: Any) -> tuple[str | None, tuple[str, str, str] | None]:
    """(reason, None) for an unusable row, else (None, (prompt, chosen, rejected)) as the set holds
    them (not stripped: the trainer sees the released text); chosen == rejected up to surrounding
    whitespace is unusable (it teaches nothing)."""
    values = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    for key, value in values.items():
        if text(value) is None:
            return MISSING.format(key), None
    if text(chosen) == text(rejected):
        return SAME, None
    return None, (prompt, chosen, rejected)


def resolve_file_name(name: Any, context: SourceContext, reading: Reading) -> tuple[str | None, Path | None]:
    """A set's image named by a file name (COCO's): found by its base name in --prompt-images."""
    name = text(name)
    if name is None:
        return NO_IMAGE, None
    if context.images_dir is None:
        return NO_DIR, None
    path = Path(context.images_dir) / Path(name).name
    if not path.is_file():
        reading.explain[NOT_IN_DIR] = f"name an image not in --prompt-images {context.images_dir}"
        return NOT_IN_DIR, None
    return None, path


IMAGE_TAG = "<image>"


def clean_prompt(value: Any) -> str | None:
    """The user text without LLaVA's ``<image>`` placeholder and the newline beside it."""
    found = text(value)
    if found is None:
        return None
    return text(found.replace(IMAGE_TAG + "\n", "").replace("\n" + IMAGE_TAG, "").replace(IMAGE_TAG, ""))


def attach_image(candidate: Candidate, value: Any, path_value: Any, context: SourceContext,
                 reading: Reading, loader: Callable[[], bytes | None] | None = None,
                 key: str | None = None) -> str | None:
    """Give ``candidate`` its image from a hub row: embedded bytes (a datasets Image struct
    {"bytes", "path"}, read now or through ``loader``), else a path: an existing absolute file, or a
    file name looked up in --prompt-images. ``key`` names the extracted file (rows sharing an image
    share it). Returns the reason when there is none."""
    data = value.get("bytes") if isinstance(value, dict) else value if isinstance(value, (bytes, bytearray)) else None
    if data or loader is not None:
        name = value.get("path") if isinstance(value, dict) else None
        suffix = Path(name).suffix if isinstance(name, str) and Path(name).suffix else ".img"
        candidate.image_bytes = loader or (lambda: data)
        candidate.image_name = f"{safe_name(key or candidate.id)}{suffix}"
        return None
    name = text(value.get("path")) if isinstance(value, dict) else text(value) if isinstance(value, str) else None
    name = name or text(path_value)
    if name and Path(name).expanduser().is_absolute() and Path(name).expanduser().is_file():
        candidate.image_file = Path(name).expanduser()
        return None
    reason, found = resolve_file_name(name, context, reading)
    candidate.image_file = found
    return reason


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))[:120] or "image"


def _readable(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception:  # PIL raises many types for a bad file
        return False


def _extract(candidate: Candidate, context: SourceContext, folder: str) -> tuple[str | None, Path | None]:
    """The candidate's image as a readable file: its own, or its bytes written once to
    cache/images/<folder>/ (one folder per source file, so two sources never share a name)."""
    if candidate.image_file is not None:
        return (None, candidate.image_file) if _readable(candidate.image_file) else (UNREADABLE, None)
    target = Path(context.cache_dir) / "images" / folder / (candidate.image_name or f"{safe_name(candidate.id)}.img")
    if target.is_file():  # extracted by an earlier (perhaps interrupted) read: resumed
        return None, target
    data = candidate.image_bytes() if candidate.image_bytes else None
    if not data:
        return NO_IMAGE, None
    from io import BytesIO

    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as image:
            image.verify()
    except Exception:
        return UNREADABLE, None
    atomic_write_bytes(target, data)
    return None, target


def build_set(source: str, schema: str, reading: Reading, context: SourceContext, limit: int | None,
              where: str) -> PreferenceSet:
    """The usable rows as a PreferenceSet: with ``limit``, a subset drawn with random.Random(context.seed)
    (the rows shuffled once, taken in that order until ``limit`` have a readable image, then kept in
    the file's order); without, every row. Raises when no row is usable. With a limit, image
    problems are counted only for the rows the draw reached (text problems for every row)."""
    from csr_bench.progress import progress_bar

    skipped = Counter(reading.skipped)
    folder = f"{schema}-{hashlib.sha1(str(where).encode()).hexdigest()[:10]}"
    order = list(range(len(reading.candidates)))
    if limit is not None:
        random.Random(context.seed).shuffle(order)
    kept: list[tuple[int, dict[str, Any]]] = []
    wanted = len(order) if limit is None else min(limit, len(order))
    position = 0
    with progress_bar(total=wanted, unit="pair", desc=f"reading {schema} images") as bar:
        while len(kept) < wanted and position < len(order):
            # the next rows of the draw, read in file order (a parquet's row groups once each); rows
            # whose image is unusable are replaced by the draw's next ones
            batch = sorted(order[position:position + wanted - len(kept)])
            position += len(batch)
            for index in batch:
                candidate = reading.candidates[index]
                reason, image = _extract(candidate, context, folder)
                if reason:
                    skipped[reason] += 1
                    continue
                pair = {"id": candidate.id, "image": str(Path(image).resolve()), "prompt": candidate.prompt,
                        "chosen": candidate.chosen, "rejected": candidate.rejected}
                kept.append((index, {**pair, **{k: v for k, v in candidate.extra.items() if k not in pair}}))
                bar.update(1)
    pairs = [pair for _, pair in sorted(kept, key=lambda item: item[0])]
    if not pairs:
        raise no_usable_row(where, reading.rows, skipped, reading.explain)
    details = dict(reading.details)
    if limit is not None:
        details.update(limit=limit, seed=context.seed)
    return PreferenceSet(source=source, schema=schema, pairs=pairs, rows=reading.rows, skipped=skipped,
                         details=details)


def no_usable_row(where: str, rows: int, skipped: Counter, explain: dict[str, str] | None = None) -> CsrBenchError:
    if not rows:
        return CsrBenchError(f"{where}: no rows")
    reasons = ", ".join(f"{count} rows {(explain or {}).get(reason, reason)}"
                        for reason, count in skipped.most_common(3))
    return CsrBenchError(f"{where}: no usable preference pair in {rows} rows ({reasons or 'none kept'})")


def pairs_digest(pairs: list[dict[str, Any]]) -> str:
    """sha256 of the pairs as trained on (image path, prompt, chosen, rejected, in order)."""
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(json.dumps([pair["image"], pair["prompt"], pair["chosen"], pair["rejected"]],
                                 ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()
