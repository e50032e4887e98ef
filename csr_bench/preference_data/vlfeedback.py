"""VLFeedback (MMInstruction/VLFeedback, Silkie, arXiv 2312.10665): per prompt several model
completions, each rated 1-5 by GPT-4V on Helpfulness, Visual Faithfulness and Ethical Considerations.

Hub layout (hub file list and its loading script VLFeedback.py, verified): ``vlfeedback_80k.jsonl``,
rows {"id", "prompt", "models", "completions": [{"annotations": {aspect: {"Rating", "Rationale"}},
"model", "response"}]}, and ``merged_images.zip`` holding ``merged_images/<id>.jpg`` (the script sets
img_path to it). A row's image is, in order: ``<id>.jpg`` in --prompt-images (the zip extracted), the
member ``merged_images/<id>.jpg`` of a merged_images.zip beside the JSONL (read for the kept rows
only), or the row's "img_path" when that file exists (a datasets export; there "completions" is a
dict of lists, also read).

Pairs as Silkie builds them (vlf-silkie/VLFeedback run_dpo.py, make_vlfeedback_paired_dataset):
every two completions i < j of a prompt (itertools.combinations); each one's score is the mean of
float(Rating) over all its aspects; a pair with a rating that is not a number is dropped (the
reference's ``except ValueError: continue``), the higher mean is chosen, equal means are dropped. No
sampling: a prompt with 4 completions gives up to 6 pairs.
"""

from __future__ import annotations

import zipfile
from itertools import combinations
from pathlib import Path
from typing import Any

from csr_bench.preference_data import rows as R
from csr_bench.preference_data.base import SourceContext
from csr_bench.preference_data.records import read_json_rows, table_files

SCHEMA = "vlfeedback"
FEEDBACK_FILE = "vlfeedback_80k.jsonl"
IMAGES_ZIP = "merged_images.zip"
TIE = "completion pairs with equal mean ratings (Silkie drops them)"
NOT_A_NUMBER = "completion pairs with a rating that is not a number (Silkie drops them)"
NO_ANNOTATION = "completion pairs with a missing aspect annotation"
FEW = "fewer than 2 completions"


def matches(keys: set[str]) -> bool:
    return {"prompt", "completions"} <= keys


def _completions(value: Any) -> list[dict[str, Any]]:
    """A list of {"annotations", "response", "model"}: the JSONL's rows, or a datasets export's dict of lists."""
    if isinstance(value, dict):
        keys = list(value)
        length = min((len(v) for v in value.values() if isinstance(v, list)), default=0)
        return [{k: value[k][i] if isinstance(value[k], list) else None for k in keys} for i in range(length)]
    return [c if isinstance(c, dict) else {} for c in value] if isinstance(value, list) else []


def mean_rating(annotations: Any) -> float:
    """Silkie's score of a completion: the mean of float(Rating) over its aspects.
    Raises ValueError for a rating that is not a number, KeyError/TypeError for a missing one."""
    if not isinstance(annotations, dict) or not annotations:
        raise KeyError("annotations")
    ratings = [float(aspect["Rating"]) for aspect in annotations.values()]
    return sum(ratings) / len(ratings)


def _images(path: Path) -> zipfile.ZipFile | None:
    folder = path if path.is_dir() else path.parent
    archive = folder / IMAGES_ZIP
    if not archive.is_file():
        return None
    try:
        return zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile):
        return None


def _zip_loader(archive: zipfile.ZipFile, member: str):
    def load() -> bytes | None:
        try:
            return archive.read(member)
        except KeyError:
            return None
    return load


def read(path: Path, context: SourceContext) -> R.Reading:
    path = Path(path)
    files = [f for f in table_files(path) if f.suffix in (".json", ".jsonl")]
    if path.is_dir() and any(f.name == FEEDBACK_FILE for f in files):
        files = [f for f in files if f.name == FEEDBACK_FILE]
    reading = R.Reading(details={"file": ", ".join(str(f) for f in files),
                                 "pair_rule": "Silkie: every two completions, higher mean aspect rating chosen, "
                                              "ties and non-numeric ratings dropped"})
    archive = _images(path)
    members = set(archive.namelist()) if archive else set()
    for index, row in enumerate(row for f in files for row in read_json_rows(f)):
        reading.rows += 1
        prompt = R.clean_prompt(row.get("prompt"))
        if prompt is None:
            reading.skipped[R.MISSING.format("prompt")] += 1
            continue
        completions = _completions(row.get("completions"))
        if len(completions) < 2:
            reading.skipped[FEW] += 1
            continue
        ident = str(row.get("id", index))
        made = []
        for i, j in combinations(range(len(completions)), 2):
            try:
                first, second = (mean_rating(completions[k].get("annotations")) for k in (i, j))
            except ValueError:
                reading.skipped[NOT_A_NUMBER] += 1
                continue
            except (KeyError, TypeError):
                reading.skipped[NO_ANNOTATION] += 1
                continue
            if first == second:
                reading.skipped[TIE] += 1
                continue
            win, lose = (i, j) if first > second else (j, i)
            reason, texts = R.check_texts(prompt, completions[win].get("response"), completions[lose].get("response"))
            if reason:
                reading.skipped[f"completion pairs: {reason}"] += 1
                continue
            made.append(R.Candidate(f"{ident}:{win}>{lose}", *texts, extra={
                "source_id": ident, "chosen_model": completions[win].get("model"),
                "rejected_model": completions[lose].get("model"),
                "chosen_rating": max(first, second), "rejected_rating": min(first, second)}))
        if not made:
            continue
        reason = _attach(made, ident, row, context, reading, archive, members)
        if reason:
            reading.skipped[f"completion pairs: {reason}"] += len(made)
            continue
        reading.candidates.extend(made)
    return reading


def _attach(made: list[R.Candidate], ident: str, row: dict, context: SourceContext, reading: R.Reading,
            archive: zipfile.ZipFile | None, members: set[str]) -> str | None:
    """The row's image for each of its pairs (one extracted file for all of them)."""
    name = f"{ident}.jpg"
    if context.images_dir is not None and (Path(context.images_dir) / name).is_file():
        for candidate in made:
            candidate.image_file = Path(context.images_dir) / name
        return None
    member = f"merged_images/{name}"
    if archive is not None and member in members:
        for candidate in made:
            candidate.image_bytes, candidate.image_name = _zip_loader(archive, member), R.safe_name(name)
        return None
    img_path = R.text(row.get("img_path"))
    if img_path and Path(img_path).is_file():
        for candidate in made:
            candidate.image_file = Path(img_path)
        return None
    if context.images_dir is not None:
        reading.explain["completion pairs: " + R.NOT_IN_DIR] = (
            f"(completion pairs) whose image {ident}.jpg is not in --prompt-images {context.images_dir} "
            f"nor in a {IMAGES_ZIP} beside the file")
        return R.NOT_IN_DIR
    reading.explain["completion pairs: " + R.NOT_FOUND] = (
        f"(completion pairs) whose image is in no {IMAGES_ZIP} beside the file; pass --prompt-images with the "
        "extracted merged_images/")
    return R.NOT_FOUND
