"""``csr-bench world build``: the world's data, its tiny VLM and its CLIP, built once and cached.

Layout of a built world (``$CSR_BENCH_HOME/world-v<version>-seed<seed>``; CSR_BENCH_HOME defaults
to ~/.cache/csr-bench):
  data/        every benchmark in its real schema (the world's --data-root) and train/
  model/       the world VLM, a llava-hf checkpoint (safetensors)
  clip/        the world CLIP (open_clip config + safetensors)
  build.json   written last: what was built from what, and how long it took
Everything is a deterministic function of the seed; a half-built world is rebuilt from its last
finished part.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.io import atomic_write_json
from csr_bench.progress import get_logger

log = get_logger()
DETAIL_PROMPT = "Please describe this image in detail."
SHORT_SUFFIX = "\nAnswer the question using a single word or phrase."


def world_home() -> Path:
    return Path(os.environ.get("CSR_BENCH_HOME") or Path.home() / ".cache" / "csr-bench").expanduser()


def world_dir(seed: int = 0) -> Path:
    from csr_bench.world import WORLD_VERSION

    return world_home() / f"world-v{WORLD_VERSION}-seed{seed}"


def is_built(folder: Path) -> bool:
    return (Path(folder) / "build.json").is_file()


def training_data(data: Path, seed: int, captions_per_image: int = 1, questions_per_image: int = 2):
    """(VLM examples, CLIP pairs, corpus) from the world's train/train.jsonl.

    Each image gives detailed descriptions (under the reference's description questions and CHAIR's
    prompt, so the model describes whatever it is asked to) and short answers in LLaVA's
    short-answer format; the CLIP learns from the caption sentences.
    """
    from PIL import Image

    from csr_bench.csr.prompts import DESCRIPTION_QUESTIONS

    rng = random.Random(seed)
    questions = (DETAIL_PROMPT,) + DESCRIPTION_QUESTIONS
    examples, pairs = [], []
    rows = [json.loads(line) for line in (data / "train" / "train.jsonl").read_text().splitlines()]
    for row in rows:
        with Image.open(data / "train" / row["image"]) as opened:
            image = opened.convert("RGB")
        for caption in rng.sample(row["captions"], min(captions_per_image, len(row["captions"]))):
            examples.append((image, rng.choice(questions), caption))
        for question, answer in rng.sample(row["qa"], min(questions_per_image, len(row["qa"]))):
            examples.append((image, question + SHORT_SUFFIX, answer))
        for text in row["captions"] + row["short_captions"]:
            pairs.extend((image, sentence.strip() + ".") for sentence in text.split(".") if sentence.strip())
    corpus = list(questions) + [SHORT_SUFFIX]
    return examples, pairs, corpus


def build_world(seed: int = 0, folder: Path | None = None, *, force: bool = False,
                vlm: dict[str, Any] | None = None, clip: dict[str, Any] | None = None,
                world: dict[str, Any] | None = None) -> Path:
    """Build (or reuse) the world of ``seed``; ``vlm``/``clip``/``world`` override training and size knobs."""
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from csr_bench.world.benchmarks import write_world
    from csr_bench.world.train_clip import WorldClipConfig, save_world_clip, train_world_clip
    from csr_bench.world.train_vlm import WorldVlmConfig, save_world_vlm, train_world_vlm

    folder = Path(folder) if folder is not None else world_dir(seed)
    if is_built(folder) and not force:
        return folder
    started, timings = time.perf_counter(), {}
    data, model_dir, clip_dir = folder / "data", folder / "model", folder / "clip"
    if not (data / "world.json").is_file():
        log.info("world: generating scenes and benchmarks in %s", data)
        write_world(data, seed=seed, **(world or {}))
    timings["data_seconds"] = round(time.perf_counter() - started, 1)
    examples, pairs, corpus = training_data(data, seed)
    vlm_config = WorldVlmConfig(**(vlm or {}))
    clip_config = WorldClipConfig(**(clip or {}))
    if not (model_dir / "config.json").is_file():
        log.info("world: training the VLM on %d examples", len(examples))
        mark = time.perf_counter()
        model, processor = train_world_vlm(examples, corpus, seed=seed, config=vlm_config)
        partial = model_dir.with_name("model.partial")
        save_world_vlm(model, processor, partial)
        partial.replace(model_dir)
        timings["vlm_seconds"] = round(time.perf_counter() - mark, 1)
    if not clip_dir.is_dir():
        log.info("world: training the CLIP on %d sentence pairs", len(pairs))
        mark = time.perf_counter()
        scorer = train_world_clip(pairs, seed=seed, config=clip_config)
        partial = clip_dir.with_name("clip.partial")
        save_world_clip(scorer, partial)
        partial.replace(clip_dir)
        timings["clip_seconds"] = round(time.perf_counter() - mark, 1)
    atomic_write_json(folder / "build.json", {
        "seed": seed, "examples": len(examples), "clip_pairs": len(pairs), "vlm": asdict(vlm_config),
        "clip": asdict(clip_config), "world": world or {}, "seconds": round(time.perf_counter() - started, 1),
        **timings})
    log.info("world: built in %s", folder)
    return folder


def require_built(seed: int = 0) -> Path:
    """The cached world of ``seed``, building it on first use."""
    folder = world_dir(seed)
    if not is_built(folder):
        log.info("world: not built yet, building it now (once; `csr-bench world build` does the same)")
        try:
            build_world(seed, folder)
        except OSError as exc:
            raise CsrBenchError(f"cannot build the world in {folder}: {exc}") from None
    return folder
