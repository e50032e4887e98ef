"""RLHF-V (openbmb/RLHF-V-Dataset, arXiv 2312.00849): human segment-level corrections of model answers.

Hub layout (dataset card, verified; main holds one file, RLHF-V-Dataset.parquet): columns ds_name,
image (a datasets Image: {"bytes", "path"}), text (a JSON string {"question", "chosen", "rejected"}),
origin_dataset, origin_split, idx (int64), image_path. The reference reader (RLHF-V's muffin data
code) does ``json.loads(sample["text"])`` and prepends "<image>\\n" to the question; we keep the
question plain and the shared trainer adds the image token, as for every source. A JSON/JSONL
copy with the same keys, and "image" as a file name resolved in --prompt-images, reads the same.
"""

from __future__ import annotations

import json
from pathlib import Path

from csr_bench.preference_data import rows as R
from csr_bench.preference_data.base import SourceContext
from csr_bench.preference_data.records import open_table

SCHEMA = "rlhf-v"
KEPT = ("ds_name", "origin_dataset", "origin_split", "idx", "image_path")  # carried into each pair


def matches(keys: set[str]) -> bool:
    return "text" in keys and ("image" in keys or "image_path" in keys) and "chosen" not in keys


def _text(value) -> dict | None:
    if isinstance(value, dict):
        return value
    try:
        found = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def read(path: Path, context: SourceContext) -> R.Reading:
    names, table, rows = open_table(path)
    reading = R.Reading(details={"file": names})
    for index, row in enumerate(rows):
        reading.rows += 1
        text = _text(row.get("text"))
        if text is None:
            reading.skipped["text is not a JSON object with question/chosen/rejected"] += 1
            continue
        reason, texts = R.check_texts(R.clean_prompt(text.get("question")), text.get("chosen"), text.get("rejected"))
        if reason:
            reading.skipped[reason] += 1
            continue
        ident = row.get("idx", index)
        candidate = R.Candidate(str(ident), *texts, extra={k: row[k] for k in KEPT if k in row and k != "idx"})
        loader = table.loader(index) if table and table.has_images else None
        reason = R.attach_image(candidate, row.get("image"), row.get("image_path"), context, reading,
                                loader=loader, key=str(index))
        if reason:
            reading.skipped[reason] += 1
            continue
        reading.candidates.append(candidate)
    return reading
