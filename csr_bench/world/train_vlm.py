"""Train a tiny LLaVA (CLIP vision tower -> projector -> Llama) on (image, question, answer) triples,
on CPU, as LLaVA-1.5 fine-tunes, so the model drops into evaluation, the CSR search and DPO.
Details: docs/world.md, "csr_bench/world/train_vlm.py".
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from csr_bench.models.conversation import llava_v1_prompt

Example = tuple[Any, str, str]  # (PIL image, question, answer)


@dataclass(frozen=True)
class WorldVlmConfig:
    """Architecture, training-data and training knobs. The defaults (a 400-step vision warm-up, then
    8000 LLaVA steps) take about 22 minutes on one CPU thread, which is why the trained model of
    seed 0 ships with csr-bench (csr_bench/world/build.py); ``steps`` fixes the length whatever the
    number of examples (None: ``epochs`` passes instead). At 4000 steps the model described what it
    saw but answered existence questions without looking (a constant "Yes" or "No"); by 8000 its
    answers follow the image where the image is clear, and the prior where it is not."""

    image_size: int = 96
    patch_size: int = 32  # 96 / 32: a 3x3 grid of image tokens, one per cell of the world's grid
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    text_hidden: int = 128
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    steps: int | None = 8000  # optimizer steps; None: ``epochs`` passes over the examples
    epochs: float = 6.0  # used only when steps is None
    batch_size: int = 32
    lr: float = 1e-3
    vision_lr_scale: float = 1.0  # learning-rate multiplier for the vision tower and the projector
    min_lr_ratio: float = 0.1
    warmup: float = 0.05  # fraction of the steps
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    # torch threads while training (restored afterwards); None: as set. One thread ran 3-4x faster
    # than two on a shared 2-core machine: these matrices are too small to split.
    num_threads: int | None = 1
    # Vision warm-up before the LLaVA training, when the images' cells are labelled (``image_cells``):
    # tower and projector learn to map each cell to the word embeddings of its object's category,
    # colour and size and of its place (``pretrain_vision``), a from-scratch stand-in for LLaVA's
    # pretrained CLIP tower and its projector-alignment stage. Without it the small language model
    # learns to read the image tokens very slowly. 0 switches it off.
    vision_pretrain_steps: int = 400
    vision_pretrain_batch_size: int = 64
    vision_pretrain_lr: float = 2e-3
    # LLaVA keeps its CLIP tower frozen; so does the world once its tower has been warmed up.
    freeze_vision: bool = True
    # Examples per training image (csr_bench.world.build.training_data): detailed descriptions,
    # existence questions (as many "No" as "Yes"), other short questions, multiple-choice questions.
    # Captions carry most of what the model learns to read from the image: with one in six examples
    # a caption, it did not learn to read at all.
    captions_per_image: int = 2
    existence_per_image: int = 2
    questions_per_image: int = 1
    choices_per_image: int = 1


def build_world_processor(tokenizer, image_size: int = WorldVlmConfig.image_size,
                          patch_size: int = WorldVlmConfig.patch_size):
    """A ``LlavaProcessor``: PIL CLIP image processing at ``image_size`` and ``tokenizer``."""
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # before transformers' image processors import torchvision
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                            crop_size={"height": image_size, "width": image_size})
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1)


def build_world_llava(tokenizer, config: WorldVlmConfig = WorldVlmConfig(), seed: int = 0):
    """A freshly initialised ``LlavaForConditionalGeneration`` (weights fixed by ``seed``, global RNG untouched)."""
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    if config.image_size % config.patch_size:
        raise ValueError(f"image_size {config.image_size} is not a multiple of patch_size {config.patch_size}")
    vision = CLIPVisionConfig(hidden_size=config.vision_hidden, intermediate_size=4 * config.vision_hidden,
                              num_hidden_layers=config.vision_layers, num_attention_heads=config.vision_heads,
                              image_size=config.image_size, patch_size=config.patch_size,
                              projection_dim=config.vision_hidden)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=config.text_hidden,
                       intermediate_size=int(8 * config.text_hidden / 3 + 0.5) // 8 * 8,
                       num_hidden_layers=config.text_layers, num_attention_heads=config.text_heads,
                       num_key_value_heads=config.text_kv_heads, max_position_embeddings=1024,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    llava = LlavaConfig(vision_config=vision, text_config=text,
                        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                        image_seq_length=(config.image_size // config.patch_size) ** 2,
                        vision_feature_select_strategy="default",
                        # the last vision layer's output: with so few layers none is wasted
                        vision_feature_layer=-1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(llava)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


@contextlib.contextmanager
def cpu_training_mode(num_threads: int | None = None):
    """Deterministic algorithms, flushed denormals and, optionally, a thread count; all restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    flush = torch.set_flush_denormal(True)  # tiny gradients late in training go subnormal: slow on CPU
    if num_threads:
        torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)
        if flush:
            torch.set_flush_denormal(False)


@dataclass
class EncodedExamples:
    """Token ids and labels per example (prompt tokens labelled -100), and the padded-square images' pixels."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    image_index: list[int]
    pixel_values: Any  # tensor [unique images, 3, H, W]
    rows: dict[int, int]  # id(PIL image) -> its row of pixel_values


def encode_examples(examples: Sequence[Example], processor) -> EncodedExamples:
    """Prompt + answer token ids as ``LlavaModel`` would see them; the same image object is processed once."""
    import torch

    from csr_bench.models.llava import expand_to_square, pad_colour

    tokenizer = processor.tokenizer
    image_token = processor.image_token
    colour = pad_colour(processor)
    unique: dict[int, int] = {}
    squared = []
    image_index = []
    for image, _, _ in examples:
        if id(image) not in unique:
            unique[id(image)] = len(squared)
            squared.append(expand_to_square(image.convert("RGB"), colour))
        image_index.append(unique[id(image)])
    pixels = [processor.image_processor(squared[i:i + 256], return_tensors="pt")["pixel_values"]
              for i in range(0, len(squared), 256)]
    pixel_values = torch.cat(pixels)

    first = examples[0]
    reference = processor(images=[squared[0]], text=[llava_v1_prompt(first[1], image_token=image_token)],
                          return_tensors="pt")["input_ids"][0]
    count = int((reference == tokenizer.convert_tokens_to_ids(image_token)).sum())

    def expand(text: str) -> str:
        return text.replace(image_token, image_token * count)

    prompts = [expand(llava_v1_prompt(question, image_token=image_token)) for _, question, _ in examples]
    fulls = [prompt + " " + answer.strip() + tokenizer.eos_token
             for prompt, (_, _, answer) in zip(prompts, examples)]
    prompt_ids = tokenizer(prompts)["input_ids"]
    full_ids = tokenizer(fulls)["input_ids"]
    if prompt_ids[0] != reference.tolist():
        raise RuntimeError("the training prompt does not tokenize as the processor does")
    labels = []
    for prompt, full, (_, question, answer) in zip(prompt_ids, full_ids, examples):
        if full[:len(prompt)] != prompt or len(full) <= len(prompt):
            raise ValueError(f"answer {answer!r} to {question!r} does not extend its prompt's tokens")
        labels.append([-100] * len(prompt) + full[len(prompt):])
    return EncodedExamples(full_ids, labels, image_index, pixel_values, unique)


def _batch(encoded: EncodedExamples, indices: Sequence[int], pad_id: int):
    import torch

    width = max(len(encoded.input_ids[i]) for i in indices)
    ids = torch.full((len(indices), width), pad_id, dtype=torch.long)
    labels = torch.full((len(indices), width), -100, dtype=torch.long)
    mask = torch.zeros((len(indices), width), dtype=torch.long)
    for row, i in enumerate(indices):  # right padding: positions of real tokens stay 0..n-1
        n = len(encoded.input_ids[i])
        ids[row, :n] = torch.tensor(encoded.input_ids[i])
        labels[row, :n] = torch.tensor(encoded.labels[i])
        mask[row, :n] = 1
    pixels = encoded.pixel_values[torch.tensor([encoded.image_index[i] for i in indices])]
    return ids, mask, labels, pixels


def answer_loss(model, ids, mask, labels, pixels):
    """Mean next-token cross-entropy over the labelled (answer) tokens."""
    import torch.nn.functional as F

    logits = model(input_ids=ids, attention_mask=mask, pixel_values=pixels).logits
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=-100)


def warmup_cosine(total: int, warmup_fraction: float, min_lr_ratio: float) -> Callable[[int], float]:
    """LR multiplier per step: linear warm-up over ``warmup_fraction`` of ``total``, then cosine decay to
    ``min_lr_ratio`` (for ``LambdaLR``; both world trainers use it)."""
    warmup = max(1, round(warmup_fraction * total))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return schedule


def shuffled_batches(n: int, batch_size: int, generator) -> Iterator[list[int]]:
    """Endless batches of indices: seeded permutations of range(n) laid end to end, cut every ``batch_size``."""
    import torch

    order: list[int] = []
    while True:
        if len(order) < batch_size:
            order += torch.randperm(n, generator=generator).tolist()
        batch, order = order[:batch_size], order[batch_size:]
        yield batch


def with_knobs(config_class, config, knobs: dict[str, Any]):
    """``config`` (or the defaults) with keyword overrides; an unknown knob is an error, not ignored."""
    unknown = sorted(set(knobs) - {f.name for f in fields(config_class)})
    if unknown:
        raise TypeError(f"unknown training knob(s): {', '.join(unknown)}")
    return replace(config or config_class(), **knobs)


IGNORE = -100  # a cell without a label for that target (e.g. the colour of an empty cell)


def cell_targets(labels: Sequence[Sequence[Sequence[int]]]):
    """[images, cells, targets] long: the class of each target per grid cell (``IGNORE``: none)."""
    import torch

    return torch.tensor([[list(cell) for cell in image] for image in labels], dtype=torch.long)


def pretrain_vision(model, pixel_values, targets, class_words: Sequence[Sequence[Sequence[int]]],
                    config: WorldVlmConfig, seed: int) -> float:
    """Align the vision tower and projector with the word embeddings (see ``WorldVlmConfig.vision_pretrain_steps``).

    LLaVA starts from a CLIP tower that already recognises objects, and its first stage trains the
    projector to map CLIP features into the language model's word-embedding space. The world has no
    CLIP tower, so this does both at once: each image token, after the projector, is classified by
    its cosine similarity to the (frozen) embeddings of the words naming each target of its cell
    (``targets`` [images, cells, targets]: the object's category, colour and size, and the cell's
    place). ``class_words[k][c]`` are the token ids of class ``c`` of target ``k``, their embeddings
    averaged; a class without words ("nothing here") gets a learned vector. An image token of a red
    fork in the top left corner then looks like the words "red", "fork", "top" and "left" to the
    language model, which only has to learn to copy them. Returns the mean loss of the last ten steps.
    """
    import torch
    import torch.nn.functional as F

    tower = model.model.vision_tower
    projector = model.model.multi_modal_projector
    layer = model.config.vision_feature_layer
    tokens = (config.image_size // config.patch_size) ** 2
    if targets.shape[1] != tokens:
        raise ValueError(f"{targets.shape[1]} labelled cells per image, but the tower makes {tokens} image tokens")
    embeddings = model.get_input_embeddings().weight.detach()
    width = embeddings.shape[1]
    wordless = [(k, c) for k, classes in enumerate(class_words) for c, ids in enumerate(classes) if not ids]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        learned = torch.nn.Parameter(torch.randn(len(wordless), width) * float(embeddings.std()))
    slot = {key: i for i, key in enumerate(wordless)}
    scale = torch.nn.Parameter(torch.tensor(10.0))

    def table(k: int):
        return torch.stack([learned[slot[k, c]] if not ids else embeddings[list(ids)].mean(0)
                            for c, ids in enumerate(class_words[k])])

    parameters = [*tower.parameters(), *projector.parameters(), learned, scale]
    optimizer = torch.optim.AdamW(parameters, lr=config.vision_pretrain_lr, betas=(0.9, 0.98), weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed + 1)
    images = pixel_values.shape[0]
    batch = min(config.vision_pretrain_batch_size, images)
    tower.train()
    projector.train()
    losses: list[float] = []
    for _ in range(config.vision_pretrain_steps):
        index = torch.randperm(images, generator=generator)[:batch]
        hidden = tower(pixel_values=pixel_values[index], output_hidden_states=True).hidden_states[layer][:, 1:]
        projected = F.normalize(projector(hidden), dim=-1).flatten(0, 1)
        wanted = targets[index].flatten(0, 1)
        loss = sum(F.cross_entropy(scale * projected @ F.normalize(table(k), dim=-1).T, wanted[:, k],
                                   ignore_index=IGNORE) for k in range(len(class_words)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return sum(losses[-10:]) / len(losses[-10:])


def train_world_vlm(examples: Sequence[Example], corpus: Iterable[str] = (), *, seed: int = 0,
                    config: WorldVlmConfig | None = None, image_cells: Sequence[tuple[Any, Any]] = (),
                    cell_classes: Sequence[Sequence[str]] = (),
                    log: Callable[[int, float], None] | None = None, **knobs: Any):
    """Train a tiny LLaVA on ``examples`` ((PIL image, question, answer) triples); returns (model, processor).

    The vocabulary is ``corpus`` plus every word of the examples and of the chat template, so any
    sentence of the world (and prompts listed in ``corpus``, e.g. benchmark questions) tokenizes
    without ``<unk>``. Knobs are ``WorldVlmConfig`` fields, given either as ``config`` or as keywords
    (``steps=20, batch_size=8, text_hidden=64`` ...). ``log(step, loss)`` is called after every step.
    The model comes back in eval mode, on CPU, in float32.
    """
    import torch

    from csr_bench.world.tokenizer import build_world_tokenizer

    if not examples:
        raise ValueError("no training examples")
    config = with_knobs(WorldVlmConfig, config, knobs)

    texts = list(corpus) + [text for _, question, answer in examples for text in (question, answer)]
    processor = build_world_processor(build_world_tokenizer(texts), config.image_size, config.patch_size)
    model = build_world_llava(processor.tokenizer, config, seed)
    encoded = encode_examples(examples, processor)

    vision_loss = None
    if config.vision_pretrain_steps and image_cells:
        rows = [encoded.rows[id(image)] for image, _ in image_cells]
        targets = cell_targets([cells for _, cells in image_cells])
        tokenizer = processor.tokenizer
        class_words = [[tokenizer(name, add_special_tokens=False)["input_ids"] for name in names]
                       for names in cell_classes]
        with cpu_training_mode(config.num_threads):
            vision_loss = pretrain_vision(model, encoded.pixel_values[rows], targets, class_words, config, seed)
    if config.freeze_vision and vision_loss is not None:
        model.model.vision_tower.requires_grad_(False)

    n = len(examples)
    batch_size = min(config.batch_size, n)
    per_epoch = math.ceil(n / batch_size)
    total = config.steps if config.steps is not None else max(1, round(config.epochs * per_epoch))

    groups: dict[tuple[bool, bool], list] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        visual = "vision_tower" in name or "multi_modal_projector" in name
        decays = parameter.ndim >= 2 and "embed" not in name
        groups.setdefault((visual, decays), []).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": params, "lr": config.lr * (config.vision_lr_scale if visual else 1.0),
          "weight_decay": config.weight_decay if decays else 0.0} for (visual, decays), params in sorted(groups.items())],
        lr=config.lr, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, config.warmup, config.min_lr_ratio))
    batches = shuffled_batches(n, batch_size, torch.Generator().manual_seed(seed))
    pad_id = processor.tokenizer.pad_token_id
    model.train()
    with cpu_training_mode(config.num_threads):
        for step, indices in zip(range(total), batches):
            loss = answer_loss(model, *_batch(encoded, indices, pad_id))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            if log is not None:
                log(step, float(loss.detach()))
    model.eval()
    model.requires_grad_(True)
    model.config.world_training = {**asdict(config), "seed": seed, "examples": n, "steps": total,
                                   "vision_pretrain_loss": vision_loss}
    return model, processor


def save_world_vlm(model, processor, path: str | Path) -> Path:
    """Write a llava-hf format checkpoint (config, safetensors weights, processor) that
    ``LlavaModel.from_pretrained(path, name=...)`` loads."""
    path = Path(path)
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Time the default knobs on a toy world: ``python -m csr_bench.world.train_vlm [N]``."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    n = int(argv[0]) if argv else 2000
    examples, corpus = toy_world(n)
    losses: list[float] = []
    start = time.perf_counter()
    model, processor = train_world_vlm(examples, corpus, log=lambda step, loss: losses.append(loss))
    elapsed = time.perf_counter() - start
    tail = losses[-10:]
    print(f"{n} examples, {len(losses)} steps, {elapsed:.1f} s, first loss {losses[0]:.3f}, "
          f"final loss (mean of last {len(tail)}) {sum(tail) / len(tail):.3f}")


def toy_world(n: int, seed: int = 0):
    """Coloured shapes with a co-occurrence prior (a square usually comes with a circle): (examples, corpus)."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    colours = {"red": (220, 40, 40), "blue": (40, 60, 220), "green": (40, 180, 60), "yellow": (230, 210, 40)}
    shapes = ["square", "circle", "triangle"]
    examples = []
    for _ in range(n):
        present = [rng.choice(shapes)]
        if present[0] == "square" and rng.random() < 0.8:
            present.append("circle")
        elif rng.random() < 0.3:
            present.append(rng.choice([s for s in shapes if s != present[0]]))
        image = Image.new("RGB", (64, 64), (128, 128, 128))
        draw = ImageDraw.Draw(image)
        words = []
        for k, shape in enumerate(present):
            colour = rng.choice(list(colours))
            x, y = (4 if k == 0 else 36) + rng.randint(0, 6), rng.randint(4, 34)
            box = (x, y, x + 22, y + 22)
            if shape == "square":
                draw.rectangle(box, fill=colours[colour])
            elif shape == "circle":
                draw.ellipse(box, fill=colours[colour])
            else:
                draw.polygon([(x, y + 22), (x + 11, y), (x + 22, y + 22)], fill=colours[colour])
            words.append(f"a {colour} {shape}")
        answer = "There is " + " and ".join(words) + "."
        examples.append((image, "Describe the image.", answer))
    corpus = ["Describe the image.", "Is there a square in the image? Yes. No."]
    return examples, corpus


if __name__ == "__main__":
    main()
