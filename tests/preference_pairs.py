"""Small preference sets and iteration inputs for the tests of the methods that train on a set
(--method dpo, --method povid): three coloured squares, each with a truthful and a hallucinated answer."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

# DPO settings that move a tiny LLaVA in a few steps and log every step
FAST = dict(learning_rate=1e-3, lora_r=8, lora_alpha=16, warmup_ratio=0.0, seed=0, logging_steps=1)
COLOURS = ["red", "green", "blue"]


def write_pairs(root: Path, name: str = "preferences.jsonl", rejected: str = "and a cat") -> Path:
    """A csr-bench preferences.jsonl, images named relative to ``root`` (found through --prompt-images)."""
    rows = []
    for i, colour in enumerate(COLOURS):
        image = Image.new("RGB", (32, 28), "white")
        ImageDraw.Draw(image).rectangle([5, 5, 25, 20], fill=colour)
        image.save(root / f"img{i}.png")
        rows.append({"prompt_id": f"p{i}", "image": f"img{i}.png", "prompt": "Describe this image.",
                     "chosen": f"A {colour} square.", "rejected": f"A {colour} square {rejected}."})
    path = root / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def iteration_input(run: Path, checkpoint: Path):
    """Iteration 1 of ``run``, training from ``checkpoint`` (no generation: these methods read a set)."""
    from csr_bench.methods.base import IterationInput

    return IterationInput(iteration=1, model_source=str(checkpoint), load_model=lambda: None, work_dir=run / "iter_1")


def trained_once(make_method, root: Path, checkpoint: Path) -> dict:
    """One real iteration of the method ``make_method(pairs)`` makes, on the three pairs, in ``root``/run."""
    from csr_bench.methods.driver import run_iteration

    pairs = write_pairs(root)
    run = root / "run"
    model = run_iteration(make_method(pairs), iteration_input(run, checkpoint))
    return {"root": root, "pairs": pairs, "run": run, "model": model, "checkpoint": checkpoint}
