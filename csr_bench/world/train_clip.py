"""Train a tiny open_clip CLIP on (image, sentence) pairs, on CPU, for R_I in the embedded world
(contrastive, with NegCLIP hard negatives; deterministic for a seed). Details (measurements, the
saved folder): docs/world.md, "csr_bench/world/train_clip.py".
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F

from csr_bench.models.clip import ClipScorer, as_rgb, import_open_clip

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
SOT, EOT = "<start_of_text>", "<end_of_text>"  # open_clip's SimpleTokenizer's special tokens
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class WorldClipConfig:
    """Architecture and training knobs. The defaults take about 6.5 minutes on one CPU thread at
    build time; the smaller tower of earlier versions (64 pixels, stem width 8, 400 steps, no hard
    negatives) trained in under a minute but could not tell the objects apart (see the module doc)."""

    image_size: int = 96  # a multiple of 32 for the ResNet tower; the world's own size: tiny objects stay 10 px
    vision_tower: str = "resnet"  # "resnet": open_clip's ModifiedResNet (as RN50), learns shapes fast; or "vit"
    vision_width: int = 16  # resnet: stem width (RN50: 64); vit: hidden size
    vision_layers: int = 1  # resnet: blocks in each of the 4 stages; vit: transformer layers
    patch_size: int = 8  # vit only
    text_width: int = 64
    text_layers: int = 2
    head_width: int = 32
    embed_dim: int = 64
    context_length: int = 32
    resize_mode: str = "squash"  # whole image, no crop: objects near the border stay in view
    hard_negatives: bool = True  # each sentence's object-word swap as a negative (needs swap_words)
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup: float = 0.05
    weight_decay: float = 0.05
    num_threads: int | None = 1  # torch threads while training (restored afterwards); None: as set


def model_config(config: WorldClipConfig) -> dict:
    """open_clip's ``model_cfg`` (the JSON of its model configs) for ``config``."""
    if config.vision_tower == "resnet":
        if config.image_size % 32:
            raise ValueError(f"image_size {config.image_size}: the ResNet tower needs a multiple of 32")
        vision = {"image_size": config.image_size, "layers": [config.vision_layers] * 4,
                  "width": config.vision_width}
    elif config.vision_tower == "vit":
        vision = {"image_size": config.image_size, "layers": config.vision_layers, "width": config.vision_width,
                  "head_width": config.head_width, "mlp_ratio": 2.0, "patch_size": config.patch_size}
    else:
        raise ValueError(f"vision_tower {config.vision_tower!r}: choose 'resnet' or 'vit'")
    return {
        "embed_dim": config.embed_dim,
        "vision_cfg": vision,
        "text_cfg": {"context_length": config.context_length, "vocab_size": 49408, "width": config.text_width,
                     "heads": max(1, config.text_width // config.head_width), "layers": config.text_layers,
                     "mlp_ratio": 2.0},
    }


def preprocess_config(config: WorldClipConfig) -> dict:
    return {"size": config.image_size, "mode": "RGB", "mean": list(OPENAI_MEAN), "std": list(OPENAI_STD),
            "interpolation": "bicubic", "resize_mode": config.resize_mode, "fill_color": 0}


def _eval_transform(preprocess_cfg: dict):
    import_open_clip()
    from open_clip.transform import PreprocessCfg, image_transform_v2

    return image_transform_v2(PreprocessCfg(**preprocess_cfg), is_train=False)


def _image_key(image) -> str:
    return hashlib.sha1(f"{image.size}".encode() + image.tobytes()).hexdigest()


@functools.lru_cache(maxsize=8)
def _word_pattern(words: tuple[str, ...]) -> re.Pattern:
    """Whole-word match of any of ``words``, longest first ("traffic light" before "light")."""
    return re.compile(r"\b(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b")


def swapped(text: str, words: Sequence[str], rng: random.Random) -> str | None:
    """``text`` with its first object word replaced by another of ``words`` (None: it names none)."""
    match = _word_pattern(tuple(words)).search(text)
    if match is None:
        return None
    other = rng.choice([w for w in words if w != match.group(1)])
    return text[:match.start()] + other + text[match.end():]


def train_world_clip(pairs: Sequence[tuple[Any, str]], *, seed: int = 0, config: WorldClipConfig | None = None,
                     device: str | torch.device | None = "cpu", log: Callable[[int, float], None] | None = None,
                     swap_words: Sequence[str] = (), **knobs: Any) -> ClipScorer:
    """Train a tiny CLIP on ``(image, sentence)`` pairs (PIL images or paths); returns a ``ClipScorer``.

    Knobs are ``WorldClipConfig`` fields, as ``config`` or keywords (``steps=40, batch_size=32`` ...);
    ``swap_words``: the object words whose swaps make the hard negatives (none: no hard negatives);
    ``log(step, loss)`` is called after every step. The model is trained on CPU and handed to the
    scorer on ``device``; its configs, training knobs and seed ride along as ``scorer.world_config``.
    """
    open_clip = import_open_clip()
    from open_clip.model import CLIP, set_model_preprocess_cfg
    from open_clip.transform import PreprocessCfg

    from csr_bench.world.train_vlm import cpu_training_mode, shuffled_batches, warmup_cosine, with_knobs

    if not pairs:
        raise ValueError("no training pairs")
    config = with_knobs(WorldClipConfig, config, knobs)
    model_cfg, preprocess_cfg = model_config(config), preprocess_config(config)
    preprocess = _eval_transform(preprocess_cfg)
    tokenizer = open_clip.SimpleTokenizer(context_length=config.context_length)

    # Unique images and texts, each processed once; positives share an image or a text.
    image_keys: dict[str, int] = {}
    pixels, image_of = [], []
    text_ids: dict[str, int] = {}
    text_of = []
    for image, text in pairs:
        image = as_rgb(image)
        key = _image_key(image)
        if key not in image_keys:
            image_keys[key] = len(pixels)
            pixels.append(preprocess(image))
        image_of.append(image_keys[key])
        text_of.append(text_ids.setdefault(text, len(text_ids)))
    # A hard negative per pair (its own text id; -1: the sentence names no object), and every true
    # (image, text) pair, so a swap that happens to describe the image is not pushed away from it.
    true_pairs = set(zip(image_of, text_of))
    negative_of = []
    use = config.hard_negatives and bool(swap_words)
    for _, text in pairs:
        other = swapped(text, swap_words, random.Random(f"{seed}:{text}")) if use else None
        negative_of.append(-1 if other is None else text_ids.setdefault(other, len(text_ids)))
    pixels = torch.stack(pixels)
    tokens = tokenizer(list(text_ids))
    image_of, text_of, negative_of = torch.tensor(image_of), torch.tensor(text_of), torch.tensor(negative_of)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIP(**model_cfg)
    set_model_preprocess_cfg(model, asdict(PreprocessCfg(**preprocess_cfg)))

    n = len(pairs)
    batch_size = min(config.batch_size, n)
    total = config.steps

    def decays(name: str, p: torch.Tensor) -> bool:
        return p.ndim >= 2 and "embedding" not in name and "logit_scale" not in name

    params = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [{"params": [p for name, p in params if decays(name, p)], "weight_decay": config.weight_decay},
         {"params": [p for name, p in params if not decays(name, p)], "weight_decay": 0.0}],
        lr=config.lr, betas=(0.9, 0.98), eps=1e-6)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, config.warmup, config.min_lr_ratio))
    batches = shuffled_batches(n, batch_size, torch.Generator().manual_seed(seed))

    model.train()
    with cpu_training_mode(config.num_threads):
        for step, indices in zip(range(total), batches):
            batch = torch.tensor(indices)
            images, texts = image_of[batch], text_of[batch]
            positive = (images[:, None] == images[None, :]) | (texts[:, None] == texts[None, :])
            target = positive.float() / positive.sum(-1, keepdim=True)  # a symmetric relation: one target for both
            image_features = F.normalize(model.encode_image(pixels[images]), dim=-1)
            text_features = F.normalize(model.encode_text(tokens[texts]), dim=-1)
            logits = model.logit_scale.exp() * image_features @ text_features.T
            text_loss = F.cross_entropy(logits.T, target)
            negatives = negative_of[batch][negative_of[batch] >= 0]
            if len(negatives):  # image -> text over the batch's sentences and their swapped twins
                negative_features = F.normalize(model.encode_text(tokens[negatives]), dim=-1)
                logits = torch.cat([logits, model.logit_scale.exp() * image_features @ negative_features.T], 1)
                true = torch.tensor([[(i, t) in true_pairs for t in negatives.tolist()] for i in images.tolist()])
                target = torch.cat([positive, true], 1).float()
                target = target / target.sum(-1, keepdim=True)
            loss = (F.cross_entropy(logits, target) + text_loss) / 2
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            if log is not None:
                log(step, float(loss.detach()))
    model.eval()
    scorer = ClipScorer(model, preprocess, tokenizer, device)
    scorer.world_config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg,
                           "world_training": {**asdict(config), "seed": seed, "pairs": n}}
    return scorer


def save_world_clip(scorer: ClipScorer, path: str | Path) -> Path:
    """Write ``open_clip_config.json`` and ``open_clip_model.safetensors`` (and a trimmed CLIP's
    tokenizer files) into the folder ``path``."""
    config = getattr(scorer, "world_config", None)
    if config is None:
        raise ValueError("not a scorer from train_world_clip or load_world_clip (no world_config)")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if hasattr(scorer.tokenizer, "save_pretrained"):  # a trimmed CLIP's own tokenizer (open_clip's HFTokenizer)
        scorer.tokenizer.save_pretrained(str(path))
    _write_clip(path, {name: tensor.detach().to("cpu").contiguous() for name, tensor in scorer.model.state_dict().items()},
                config)
    return path


def _write_clip(path: Path, state: dict, config: dict) -> None:
    from safetensors.torch import save_file

    from csr_bench.storage.files import atomic_write_text

    save_file(state, str(path / WEIGHTS_FILE))
    atomic_write_text(path / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")


def load_world_clip(path: str | Path, device: str | torch.device | None = "cpu", **kwargs: Any) -> ClipScorer:
    """A ``ClipScorer`` from a folder written by ``save_world_clip`` (offline; safetensors only)."""
    from csr_bench.errors import CsrBenchError

    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise CsrBenchError(f"{path}: expected {CONFIG_FILE} and {WEIGHTS_FILE} (a folder written by save_world_clip)")
    scorer = ClipScorer.from_pretrained(f"local-dir:{path.resolve()}", pretrained=None, device=device, **kwargs)
    scorer.world_config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    return scorer


# -- a vocabulary of the world's words ---------------------------------------------------------
# open_clip's BPE has 49,408 tokens; a world of a few hundred words uses a few hundred of them, and the
# rest of the token embedding (12.6 of the default CLIP's 18 MB) is never trained: a row gets no
# gradient unless its token is in a training text, and AdamW leaves it at its initial value (no weight
# decay on embeddings). Trimming keeps the rows of the tokens the world's words are made of, in
# open_clip's order (the 512 byte symbols, the merges those words use, then <start_of_text> and
# <end_of_text>, so the end token keeps the highest id that open_clip's argmax pooling looks for), and
# ships the matching BPE as a Hugging Face tokenizer in the same folder, which open_clip loads for a
# ``local-dir:`` model whose text_cfg names ``hf_tokenizer_name``. A text made of those words gets the
# same tokens, hence the same embedding, as in the untrimmed model; another word falls apart into
# smaller pieces (down to bytes, all kept) that the untrimmed model would have tokenized otherwise,
# both with untrained rows.

def _bpe_merges(tokenizer, piece: str) -> list[tuple[str, str]]:
    """The merges open_clip's ``SimpleTokenizer.bpe`` applies to one pre-tokenized ``piece``, in order
    (the same loop: the lowest-ranked pair first, every occurrence left to right)."""
    word = tuple(piece[:-1]) + (piece[-1] + "</w>",)
    applied = []
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        bigram = min(pairs, key=lambda pair: tokenizer.bpe_ranks.get(pair, float("inf")))
        if bigram not in tokenizer.bpe_ranks:
            break
        applied.append(bigram)
        merged, i = [], 0
        while i < len(word):
            if i < len(word) - 1 and (word[i], word[i + 1]) == bigram:
                merged.append(word[i] + word[i + 1])
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = tuple(merged)
    return applied


def world_vocabulary_merges(texts: Iterable[str]) -> list[tuple[str, str]]:
    """The merges of open_clip's BPE that tokenizing ``texts`` uses, in their rank order."""
    import regex

    import_open_clip()
    from open_clip.tokenizer import SimpleTokenizer

    tokenizer = SimpleTokenizer()
    pieces = {piece for text in set(texts) for piece in regex.findall(tokenizer.pat, tokenizer.clean_fn(text))}
    used: set[tuple[str, str]] = set()
    for piece in pieces:
        used.update(_bpe_merges(tokenizer, "".join(tokenizer.byte_encoder[b] for b in piece.encode("utf-8"))))
    return sorted(used, key=tokenizer.bpe_ranks.__getitem__)


def trimmed_tokenizer(merges: Sequence[tuple[str, str]], context_length: int):
    """open_clip's BPE with only ``merges``, as a ``PreTrainedTokenizerFast``; with ``clean="lower"``
    (applied by open_clip's HFTokenizer, as SimpleTokenizer does) it gives SimpleTokenizer's tokens
    for any text those merges cover, renumbered: bytes, merges, <start_of_text>, <end_of_text>; padding
    with <end_of_text> after the real one, which argmax pooling and the causal mask both ignore."""
    import_open_clip()
    from open_clip.tokenizer import bytes_to_unicode
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [SOT, EOT]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=list(merges), end_of_word_suffix="</w>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([  # SimpleTokenizer's pattern: its matches, no whitespace
        pre_tokenizers.Split(Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.BPEDecoder(suffix="</w>")
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in (SOT, EOT)])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{SOT} $A {EOT}", special_tokens=[(SOT, vocab[SOT]), (EOT, vocab[EOT])])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=SOT, eos_token=EOT, pad_token=EOT,
                                   model_max_length=context_length, clean_up_tokenization_spaces=False)


def trim_world_clip(scorer: ClipScorer, texts: Iterable[str], path: str | Path) -> Path:
    """Save the untrimmed ``scorer`` (from ``train_world_clip``) into the folder ``path`` with its
    token embedding cut to the tokens of ``texts`` and the matching tokenizer (see above); reload it
    with ``load_world_clip``. Only the token embedding's row count (``vocab_size``) changes."""
    import_open_clip()
    from open_clip.tokenizer import SimpleTokenizer

    config = getattr(scorer, "world_config", None)
    if config is None or not isinstance(scorer.tokenizer, SimpleTokenizer):
        raise ValueError("not an untrimmed scorer from train_world_clip")
    merges = world_vocabulary_merges(texts)
    tokenizer = trimmed_tokenizer(merges, config["model_cfg"]["text_cfg"]["context_length"])
    old_ids = [scorer.tokenizer.encoder[token] for token, _ in sorted(tokenizer.get_vocab().items(),
                                                                        key=lambda item: item[1])]
    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in scorer.model.state_dict().items()}
    state["token_embedding.weight"] = state["token_embedding.weight"][torch.tensor(old_ids)].contiguous()
    text_cfg = {**config["model_cfg"]["text_cfg"], "vocab_size": len(old_ids), "hf_tokenizer_name": "world",
                "tokenizer_kwargs": {"clean": "lower"}}
    trimmed = {**config, "model_cfg": {**config["model_cfg"], "text_cfg": text_cfg},
               "world_training": {**config["world_training"], "trimmed_from_vocab_size": len(scorer.tokenizer.encoder)}}
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(path))
    _write_clip(path, state, trimmed)
    return path
