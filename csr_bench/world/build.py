"""``csr-bench world build``: the world's data, its tiny VLM and its CLIP, built once and cached;
a default build copies the shipped checkpoints, ``--train`` trains them. Details (layout, crash
safety, shipped weights): docs/world.md, "csr_bench/world/build.py".
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.images import open_rgb
from csr_bench.storage.files import atomic_write_json, partial_dir, replace_dir
from csr_bench.progress import get_logger
from csr_bench.prompt_text import DESCRIPTION_QUESTIONS, DETAIL_PROMPT, LETTER_SUFFIX, LETTERS, SHORT_SUFFIX

log = get_logger()


def world_home() -> Path:
    return Path(os.environ.get("CSR_BENCH_HOME") or Path.home() / ".cache" / "csr-bench").expanduser()


def world_dir(seed: int = 0) -> Path:
    from csr_bench.world import WORLD_VERSION

    return world_home() / f"world-v{WORLD_VERSION}-seed{seed}"


SHIPPED = Path(__file__).resolve().parents[1] / "bundled"


def shipped_dir(seed: int) -> Path:
    return SHIPPED / f"world-seed{seed}"


def _shipped_part(seed: int, part: str, key: str, knobs: dict) -> Path | None:
    """``shipped_dir(seed)/part`` if the shipped build.json says it was trained in this models version
    (MODELS_VERSION) with exactly ``knobs`` (its entry ``key``), else None."""
    folder = shipped_dir(seed)
    try:
        built = json.loads((folder / "build.json").read_text())
    except (OSError, ValueError):
        return None
    from csr_bench.world import MODELS_VERSION

    return folder / part if built.get("models_version") == MODELS_VERSION and built.get(key) == knobs else None


def shipped_vlm(seed: int, vlm: dict) -> Path | None:
    """The shipped VLM checkpoint of ``seed`` if it was trained with exactly these knobs (else None)."""
    model = _shipped_part(seed, "model", "vlm", vlm)
    return model if model is not None and (model / "config.json").is_file() else None


def shipped_clip(seed: int, clip: dict, vlm_dir: Path) -> Path | None:
    """The shipped CLIP of ``seed`` if it was trained with exactly these knobs and its vocabulary covers
    the words of the VLM in ``vlm_dir`` (else None): its token embedding keeps only the tokens of the
    shipped VLM's words and of its training sentences."""
    from csr_bench.world.train_clip import CONFIG_FILE

    folder = _shipped_part(seed, "clip", "clip", clip)
    if folder is None or not (folder / CONFIG_FILE).is_file():
        return None
    try:
        covered = set(_vlm_words(vlm_dir)) <= set(_vlm_words(shipped_dir(seed) / "model"))
    except (OSError, ValueError, KeyError):
        return None
    return folder if covered else None


def _vlm_words(vlm_dir: Path) -> list[str]:
    """Every entry of the world VLM's word-level vocabulary: all it can say."""
    return list(json.loads((Path(vlm_dir) / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"])


def clip_vocabulary(vlm_dir: Path, sentences: list[str]) -> list[str]:
    """The texts whose tokens a trimmed world CLIP keeps: the VLM's words (its vocabulary, without the
    word mark), every two punctuation marks written together (as the VLM can) and the CLIP's own
    training sentences (every row training changed)."""
    import string

    from csr_bench.world.tokenizer import SPACE

    marks = [a + b for a in string.punctuation for b in string.punctuation]
    return sorted({word.removeprefix(SPACE) for word in _vlm_words(vlm_dir)} | set(marks) | set(sentences))


def is_built(folder: Path) -> bool:
    return (Path(folder) / "build.json").is_file()


def choice_question(objects: list[dict], rng: random.Random) -> tuple[str, str]:
    """A multiple-choice question about one object of a training scene, in LLaVA's letter format:
    (prompt, letter). The model learns the format here; the world's SEED, MMBench and ScienceQA ask
    the same kinds of questions about the evaluation scenes."""
    from csr_bench.world.scenes import CATEGORIES, COLOR_NAMES, POSITIONS

    obj = rng.choice(objects)
    present = {o["word"] for o in objects}
    n = rng.choice((2, 3, 4))
    kind = rng.choice(("identity", "color", "location", "count"))
    if kind == "identity":
        question, correct = "Which of the following objects is in the image?", obj["word"]
        pool = sorted({c.word for c in CATEGORIES.values()} - present)
    elif kind == "color":
        question, correct, pool = f"What is the color of the {obj['word']}?", obj["color"], list(COLOR_NAMES)
    elif kind == "location":
        question, correct, pool = f"Where is the {obj['word']} in the image?", obj["position"], list(POSITIONS)
    else:
        question, correct, pool = "How many objects are there in the image?", str(len(objects)), list("12345")
    options = [correct] + rng.sample([o for o in pool if o != correct], n - 1)
    rng.shuffle(options)
    listed = "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(options))
    return f"{question}\n{listed}{LETTER_SUFFIX}", LETTERS[options.index(correct)]


def training_data(data: Path, seed: int, captions_per_image: int = 1, questions_per_image: int = 2,
                  existence_per_image: int = 1, choices_per_image: int = 1):
    """(VLM examples, CLIP pairs, corpus, cell labels) from the world's train/train.jsonl.

    Each image gives detailed descriptions (under the reference's description questions and CHAIR's
    prompt, so the model describes whatever it is asked to) and short answers in LLaVA's
    short-answer format: ``existence_per_image`` existence questions answered "Yes" and as many
    answered "No" (an absent partner or another absent object), ``questions_per_image`` others
    (colour, place, size, count, which object) and ``choices_per_image`` multiple-choice questions. The CLIP learns from the caption sentences. The cell
    labels are (category, colour, size, place) per grid cell, for the vision warm-up.
    """
    from csr_bench.world.scenes import CATEGORIES, CATEGORY_NAMES, COLOR_NAMES, GRID, POSITIONS, SIZES
    from csr_bench.world.train_vlm import IGNORE

    rng = random.Random(seed)
    questions = (DETAIL_PROMPT,) + DESCRIPTION_QUESTIONS
    examples, pairs, cells = [], [], []
    rows = [json.loads(line) for line in (data / "train" / "train.jsonl").read_text().splitlines()]
    for row in rows:
        image = open_rgb(data / "train" / row["image"])
        labels = [(0, IGNORE, IGNORE, cell) for cell in range(GRID * GRID)]  # empty cells: nothing, and where
        for obj in row["objects"]:
            cell = POSITIONS.index(obj["position"])
            labels[cell] = (CATEGORY_NAMES.index(obj["category"]) + 1, COLOR_NAMES.index(obj["color"]),
                            SIZES.index(obj["size"]), cell)
        cells.append((image, labels))
        for caption in rng.sample(row["captions"], min(captions_per_image, len(row["captions"]))):
            examples.append((image, rng.choice(questions), caption))
        yes = [qa for qa in row["qa"] if qa[0].startswith("Is there") and qa[1] == "Yes"]
        no = [qa for qa in row["qa"] if qa[0].startswith("Is there") and qa[1] == "No"]
        other = [qa for qa in row["qa"] if not qa[0].startswith("Is there")]
        chosen = (rng.sample(yes, min(existence_per_image, len(yes))) + rng.sample(no, min(existence_per_image, len(no)))
                  + rng.sample(other, min(questions_per_image, len(other))))
        for question, answer in chosen:
            examples.append((image, question + SHORT_SUFFIX, answer))
        for _ in range(choices_per_image):
            examples.append((image, *choice_question(row["objects"], rng)))
        for text in row["captions"] + row["short_captions"]:
            pairs.extend((image, sentence.strip() + ".") for sentence in text.split(".") if sentence.strip())
    corpus = list(questions) + [SHORT_SUFFIX]
    classes = (("",) + tuple(CATEGORIES[name].word for name in CATEGORY_NAMES), COLOR_NAMES, SIZES, POSITIONS)
    return examples, pairs, corpus, (cells, classes)


@contextlib.contextmanager
def _training_bar(steps: int | None, desc: str):
    """A progress bar (rate, ETA, loss) fed by a trainer's ``log(step, loss)`` callback."""
    from csr_bench.progress import progress_bar

    bar = progress_bar(steps, desc, unit="step")  # None (epochs): a count and a rate, no ETA

    def log_step(step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

    try:
        yield log_step
    finally:
        bar.close()


def _copy_shipped(shipped: Path, target: Path, what: str, seed: int) -> str:
    """Copy a checkpoint shipped with csr-bench into the world (as NAME.partial, renamed); its source for build.json."""
    log.info("world: using the shipped %s of seed %d (train it here with `csr-bench world build --train`)", what, seed)
    partial = partial_dir(target)
    shutil.copytree(shipped, partial, dirs_exist_ok=True)
    replace_dir(partial, target)
    return f"shipped ({shipped})"


def build_world(seed: int = 0, folder: Path | None = None, *, force: bool = False, train: bool = False,
                vlm: dict[str, Any] | None = None, clip: dict[str, Any] | None = None,
                world: dict[str, Any] | None = None, with_clip: bool = True) -> Path:
    """Build (or reuse) the world of ``seed``; ``vlm``/``clip``/``world`` override training and size knobs.

    ``with_clip=False`` stops after the data and the VLM (all that evaluation needs); the build is
    complete (build.json) once a later call adds the CLIP.

    The VLM and the CLIP are copied from the shipped checkpoints when they match the seed and knobs,
    unless ``train`` (then, and otherwise, they are trained here)."""
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    from csr_bench.world.benchmarks import write_world
    from csr_bench.world.train_clip import WorldClipConfig, train_world_clip, trim_world_clip
    from csr_bench.world import train_vlm
    from csr_bench.world.train_vlm import WorldVlmConfig, save_world_vlm

    folder = Path(folder) if folder is not None else world_dir(seed)
    if is_built(folder) and not force:
        return folder
    started, timings = time.perf_counter(), {}
    data, model_dir, clip_dir = folder / "data", folder / "model", folder / "clip"
    if not (data / "world.json").is_file():  # written last: a half-written data/ is cleared and written again
        log.info("world: generating scenes and benchmarks in %s", data)
        write_world(data, seed=seed, **(world or {}))
    timings["data_seconds"] = round(time.perf_counter() - started, 1)
    vlm_config = WorldVlmConfig(**(vlm or {}))
    clip_config = WorldClipConfig(**(clip or {}))
    shipped = None if train or world else shipped_vlm(seed, asdict(vlm_config))
    if shipped is not None and not model_dir.is_dir():
        timings["vlm_source"] = _copy_shipped(shipped, model_dir, "VLM", seed)
    examples, pairs, corpus, cells = training_data(
        data, seed, captions_per_image=vlm_config.captions_per_image, questions_per_image=vlm_config.questions_per_image,
        existence_per_image=vlm_config.existence_per_image, choices_per_image=vlm_config.choices_per_image)
    if not (model_dir / "config.json").is_file():
        log.info("world: training the VLM on %d examples", len(examples))
        mark = time.perf_counter()
        with _training_bar(vlm_config.steps, "world VLM") as log_step:
            model, processor = train_vlm.train_world_vlm(examples, corpus, seed=seed, config=vlm_config,
                                                         image_cells=cells[0], cell_classes=cells[1], log=log_step)
        partial = partial_dir(model_dir)
        save_world_vlm(model, processor, partial)
        replace_dir(partial, model_dir)
        timings["vlm_seconds"] = round(time.perf_counter() - mark, 1)
        timings["vlm_source"] = "trained"
    if "vlm_source" not in timings:  # the VLM came from an earlier, interrupted build: say which it was
        timings["vlm_source"] = (f"shipped ({shipped})" if shipped is not None and _same_weights(shipped, model_dir)
                                 else "trained")
    if not with_clip:
        return folder
    shipped_clip_dir = None if train or world else shipped_clip(seed, asdict(clip_config), model_dir)
    if shipped_clip_dir is not None and not clip_dir.is_dir():
        timings["clip_source"] = _copy_shipped(shipped_clip_dir, clip_dir, "CLIP", seed)
    if not clip_dir.is_dir():
        log.info("world: training the CLIP on %d sentence pairs", len(pairs))
        mark = time.perf_counter()
        from csr_bench.world.scenes import CATEGORIES

        with _training_bar(clip_config.steps, "world CLIP") as log_step:
            scorer = train_world_clip(pairs, seed=seed, config=clip_config, log=log_step,
                                      swap_words=[category.word for category in CATEGORIES.values()])
        partial = partial_dir(clip_dir)
        trim_world_clip(scorer, clip_vocabulary(model_dir, [sentence for _, sentence in pairs]), partial)
        replace_dir(partial, clip_dir)
        timings["clip_seconds"] = round(time.perf_counter() - mark, 1)
        timings["clip_source"] = "trained"
    if "clip_source" not in timings:  # from an earlier, interrupted build
        timings["clip_source"] = (f"shipped ({shipped_clip_dir})" if shipped_clip_dir is not None
                                  and _same_weights(shipped_clip_dir, clip_dir) else "trained")
    from csr_bench.world import MODELS_VERSION, WORLD_VERSION

    atomic_write_json(folder / "build.json", {
        "world_version": WORLD_VERSION, "models_version": MODELS_VERSION, "seed": seed, "examples": len(examples), "clip_pairs": len(pairs),
        "vlm": asdict(vlm_config), "clip": asdict(clip_config), "world": world or {}, "seconds": round(time.perf_counter() - started, 1),
        **timings})
    log.info("world: built in %s", folder)
    return folder


def _same_weights(a: Path, b: Path) -> bool:
    import filecmp

    return all(filecmp.cmp(x, b / x.name, shallow=False) if (b / x.name).is_file() else False
               for x in sorted(a.glob("*.safetensors")))


def has_data_and_model(folder: Path) -> bool:
    """Whether the world's benchmarks and VLM are there (the CLIP may still be missing)."""
    return (Path(folder) / "data" / "world.json").is_file() and (Path(folder) / "model" / "config.json").is_file()


def require_built(seed: int = 0, clip: bool = True) -> Path:
    """The cached world of ``seed``, building it on first use; without ``clip``, only what evaluation
    needs (data and VLM: seconds, where the CLIP trains for minutes)."""
    from csr_bench import distributed

    folder = world_dir(seed)
    if distributed.is_distributed():  # one process builds, the others wait for it
        if distributed.is_main():
            _build_if_needed(seed, folder, clip)
        distributed.barrier()
    _build_if_needed(seed, folder, clip)
    return folder


def _build_if_needed(seed: int, folder: Path, clip: bool) -> None:
    if not (is_built(folder) or (not clip and has_data_and_model(folder))):
        log.info("world: not built yet, building it now (once; `csr-bench world build` does the same)")
        try:
            build_world(seed, folder, with_clip=clip)
        except OSError as exc:
            raise CsrBenchError(f"cannot build the world in {folder}: {exc}") from None
