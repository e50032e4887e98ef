"""SIMA's prompts: an image, a question and its ground-truth answer (the critic judges against it).

Three sources: the reference's hub set (furonghuang-lab/SIMA_prompts, self_generation_prompts.jsonl:
one ``{"image", "text", "ground_truth"}`` row a line, images from COCO train2017, per the SIMA README),
a local .jsonl/.json in that schema, or a model's own set ``<model>:<set>`` (``ModelSpec.prompt_sets``:
the world's ``world:captions``). ``limit`` draws as CSR's prompt set does (methods/prompts.py), so the
same seed on the same image folder draws the same images as CSR.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.images import open_rgb
from csr_bench.prompt_text import question_draw

HUB_FILES = {"furonghuang-lab/SIMA_prompts": "self_generation_prompts.jsonl"}  # the hub tree lists this one file
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MODEL_SET = re.compile(r"^([\w.-]+):([\w.-]+)$")  # world:captions
FIELDS = ("image", "text", "ground_truth")


@dataclass(frozen=True)
class SimaPrompt:
    prompt_id: str
    image: str  # an absolute path
    question: str
    ground_truth: str

    def load_image(self):
        return open_rgb(self.image, f"prompt {self.prompt_id}")


def draw(items: list[Any], limit: int | None, seed: int) -> list[Any]:
    """``items`` shuffled, the first ``limit`` kept, by CSR's draw (prompt_text.question_draw): the same
    images as CSR's prompt set of the same sorted folder and seed."""
    _, rng = question_draw(len(items), seed)
    items = list(items)
    rng.shuffle(items)
    return items[:limit] if limit is not None else items


def _file_prompts(path: Path, images: str | None, where: str) -> list[SimaPrompt]:
    """The rows of a file in the SIMA_prompts schema; a row's id is its position in the file."""
    prompts = []
    from csr_bench.storage.files import read_json_records

    for number, row in enumerate(read_json_records(path, "SIMA prompt rows")):
        if not isinstance(row, dict) or not all(isinstance(row.get(key), str) for key in FIELDS):
            raise CsrBenchError(f"{where}: {path} row {number} lacks one of {', '.join(FIELDS)} (SIMA_prompts' "
                                "schema: text fields image, text, ground_truth)")
        image = Path(row["image"]).expanduser()
        if not image.is_absolute():
            if images is None:
                raise CsrBenchError(f"{where}: {path} names its images relative to a folder: pass --prompt-images DIR "
                                    "(COCO train2017 for SIMA_prompts)")
            image = Path(images).expanduser() / image
        prompts.append(SimaPrompt(str(number), str(image.resolve()), row["text"], row["ground_truth"]))
    return prompts


def _hub_file(repo: str, where: str) -> Path:
    from csr_bench.preference_data.hub import fetch_files

    patterns = (HUB_FILES[repo],) if repo in HUB_FILES else ("*.jsonl", "*.json")
    return fetch_files(repo, patterns, where)[1][0]


def _model_prompts(model: str, name: str, data_root: str | None, where: str) -> list[SimaPrompt]:
    from csr_bench.lazy import load_target
    from csr_bench.models.registry import resolve_model
    from csr_bench.tasks.data import resolve_data_root

    sets = dict(getattr(resolve_model(model), "prompt_sets", None) or {})
    if name not in sets:
        known = ", ".join(f"{model}:{n}" for n in sorted(sets)) or "none"
        raise CsrBenchError(f"{where} {model}:{name}: model {model} has no prompt set {name!r} (known: {known})")
    root = resolve_data_root(data_root) if data_root is not None else None
    if root is None:
        raise CsrBenchError(f"{where} {model}:{name}: needs the run's data root (--data-root)")
    try:
        make = load_target(sets[name])
    except (ImportError, AttributeError, ValueError) as exc:
        raise CsrBenchError(f"{where} {model}:{name}: cannot load {sets[name]}: {exc}") from None
    return [SimaPrompt(str(row["id"]), str(row["image"]), row["question"], row["ground_truth"])
            for row in make(root)]


def load_prompts(source: str, *, images: str | None = None, data_root: str | None = None, limit: int | None = None,
                 seed: int = 0, where: str = "--sima-prompts") -> list[SimaPrompt]:
    """The prompts of ``source`` (see the module docstring), ``limit`` of them drawn with ``seed``;
    every drawn image must exist."""
    source = str(source).strip()
    local = Path(source).expanduser()
    model_set = MODEL_SET.fullmatch(source)
    if local.is_file():
        prompts = _file_prompts(local, images, where)
    elif model_set and not local.exists():
        prompts = _model_prompts(model_set.group(1), model_set.group(2), data_root, where)
    elif HUB_ID.fullmatch(source) and not local.exists():
        prompts = _file_prompts(_hub_file(source, where), images, where)
    else:
        raise CsrBenchError(f"{where} {source}: no such file, <model>:<set> or hub data set id")
    ids = [p.prompt_id for p in prompts]
    if len(set(ids)) != len(ids):
        raise CsrBenchError(f"{where} {source}: prompt ids repeat")
    prompts = draw(prompts, limit, seed)
    missing = [p for p in prompts if not Path(p.image).is_file()]
    if missing:
        raise CsrBenchError(f"{where} {source}: prompt {missing[0].prompt_id}: image file not found: {missing[0].image}"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if not prompts:
        raise CsrBenchError(f"{where} {source}: no prompt in it")
    return prompts


def prompts_digest(prompts: list[SimaPrompt]) -> str:
    """sha256 of the drawn prompts (id, image file name, question, ground truth): a prompt file that
    changed since the finished work was made is refused, not mixed."""
    text = json.dumps([[p.prompt_id, Path(p.image).name, p.question, p.ground_truth] for p in prompts])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sample_seed(run_seed: int, prompt_id: str) -> int:
    """The sampled response's seed: from the run's seed and the prompt alone (sha256, never Python's
    hash()), so it is the same whatever the batch, the order or a resume."""
    digest = hashlib.sha256(f"{int(run_seed)}\0{prompt_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & (2 ** 63 - 1)
