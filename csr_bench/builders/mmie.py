"""The MMIE data folder from its release (the gated hub set MMIE/MMIE, read from a local copy): one row
per item with the question as MMIE's evaluator shows it to its judge (Lillianwei-h/MMIE @ eb0fd6e,
dataset.py: each text part and a line ``Image-k: <image>`` per question image found), the same text
for the evaluated model with the markers pointing into one picture (the question's images side by
side: csr-bench gives a model one image per document), the category, the reference answer's text,
and where each question image sits in the picture (the judge gets them back one by one). Items with
more than 4 images are dropped, as dataset.py drops them. Details: docs/benchmarks.md, "MMIE".

Two input schemas, told apart per item:
- the README's evaluation format, ``{"id", "question": [{"text", "image"}...], "answer", "model",
  "gt_answer": [{"text", "image"}...]}`` (images relative to the input folder, as dataset.py joins them);
- the hub's rows as lmms-eval reads them (EvolvingLMMs-Lab/lmms-eval @ 75571cfe, tasks/mmie/utils.py):
  ``{"id", "conversations": [{"from": "human", "content": [...]}, {"from": "gpt", "content": [...]}]}``,
  the gpt turn taken as the reference answer (unverified against the gated files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csr_bench.builders.output import write_jsonl
from csr_bench.errors import CsrBenchError
from csr_bench.scorers.mmie import CATEGORIES, category_of

MAX_IMAGES = 4  # dataset.py: ``if len(images) <= 4`` keeps an item
BLANK_SIZE = (64, 64)  # the picture of an item whose question has no image (the evaluator needs one)


def _parts(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(p, dict) and set(p) >= {"text", "image"} for p in value):
        raise CsrBenchError(f"{where}: expected a list of {{\"text\", \"image\"}} parts, got {str(value)[:80]!r}")
    return value


def _turns(item: dict[str, Any], where: str) -> tuple[list[dict[str, Any]], str | None]:
    """(question parts, the reference answer's text as dataset.py reads gt_answer: its first part's)."""
    if "question" in item:
        question = _parts(item["question"], f"{where} question")
        reference = _parts(item.get("gt_answer", [{"text": None, "image": None}]), f"{where} gt_answer")
    elif "conversations" in item:
        turns = {t.get("from"): t.get("content") for t in item["conversations"] if isinstance(t, dict)}
        question = _parts(turns.get("human"), f"{where} conversations (human)")
        reference = _parts(turns.get("gpt") or [{"text": None, "image": None}], f"{where} conversations (gpt)")
    else:
        raise CsrBenchError(f"{where}: neither 'question' (the README's format) nor 'conversations' (the hub's)")
    text = reference[0]["text"] if reference else None
    if text is not None and not isinstance(text, str):
        raise CsrBenchError(f"{where}: the reference answer's text must be a string or null, got {text!r}")
    return question, text


def model_marker(k: int, n: int) -> str:
    """What the evaluated model reads where the judge reads ``Image-k: <image>`` (ours: a literal <image>
    would be taken for an image token by LLaVA-style prompts)."""
    return "Image-0: [the picture]" if n == 1 else f"Image-{k}: [image {k + 1} of {n} in the picture, left to right]"


def assemble(question: list[dict[str, Any]], root: Path) -> tuple[str, list[Path], list[str], int]:
    """dataset.py's question text (text parts and image markers, each line ending in a newline; a
    missing image file gets no marker), the images found, the text parts and markers in order, and
    the number of image files not found."""
    text, images, pieces, missing = "", [], [], 0
    for part in question:
        if part["text"] is not None:
            text += str(part["text"]) + "\n"
            pieces.append(str(part["text"]))
        if part["image"] is not None:
            path = root / str(part["image"])
            if path.is_file():
                text += f"Image-{len(images)}: <image>\n"
                pieces.append(len(images))  # type: ignore[arg-type]  # a marker, numbered
                images.append(path)
            else:
                missing += 1
    return text, images, pieces, missing


def concatenate(paths: list[Path]):
    """The images side by side at their own sizes on black, top-aligned (VLMEvalKit's
    concat_images_vlmeval, mode 'h', target_size -1), and each one's box (x, y, width, height)."""
    from PIL import Image

    from csr_bench.images import open_rgb

    if not paths:
        return Image.new("RGB", BLANK_SIZE), []
    pictures = [open_rgb(path) for path in paths]
    canvas = Image.new("RGB", (sum(p.width for p in pictures), max(p.height for p in pictures)))
    boxes, x = [], 0
    for picture in pictures:
        canvas.paste(picture, (x, 0))
        boxes.append([x, 0, picture.width, picture.height])
        x += picture.width
    return canvas, boxes


def build_mmie(source: Path, out: Path, images_root: Path | None = None) -> dict[str, Any]:
    """Write OUT/mmie.jsonl and OUT/images/; returns the counts (kept and dropped per category, image
    files not found). ``images_root``: what image paths are relative to (default: the JSON's folder)."""
    if not source.is_file():
        raise CsrBenchError(f"mmie: {source} not found")
    try:
        items = json.loads(source.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CsrBenchError(f"mmie: {source} is not JSON ({exc})") from None
    if not isinstance(items, list):
        raise CsrBenchError(f"mmie: {source} must hold a JSON list of items")
    root = images_root if images_root is not None else source.parent
    kept = {c: 0 for c in CATEGORIES}
    dropped = {c: 0 for c in CATEGORIES}
    missing, rows, seen = 0, [], set()
    (out / "images").mkdir(parents=True, exist_ok=True)
    for index, item in enumerate(items):
        where = f"{source} item {index}"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise CsrBenchError(f"{where}: an item needs a string 'id'")
        item_id = item["id"]
        category = category_of(item_id)
        if category is None:
            raise CsrBenchError(f"{where}: id {item_id!r} holds none of SA, PBL, MSR (its category)")
        if item_id in seen:
            raise CsrBenchError(f"{where}: id {item_id!r} appears twice")
        seen.add(item_id)
        question, reference = _turns(item, f"{where} ({item_id})")
        text, paths, pieces, lost = assemble(question, root)
        missing += lost
        if len(paths) > MAX_IMAGES:  # a text answer adds no image, so the question's count decides
            dropped[category] += 1
            continue
        picture, boxes = concatenate(paths)
        name = f"images/{index:06d}.png"
        picture.save(out / name)
        prompt = "\n".join(p if isinstance(p, str) else model_marker(p, len(paths)) for p in pieces)
        rows.append({"id": item_id, "category": category, "question": text, "prompt_text": prompt,
                     "gt_answer": reference, "n_question_images": len(paths), "image_boxes": boxes, "image": name})
        kept[category] += 1
    write_jsonl(out / "mmie.jsonl", rows)
    return {"kept": kept, "dropped_over_4_images": dropped, "image_files_missing": missing}
