"""csr-bench's own pairs: the ``preferences.jsonl`` every method's iteration writes to
``iter_<k>/pairs/`` (methods/driver.py: "image", "prompt", "chosen", "rejected" and the method's own
keys), read back so one iteration's pairs can be retrained under other settings.

A relative "image" resolves against --prompt-images, else against the "images_root" the sibling
summary.json records (a path inside the run may be written "<run>/...").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csr_bench.preference_data import rows as R
from csr_bench.preference_data.base import SourceContext
from csr_bench.preference_data.records import read_json_rows
from csr_bench.storage.settings import from_run_relative

SCHEMA = "csr-bench"
PREFERENCES_FILE = "preferences.jsonl"  # csr_bench.methods.driver writes these two
SUMMARY_FILE = "summary.json"
PAIR_KEYS = ("image", "prompt", "chosen", "rejected")


def matches(keys: set[str]) -> bool:
    """A row with the trainer's four keys at top level (no other schema has plain "prompt")."""
    return set(PAIR_KEYS) <= keys


def pairs_file(path: Path) -> Path | None:
    """``path`` itself, or the preferences.jsonl in an ``iter_<k>/pairs/`` (or ``iter_<k>/``) folder."""
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / PREFERENCES_FILE, path / "pairs" / PREFERENCES_FILE):
        if candidate.is_file():
            return candidate
    return None


def _images_root(pairs: Path) -> tuple[Path | None, str]:
    """The summary's "images_root" (and where it came from), if the sibling summary.json has one."""
    summary = pairs.with_name(SUMMARY_FILE)
    try:
        recorded = json.loads(summary.read_text(encoding="utf-8")).get("images_root")
    except (OSError, ValueError, AttributeError):
        return None, ""
    if not isinstance(recorded, str) or not recorded:
        return None, ""
    run_dir = pairs.parent.parent.parent  # <run>/iter_<k>/pairs/preferences.jsonl
    root = Path(from_run_relative(recorded, run_dir)).expanduser()
    return (root if root.is_absolute() else summary.parent / root), f"{summary}'s images_root"


def read(path: Path, context: SourceContext) -> R.Reading:
    path = pairs_file(path) or Path(path)
    reading = R.Reading(details={"file": str(path)})
    root, root_from = (Path(context.images_dir), "--prompt-images") if context.images_dir else _images_root(path)
    if root is not None:
        reading.details["images_root"] = str(root)
    for number, row in enumerate(read_json_rows(path), start=1):
        reading.rows += 1
        reason, texts = R.check_texts(row.get("prompt"), row.get("chosen"), row.get("rejected"))
        if reason:
            reading.skipped[reason] += 1
            continue
        image = R.text(row.get("image"))
        if image is None:
            reading.skipped[R.NO_IMAGE] += 1
            continue
        file = Path(image).expanduser()
        if not file.is_absolute():
            if root is None:
                reason = "relative image path, no --prompt-images and no images_root in summary.json"
                reading.skipped[reason] += 1
                reading.explain[reason] = (f"name a relative image path and neither --prompt-images nor "
                                           f"{path.with_name(SUMMARY_FILE)} gives the folder")
                continue
            file = root / file
        if not file.is_file():
            reading.skipped[R.NOT_FOUND] += 1
            reading.explain[R.NOT_FOUND] = f"name an image that is not there (e.g. {file}" + (
                f", resolved in {root_from})" if root_from and not Path(image).is_absolute() else ")")
            continue
        extra: dict[str, Any] = {k: v for k, v in row.items() if k not in PAIR_KEYS and k != "id"}
        ident = row.get("id", row.get("prompt_id", number - 1))
        reading.candidates.append(R.Candidate(str(ident), *texts, image_file=file, extra=extra))
    return reading
