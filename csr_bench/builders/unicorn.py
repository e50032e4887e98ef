"""Unicorn's local layout under --data-root, from HELM's hub copy or the release's misleading-attack folder.

The release (the PahaII/vllm_safety_evaluation zip, unpacked under the data root) already holds the
layout the OODCV and Sketchy tasks read: ood/oodcv-vqa/{oodcv-vqa,oodcv-counterfactual}.json and
ood/sketchy-vqa/{sketchy-vqa,sketchy-challenging}.json, image paths relative to their folders.

- ``build_from_helm``: HELM's copy PahaII/unicorn (OODCV-VQA.json, OODCV-Counterfactual.json,
  Sketchy-VQA.json, Sketchy-Challenging.json with image_path, question, answer; images/) written in that
  layout: ``image`` the absolute path of images/<image_path>, OODCV's ``answer`` (the text answer HELM
  scores) as ``text_answer``, and no ``situation`` (null: the per-situation metrics are left out).
- ``build_misleading``: the release's redteaming/misleading_attack folder (<attack>/<n>.png and
  annotation.json) as one document per image and description prompt (the reference's four), each with
  the image's annotated objects, in redteaming/misleading_attack/unicorn_misleading.jsonl.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.builders.output import write_jsonl
from csr_bench.storage.files import atomic_write_text, read_json_or_jsonl

HELM_FILES = {"OODCV-VQA": "ood/oodcv-vqa/oodcv-vqa.json",
              "OODCV-Counterfactual": "ood/oodcv-vqa/oodcv-counterfactual.json",
              "Sketchy-VQA": "ood/sketchy-vqa/sketchy-vqa.json",
              "Sketchy-Challenging": "ood/sketchy-vqa/sketchy-challenging.json"}
MISLEADING_FOLDER = "redteaming/misleading_attack"
MISLEADING_FILE = "unicorn_misleading.jsonl"


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """A JSON array of objects, or JSON lines (what datasets' json loader reads)."""
    rows = read_json_or_jsonl(path, "Unicorn rows")
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise CsrBenchError(f"{path}: row {number} is not an object")
    return rows


def build_from_helm(helm_dir: Path, out: Path) -> dict[str, int]:
    """Write the four sets of a PahaII/unicorn snapshot under ``out`` (the data root); rows per set."""
    from csr_bench.scorers.unicorn import SYNONYMS

    helm_dir, out = Path(helm_dir), Path(out)
    counts = {}
    for name, target in HELM_FILES.items():
        source = helm_dir / f"{name}.json"
        if not source.is_file():
            raise CsrBenchError(f"{source}: no such file (a PahaII/unicorn snapshot holds {name}.json)")
        rows = []
        for number, row in enumerate(_read_rows(source), 1):
            missing = [k for k in ("image_path", "question", "answer") if k not in row]
            if missing:
                raise CsrBenchError(f"{source}: row {number} lacks {', '.join(missing)}")
            image = (helm_dir / "images" / str(row["image_path"])).resolve()
            answer = str(row["answer"])
            new = {"image": str(image), "question": row["question"], "answer": answer}
            if name.startswith("OODCV"):
                if answer not in SYNONYMS:
                    raise CsrBenchError(f"{source}: row {number}: answer {answer!r} is not an OODCV text answer "
                                        f"({', '.join(SYNONYMS)})")
                new.update(text_answer=answer, situation=None)
            rows.append(new)
        atomic_write_text(out / target, json.dumps(rows, indent=1))
        counts[name] = len(rows)
    return counts


def build_misleading(folder: Path, out: Path, attacks: list[str] | None = None) -> dict[str, int]:
    """Documents for the misleading attack from ``folder`` (annotation.json + one folder of <n>.png per
    attack; ``attacks`` default: every such folder), written to out/redteaming/misleading_attack/."""
    from csr_bench.scorers.unicorn import MISLEADING_PROMPTS

    folder, out = Path(folder).resolve(), Path(out)
    annotation_file = folder / "annotation.json"
    try:
        annotation = json.loads(annotation_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CsrBenchError(f"{annotation_file}: cannot read it ({exc})") from None
    if not isinstance(annotation, dict):
        raise CsrBenchError(f"{annotation_file}: expected an object of image name -> object list")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.png")))
    attacks = found if attacks is None else attacks
    unknown = [a for a in attacks if a not in found]
    if unknown or not attacks:
        raise CsrBenchError(f"{folder}: no folder of .png images for {', '.join(unknown) or 'any attack'}")
    target = out / MISLEADING_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    relative = target.resolve() == folder
    rows, images = [], 0
    for attack in attacks:
        # get_outputs walks 0.png ... <count-1>.png in number order, skipping names not there
        pngs = {p.name for p in (folder / attack).glob("*.png")}
        for number in range(len(pngs)):
            name = f"{number}.png"
            if name not in pngs:
                continue
            if name not in annotation:
                raise CsrBenchError(f"{annotation_file}: no objects for {name} (of {attack})")
            objects = annotation[name]
            if not isinstance(objects, list) or not all(isinstance(o, str) for o in objects):
                raise CsrBenchError(f"{annotation_file}: {name}: expected a list of object names")
            image = f"{attack}/{name}" if relative else str(folder / attack / name)
            images += 1
            for k, instruction in enumerate(MISLEADING_PROMPTS, 1):
                rows.append({"id": f"{attack}/{name}#{k}", "image": image, "attack": attack,
                             "instruction": instruction, "objects": objects})
    write_jsonl(target / MISLEADING_FILE, rows)
    return {"documents": len(rows), "images": images}


__all__ = ["HELM_FILES", "MISLEADING_FILE", "MISLEADING_FOLDER", "build_from_helm", "build_misleading"]
