"""RLAIF-V (openbmb/RLAIF-V-Dataset, arXiv 2405.17220): pairs labelled by open-source MLLM feedback.

Hub layout (dataset card, verified): parquet files with columns ds_name, image (a datasets Image:
{"bytes", "path"}), question, chosen, rejected, origin_dataset, origin_split, idx (string),
image_path. The names of the parquet files are not fixed here (unverified): every ``*.parquet`` of
the data set is read, in name order. A JSON/JSONL copy with the same keys, and "image" as a file
name resolved in --prompt-images, is read the same way.
"""

from __future__ import annotations

from pathlib import Path

from csr_bench.preference_data import rows as R
from csr_bench.preference_data.base import SourceContext
from csr_bench.preference_data.records import open_table

SCHEMA = "rlaif-v"
KEPT = ("ds_name", "origin_dataset", "origin_split", "image_path")


def matches(keys: set[str]) -> bool:
    return {"question", "chosen", "rejected"} <= keys and ("image" in keys or "image_path" in keys)


def read(path: Path, context: SourceContext) -> R.Reading:
    names, table, rows = open_table(path)
    reading = R.Reading(details={"file": names})
    for index, row in enumerate(rows):
        reading.rows += 1
        reason, texts = R.check_texts(R.clean_prompt(row.get("question")), row.get("chosen"), row.get("rejected"))
        if reason:
            reading.skipped[reason] += 1
            continue
        candidate = R.Candidate(str(row.get("idx", index)), *texts, extra={k: row[k] for k in KEPT if k in row})
        reason = R.attach_image(candidate, row.get("image"), row.get("image_path"), context, reading,
                                loader=table.loader(index) if table and table.has_images else None, key=str(index))
        if reason:
            reading.skipped[reason] += 1
            continue
        reading.candidates.append(candidate)
    return reading
