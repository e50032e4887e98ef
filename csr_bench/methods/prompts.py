"""The CSR prompt set: images paired with the reference's 11 detailed-description questions.

Two sources: a folder of images (each gets a question drawn by seed), or the reference's own prompt
file (inference_csr/data/CSR-Prompt-Dataset-12k.json: {"id", "image", "input"} over COCO train2014,
the paper setting) with the folder holding its images. Sampled by seed; ``limit`` caps the count.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from csr_bench.errors import CsrBenchError
from csr_bench.images import image_files, open_rgb
from csr_bench.prompt_text import question_draw


@dataclass(frozen=True)
class PromptItem:
    prompt_id: str
    image_path: Path
    question: str

    def load_image(self):
        return open_rgb(self.image_path, f"prompt {self.prompt_id}")


def _from_folder(folder: Path, seed: int) -> tuple[list[PromptItem], random.Random]:
    """The folder's images, each with its question, and the generator that drew them (it shuffles next)."""
    paths = image_files(folder, "prompt images")
    questions, rng = question_draw(len(paths), seed)
    return [PromptItem(str(p.relative_to(folder).with_suffix("")), p, q) for p, q in zip(paths, questions)], rng


def _from_reference_file(path: Path, images: Path) -> list[PromptItem]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CsrBenchError(f"{path}: cannot read the prompt file ({exc})") from None
    items = []
    for number, row in enumerate(rows):
        if not isinstance(row, dict) or not {"id", "image", "input"} <= set(row):
            raise CsrBenchError(f"{path}: entry {number} lacks id/image/input")
        question = row["input"].replace("<image>\n", "").replace("\n<image>", "").replace("<image>", "").strip()
        name = row["image"]
        image = images / name
        if not image.exists() and (images / f"COCO_train2014_{name}").exists():
            image = images / f"COCO_train2014_{name}"  # the reference prefixes COCO's file names
        items.append(PromptItem(str(row["id"]), image, question))
    return items


def build_prompt_set(source: str | Path, *, images: str | Path | None = None, limit: int | None = None,
                     seed: int = 0) -> list[PromptItem]:
    """Prompts from an image folder, or from the reference's JSON with ``images`` as its image folder."""
    source = Path(source).expanduser()
    if source.is_dir():
        items, rng = _from_folder(source, seed)
    elif source.is_file():
        if images is None:
            raise CsrBenchError(f"{source}: a prompt file needs --prompt-images DIR (its images, e.g. COCO train2014)")
        items, rng = _from_reference_file(source, Path(images).expanduser()), random.Random(seed)
    else:
        raise CsrBenchError(f"prompt source not found: {source}")
    rng.shuffle(items)
    items = items[:limit] if limit is not None else items
    missing = [item for item in items if not item.image_path.is_file()]
    if missing:
        raise CsrBenchError(f"prompt {missing[0].prompt_id}: image file not found: {missing[0].image_path}"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return items


def configured_prompt_set(config, method: str) -> list[PromptItem]:
    """The prompt set a method's config names (its prompt_source, prompt_images, prompts, prompt_seed
    fields: CSR's, and Self-rewarding's, which trains on CSR's prompts)."""
    if not config.prompt_source:
        raise CsrBenchError(f"{method} needs prompt images: pass --prompt-source (an image folder, or the reference's "
                            "prompt JSON with --prompt-images)")
    return build_prompt_set(config.prompt_source, images=config.prompt_images, limit=config.prompts,
                            seed=config.prompt_seed)
