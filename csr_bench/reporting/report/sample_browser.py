"""The HTML report's sample browser: each document's image beside the model's answer at every
iteration, CHAIR's hallucinated object words marked in the captions, POPE's mistakes listed, and the
preference pairs the method built with their rewards (and, where the model's data has image annotations,
each side's CHAIR with its object words marked and the iteration's pair accuracy: reporting/pair_accuracy.py).

The documents' images come from an image source the command passes in (evaluation.document_images
reloads each task's data as the run read it), so reporting itself reads files only.
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any, Callable, Protocol

from csr_bench.reporting.pair_accuracy import PairAccuracy, PairScore
from csr_bench.reporting.run_data import IterationData, RunData
from csr_bench.scorers.chair_words import caption_objects, object_spans

THUMBNAIL_PX = 256
CALIBRATION_NOTES = {
    "reference": "reference calibration: the reward is a rank score, lower is better",
    "paper": "paper calibration: higher reward is better",
}


def image_data_uri(image) -> str:
    """A PIL image as an inline PNG, downscaled to THUMBNAIL_PX so the page stays light."""
    image = image.convert("RGB")
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def file_data_uri(path: str | Path) -> str | None:
    """The image file as an inline PNG; None when it is missing or unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image_data_uri(image)
    except (OSError, ValueError, SyntaxError):
        return None


class DocumentImages(Protocol):
    """One task's document images by doc_id; ``problem`` says why there are none (shown instead)."""

    problem: str | None

    def uri(self, doc_id: Any) -> str | None: ...


# (task, its results.json entry) -> that task's document images
ImageSource = Callable[[str, dict[str, Any]], DocumentImages]


class NoImages:
    """The images of a report made without an image source."""

    problem = "images not shown: the report was made without the tasks' data"

    def uri(self, doc_id: Any) -> None:
        return None


def _image_cell(uri: str | None, note: str = "image not found") -> str:
    if uri is None:
        return f'<div class="noimage">{escape(note)}</div>'
    return f'<img class="thumb" src="{uri}" alt="">'


def highlight_objects(caption: str, hallucinated: list[str] | set[str]) -> str:
    """The caption as HTML, every object word marked: hallucinated ones (not in the image) apart."""
    hallucinated = set(hallucinated)
    parts, at = [], 0
    for start, end, obj in object_spans(caption):
        kind = "hallucinated" if obj in hallucinated else "object"
        parts.append(escape(caption[at:start]))
        parts.append(f'<mark class="{kind}" title="{escape(obj)}">{escape(caption[start:end])}</mark>')
        at = end
    parts.append(escape(caption[at:]))
    return "".join(parts)


def _expected(record: dict[str, Any]) -> str:
    """The reference answer as a reader wants it: a choice's letter and text, VQA's distinct answers."""
    if "ground_truth_objects" in record:
        return "objects in the image: " + ", ".join(record["ground_truth_objects"])
    if isinstance(record.get("answers"), list):
        return "answers: " + ", ".join(f"{a} ×{n}" if n > 1 else str(a) for a, n in Counter(record["answers"]).items())
    answer = record.get("answer")
    if answer is None:
        return ""
    choices = record.get("choices")
    if isinstance(answer, int) and isinstance(choices, list) and 0 <= answer < len(choices):
        return f"answer: {chr(65 + answer)}. {choices[answer]}"
    return f"answer: {answer}"


def _verdict(record: dict[str, Any]) -> str:
    if "hallucinated_objects" in record:
        wrong = record["hallucinated_objects"]
        return ('<span class="bad">✗ ' + escape(", ".join(wrong)) + "</span>") if wrong else '<span class="good">✓</span>'
    if isinstance(record.get("correct"), bool):
        return '<span class="good">✓</span>' if record["correct"] else '<span class="bad">✗</span>'
    for key in ("accuracy", "score"):
        if isinstance(record.get(key), (int, float)):
            return f'<span class="score">{key} {record[key]:g}</span>'
    return ""


def _answer_html(record: dict[str, Any]) -> str:
    prediction = str(record.get("prediction", ""))
    if "hallucinated_objects" in record:
        return highlight_objects(prediction, record["hallucinated_objects"])
    return escape(prediction)


def _by_doc(iterations: list[IterationData], task: str) -> tuple[list[str], dict[int, dict[str, dict]]]:
    """Documents in order (first seen) and each iteration's records, keyed alike across iterations."""
    order: dict[str, None] = {}
    records: dict[int, dict[str, dict]] = {}
    for item in iterations:
        if task in item.results and not item.results[task].get("skipped"):
            records[item.iteration] = {json.dumps(r.get("doc_id")): r for r in item.samples(task)}
            order.update(dict.fromkeys(records[item.iteration]))
    return list(order), records


def _sample_card(key: str, records: dict[int, dict[str, dict]], images: DocumentImages) -> str:
    first = next(by_key[key] for by_key in records.values() if key in by_key)
    note = "no image (see above)" if images.problem else "image not found"
    rows = []
    for iteration, by_key in records.items():
        record = by_key.get(key)
        answer = _answer_html(record) if record else '<span class="missing">not evaluated</span>'
        verdict = _verdict(record) if record else ""
        rows.append(f'<tr><th>iter {iteration}</th><td class="answer">{answer}</td><td class="verdict">{verdict}</td></tr>')
    return (f'<div class="sample">{_image_cell(images.uri(first.get("doc_id")), note)}<div class="body">'
            f'<div class="doc">doc {escape(str(first.get("doc_id")))}</div>'
            f'<div class="prompt">{escape(str(first.get("prompt", first.get("question", ""))))}</div>'
            f'<div class="expected">{escape(_expected(first))}</div>'
            f'<table class="answers">{"".join(rows)}</table></div></div>')


def pope_mistakes(item: IterationData) -> str:
    """POPE's wrong answers of one iteration, with the count per split."""
    records = item.samples("pope")
    wrong = [r for r in records if not r.get("correct")]
    splits = Counter(r.get("category", "?") for r in wrong)
    by_split = ", ".join(f"{split} {n}" for split, n in sorted(splits.items()))
    rows = "".join(
        f'<tr><td>{escape(str(r.get("doc_id")))}</td><td>{escape(str(r.get("category", "")))}</td>'
        f'<td>{escape(str(r.get("question", "")))}</td><td>{escape(str(r.get("answer", "")))}</td>'
        f'<td>{escape(str(r.get("prediction", "")))}</td></tr>' for r in wrong)
    table = (f'<table class="mistakes"><thead><tr><th>doc</th><th>split</th><th>question</th><th>label</th>'
             f'<th>prediction</th></tr></thead><tbody>{rows}</tbody></table>') if wrong else ""
    return (f'<details class="pope-mistakes" data-iteration="{item.iteration}"><summary>iteration {item.iteration}: '
            f'{len(wrong)} mistakes of {len(records)}{f" ({by_split})" if by_split else ""}</summary>{table}</details>')


def task_section(run: RunData, task: str, images_of: ImageSource | None, max_samples: int) -> str:
    """One task: its skips, POPE's mistakes, then the first ``max_samples`` documents (their images
    from ``images_of``; none without it)."""
    skipped = [f"iteration {i.iteration}: {i.skipped()[task]}" for i in run.iterations if task in i.skipped()]
    keys, records = _by_doc(run.iterations, task)
    parts = [f'<section class="task" id="task-{escape(task)}"><h3>{escape(task)}</h3>']
    parts += [f'<p class="note">skipped at {escape(line)}</p>' for line in skipped]
    if task == "pope":
        parts.append("<h4>Mistakes</h4>")
        parts += [pope_mistakes(i) for i in run.iterations if i.iteration in records]
    if keys:
        entry = next(i.results[task] for i in run.iterations if i.iteration in records)
        images = images_of(task, entry) if images_of is not None else NoImages()
        shown = keys[:max_samples]
        parts.append(f'<details class="samples"><summary>samples: {len(shown)} of {len(keys)} documents'
                     f'{f" ({escape(images.problem)})" if images.problem else ""}</summary>')
        parts += [_sample_card(key, records, images) for key in shown]
        parts.append("</details>")
    parts.append("</section>")
    return "".join(parts)


def _pair_row(pair: dict[str, Any], images: dict[str, str | None], images_root: str | None,
              score: PairScore | None = None) -> str:
    """A pair's row; with its ``score`` (pair accuracy), each side's CHAIR_I and CHAIR_S and its object
    words marked, as in CHAIR's captions."""
    path = str(pair.get("image", ""))
    if path and images_root and not Path(path).is_absolute():
        path = str(Path(images_root) / path)
    if path not in images:
        images[path] = file_data_uri(path) if path else None
    cells = []
    for side in ("chosen", "rejected"):
        reward = pair.get(f"{side}_reward")
        label = f"{side}, reward {reward:.3f}" if isinstance(reward, (int, float)) else side
        text = str(pair.get(side, ""))
        if score is not None:
            side_score = getattr(score, side)
            label += f" · CHAIR_I {100 * side_score.chair_i:.1f}, CHAIR_S {side_score.chair_s}"
            hallucinated = [o for o in caption_objects(text).objects if o not in score.objects]
            body = highlight_objects(text, hallucinated)
        else:
            body = escape(text)
        cells.append(f'<td class="{side}"><div class="reward">{label}</div>{body}</td>')
    return (f'<tr><td>{_image_cell(images[path], "image not found: " + path)}</td>'
            f'<td>{escape(str(pair.get("prompt", "")))}</td>{"".join(cells)}</tr>')


def pairs_note(summary: dict[str, Any], pairs: list[dict[str, Any]]) -> str:
    """What the iteration's pairs/summary.json says about where the pairs came from, whatever the
    method: a self-rewarding method's calibration, a released set's source and the rows it skipped."""
    notes = []
    calibration = summary.get("calibration") or pairs[0].get("mode")
    if calibration:
        notes.append(CALIBRATION_NOTES.get(calibration, f"calibration {calibration}"))
    if summary.get("source"):
        notes.append(f"from {summary['source']}" + (f" ({summary['schema']} schema)" if summary.get("schema") else ""))
    skipped = summary.get("skipped")
    if isinstance(skipped, dict) and skipped:  # a released set: reason -> rows
        reasons = ", ".join(f"{reason} ({count})" for reason, count in skipped.items())
        notes.append(f"{sum(skipped.values())} rows skipped: {reasons}")
    elif skipped:  # a method that generates: the prompts that gave no pair
        notes.append(f"{len(skipped)} prompts gave no pair")
    return "; ".join(notes) or "no account of the pairs recorded"


def pair_accuracy_note(scored: PairAccuracy | None) -> str:
    """How often the chosen response hallucinates less than the rejected one (CHAIR_I, CHAIR_S), or why
    the pairs are not scored; '' for an iteration without pairs."""
    if scored is None:
        return ""
    lines = [accuracy.describe() for accuracy in (scored.chair_i, scored.chair_s) if accuracy is not None]
    if scored.note():
        lines.append(scored.note())
    text = "; ".join(lines)
    return f'<p class="note">pair accuracy (the chosen response scored strictly lower): {escape(text)}</p>'


def pairs_section(run: RunData, max_samples: int) -> str:
    """Each iteration's preference pairs (the first ``max_samples``), chosen beside rejected."""
    images: dict[str, str | None] = {}  # prompt images recur across iterations: encode each once
    parts = []
    for item in run.iterations:
        pairs = item.preferences()
        if not pairs:
            continue
        summary = item.summary or {}
        method = summary.get("method") or run.config.get("method")
        kind = f"{method} pairs" if method else "pairs"
        scored = run.pair_accuracy(item)
        scores = scored.scores if scored is not None else (None,) * len(pairs)
        rows = "".join(_pair_row(pair, images, summary.get("images_root"), score)
                       for pair, score in zip(pairs[:max_samples], scores))
        parts.append(
            f'<details class="pairs" data-iteration="{item.iteration}"><summary>iteration {item.iteration}: '
            f'{min(len(pairs), max_samples)} of {len(pairs)} {escape(kind)} — '
            f'{escape(pairs_note(summary, pairs))}</summary>{pair_accuracy_note(scored)}'
            f'<table class="pairs"><thead><tr><th>image</th><th>prompt</th><th>chosen</th><th>rejected</th></tr>'
            f'</thead><tbody>{rows}</tbody></table></details>')
    return "".join(parts) or '<p class="note">No preference pairs in this run.</p>'


__all__ = ["DocumentImages", "ImageSource", "NoImages", "file_data_uri", "highlight_objects", "image_data_uri",
           "pair_accuracy_note", "pairs_note", "pairs_section", "pope_mistakes", "task_section"]
