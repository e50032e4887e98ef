"""LLaVA-1.5 through transformers' ``LlavaForConditionalGeneration`` and its processor, matching
LLaVA-1.5's evaluation (prompt, image padding, prompt ids, decoding, dtype, safe loading).
Details: docs/models.md, "csr_bench/models/llava.py".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence
from weakref import WeakKeyDictionary

from csr_bench.errors import CsrBenchError
from csr_bench.models.base import ContinuationRequest, GenerationRequest, VisionLanguageModel
from csr_bench.models.conversation import llava_v1_prompt

DTYPES = ("auto", "float32", "bfloat16", "float16")


def pick_device(device: str | None) -> str:
    import torch

    if device and device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: str | None, device: str):
    """The weights dtype: ``dtype`` when given, else fp16 on a GPU (LLaVA-1.5's own evaluation and the
    CSR reference's search and evaluation ran in fp16; bf16 rounds 8x coarser) and fp32 on the CPU."""
    import torch

    if dtype and dtype != "auto":
        if dtype not in DTYPES:
            raise CsrBenchError(f"unknown --dtype {dtype} (choose from {', '.join(DTYPES)})")
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.float16
    return torch.float32


def expand_to_square(image, background: tuple[int, int, int]):
    """Pad to a square, image centred, as LLaVA-1.5's ``expand2square``."""
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), background)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def pad_colour(processor) -> tuple[int, int, int]:
    """LLaVA-1.5 pads images with the image processor's mean colour, truncated as its ``expand2square``
    call does (``int(x*255)``: (122, 116, 104) for CLIP's mean)."""
    mean = getattr(processor.image_processor, "image_mean", None) or (0.5, 0.5, 0.5)
    return tuple(int(m * 255) for m in mean)


IMAGE_MODES = ("pad", "crop")


def prepare_images(images: Sequence[Any], mode: str, background: tuple[int, int, int]) -> list:
    """RGB images as the processor should get them: "pad", padded to a square first (LLaVA-1.5's
    ``image_aspect_ratio: pad``: evaluation, DPO); "crop", as they are, so the processor's own resize
    of the shortest side and centre crop decide what the model sees (the CSR reference's generator)."""
    if mode not in IMAGE_MODES:
        raise CsrBenchError(f"unknown image mode {mode!r} (choose from {', '.join(IMAGE_MODES)})")
    rgb = [image.convert("RGB") for image in images]
    return [expand_to_square(image, background) for image in rgb] if mode == "pad" else rgb


def llava_prompt_ids(tokenizer, text: str, image_token: str, image_ids: Sequence[int],
                     add_special_tokens: bool = True) -> list[int]:
    """``text``'s input ids as LLaVA's ``tokenizer_image_token`` (llava/mm_utils.py) builds them, with
    ``image_ids`` (the processor's expanded run of image tokens) where each ``image_token`` stands.

    LLaVA splits the text at the image token, tokenises each piece on its own and joins them; when the
    first piece starts with BOS it keeps that BOS once and drops the first token (BOS) of every other
    piece. Each piece being a text of its own, Llama's tokenizer starts it with ``▁``: the ``\n``
    after ``<image>`` is ``▁ <0x0A>`` (29871, 13), as LLaVA-1.5 trained. transformers 5 tokenising the
    whole text with ``legacy: false`` adds no ``▁`` after a special token, hence this function.
    ``add_special_tokens=False`` (trl's prompt call) is the same rule with pieces tokenised without BOS.
    """
    chunks = [_piece_ids(tokenizer, chunk, add_special_tokens) for chunk in text.split(image_token)]
    ids: list[int] = []
    offset = 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        ids.append(chunks[0][0])
    for index, chunk in enumerate(chunks):
        if index:
            ids.extend(image_ids)
        ids.extend(chunk[offset:])
    return list(ids)


# Token ids of prompt pieces per tokenizer: a benchmark asks one question of thousands of images
# (CHAIR's one instruction, POPE's few hundred), and its prompts are tokenised for sorting and again
# for each batch.
_PIECES: WeakKeyDictionary = WeakKeyDictionary()


def _piece_ids(tokenizer, text: str, add_special_tokens: bool) -> tuple[int, ...]:
    cache = _PIECES.setdefault(tokenizer, {})
    key = (text, add_special_tokens)
    if key not in cache:
        if len(cache) >= 65536:
            cache.clear()
        cache[key] = tuple(tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])
    return cache[key]


def image_token_id(processor) -> int:
    token_id = getattr(processor, "image_token_id", None)
    return int(token_id) if token_id is not None else processor.tokenizer.convert_tokens_to_ids(processor.image_token)


def image_sequence_length(config) -> int:
    """How many tokens an image becomes in the language model's input (576 for LLaVA-1.5)."""
    if getattr(config, "image_seq_length", None):
        return int(config.image_seq_length)
    vision = config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    return patches + (1 if getattr(config, "vision_feature_select_strategy", "default") == "full" else 0)


def encode_llava(processor, images: Sequence[Any], texts: Sequence[str], *, add_special_tokens: bool = True,
                 padding_side: str = "left"):
    """Pixel values and padded input ids (``BatchFeature`` of tensors) for one image per text: pixels
    and the length of each image's run of image tokens are the processor's own; the ids around it
    follow ``llava_prompt_ids``."""
    import torch
    from transformers import BatchFeature

    image_token = processor.image_token
    token_id = image_token_id(processor)
    # the processor expands each image token into the run the model's features fill (576 for LLaVA-1.5;
    # the same for every image: one crop size)
    expanded = processor(images=images, text=[image_token] * len(texts), return_tensors="pt",
                         add_special_tokens=False)
    runs = (expanded["input_ids"] == token_id).sum(-1).tolist()
    rows = []
    for text, run in zip(texts, runs):
        occurrences = text.count(image_token)
        if occurrences != 1:
            raise CsrBenchError(f"a LLaVA prompt holds one {image_token} per image, found {occurrences} in {text[:60]!r}")
        rows.append(llava_prompt_ids(processor.tokenizer, text, image_token, [token_id] * run, add_special_tokens))
    pad = processor.tokenizer.pad_token_id
    if pad is None:
        pad = processor.tokenizer.eos_token_id
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        span = slice(width - len(row), width) if padding_side == "left" else slice(0, len(row))
        ids[index, span] = torch.tensor(row, dtype=torch.long)
        mask[index, span] = 1
    data = {key: value for key, value in expanded.items() if key not in ("input_ids", "attention_mask")}
    return BatchFeature({"input_ids": ids, "attention_mask": mask, **data})


class LlavaPromptProcessor:
    """A LLaVA processor whose calls with images and text build the ids with ``encode_llava`` (LLaVA's
    rule, as evaluation); every other call and attribute is the processor's own. For trl's vision
    collator, which tokenises each prompt with its image in one call and the completions in others."""

    def __init__(self, processor):
        self.processor = processor

    def __getattr__(self, name: str):
        if name == "processor":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.processor, name)

    def __call__(self, images=None, text=None, **kwargs):
        if images is None or text is None:
            return self.processor(images=images, text=text, **kwargs)
        if kwargs.get("return_tensors", "pt") != "pt":
            raise CsrBenchError(f"LLaVA prompt encoding returns torch tensors, not {kwargs['return_tensors']!r}")
        texts = [text] if isinstance(text, str) else list(text)
        return encode_llava(self.processor, images, texts, add_special_tokens=kwargs.get("add_special_tokens", True),
                            padding_side=kwargs.get("padding_side") or self.processor.tokenizer.padding_side)


def load_llava_checkpoint(name_or_path, torch_dtype):
    """(model, processor) of a llava-hf checkpoint: safetensors only, no remote code (unless
    --allow-pickle / --trust-remote-code, see csr_bench.safety), PIL image processing (the same pixels
    with or without torchvision, and LLaVA-1.5's own PIL resize)."""
    from csr_bench.compat import ensure_torchvision_importable
    from csr_bench.safety import explain_load_error, hf_kwargs, loading_policy

    if Path(name_or_path).is_dir():
        check_checkpoint_weights(Path(name_or_path))

    ensure_torchvision_importable()  # before transformers' image processors import torchvision
    import transformers
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from csr_bench.progress import is_quiet

    transformers.logging.set_verbosity_error()
    if is_quiet():  # --quiet: no download/loading bars either
        transformers.logging.disable_progress_bar()
    try:
        processor = AutoProcessor.from_pretrained(name_or_path, backend="pil", **hf_kwargs())
        # use_safetensors=True: never a pickle; None (with --allow-pickle): safetensors first, else
        # pytorch_model.bin through torch.load(weights_only=True)
        model = LlavaForConditionalGeneration.from_pretrained(
            name_or_path, dtype=torch_dtype, use_safetensors=None if loading_policy().allow_pickle else True,
            **hf_kwargs())
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CsrBenchError(f"cannot load model {name_or_path}: {explain_load_error(reason)}") from None
    return model, processor


class LlavaModel(VisionLanguageModel):
    def __init__(self, model, processor, *, name: str, source: str, device: str | None = None,
                 dtype: str | None = None):
        device = pick_device(device)
        self.torch_dtype = pick_dtype(dtype, device)
        self.model = model.to(device=device, dtype=self.torch_dtype).eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        self.name = name
        self.source = source
        self.pad_colour = pad_colour(processor)

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, name: str, device: str | None = None,
                        dtype: str | None = None) -> "LlavaModel":
        """Load a llava-hf format checkpoint (hub id or a folder written by save_pretrained)."""
        device = pick_device(device)
        model, processor = load_llava_checkpoint(name_or_path, pick_dtype(dtype, device))
        return cls(model, processor, name=name, source=str(name_or_path), device=device, dtype=dtype)

    # -- helpers -------------------------------------------------------------------------------
    def _text(self, prompt: str) -> str:
        return llava_v1_prompt(prompt, image_token=self.processor.image_token)

    def _encode(self, images: Sequence[Any], prompts: Sequence[str], image: str = "pad"):
        """Model inputs for (image, prompt) pairs, left-padded. ``image``: "pad" (evaluation, as
        LLaVA-1.5) or "crop" (the processor's centre crop, as the CSR reference's search)."""
        inputs = encode_llava(self.processor, prepare_images(images, image, self.pad_colour),
                              [self._text(p) for p in prompts])
        inputs = inputs.to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.torch_dtype)
        return inputs

    # -- interface -----------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest], settings) -> list[str]:
        import torch
        from transformers import GenerationConfig

        if not requests:
            return []
        inputs = self._encode([r.image for r in requests], [r.prompt for r in requests])
        # A fresh config: a checkpoint's saved generation_config must not change the protocol.
        config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample,
            num_beams=settings.num_beams,
            temperature=settings.temperature if settings.do_sample else None,
            top_p=settings.top_p if settings.do_sample else None,
            pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
            bos_token_id=self.tokenizer.bos_token_id)
        processors = None
        if settings.do_sample:  # each request's draws from its own seed: the batch never changes a sample
            from csr_bench.models.seeded_sampling import SeededSampling

            processors = [SeededSampling([r.seed for r in requests], self.device)]
        with torch.inference_mode():
            output = self.model.generate(**inputs, generation_config=config, logits_processor=processors)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return [text.strip() for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def continuation_logprobs(self, requests: Sequence[ContinuationRequest]) -> list[float]:
        import torch

        if not requests:
            return []
        inputs = self._encode([r.image for r in requests], [r.prompt for r in requests])
        prompts = [ids[mask.bool()].tolist() for ids, mask in zip(inputs["input_ids"], inputs["attention_mask"])]
        continuations = self.tokenizer([r.continuation for r in requests], add_special_tokens=False)["input_ids"]
        for request, ids in zip(requests, continuations):
            if not ids:
                raise CsrBenchError(f"empty continuation for prompt {request.prompt[:60]!r}")
        rows = [p + c for p, c in zip(prompts, continuations)]
        length = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        # Left padding keeps every continuation at the end of its row; explicit positions make a
        # padded row compute exactly what it would alone.
        input_ids = torch.tensor([[pad] * (length - len(r)) + r for r in rows], device=self.device)
        attention = torch.tensor([[0] * (length - len(r)) + [1] * len(r) for r in rows], device=self.device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                                pixel_values=inputs["pixel_values"]).logits
        scores = []
        for row, ids in enumerate(continuations):
            n = len(ids)
            step_logits = logits[row, length - n - 1:length - 1].float()
            targets = input_ids[row, length - n:]
            logprobs = torch.log_softmax(step_logits, dim=-1).gather(-1, targets[:, None]).squeeze(-1)
            scores.append(float(logprobs.sum()))
        return scores

    def prompt_length(self, prompt: str) -> int:
        image_token = self.processor.image_token
        return len(llava_prompt_ids(self.tokenizer, self._text(prompt), image_token, [image_token_id(self.processor)]))

    def input_length(self, prompt: str) -> int:
        return self.prompt_length(prompt) - 1 + image_sequence_length(self.model.config)

    def context_length(self) -> int | None:
        return getattr(self.model.config.get_text_config(), "max_position_embeddings", None)

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "class": type(self.model).__name__,
                "dtype": str(self.torch_dtype).removeprefix("torch."), "device": self.device}


def check_llava_checkpoint(path: Path) -> None:
    """Fail early, in one line, on a folder that is not a llava-hf format checkpoint."""
    import json

    config = path / "config.json"
    if not config.is_file():
        raise CsrBenchError(f"--model {path}: no config.json (expected a folder written by save_pretrained)")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (ValueError, OSError) as exc:
        raise CsrBenchError(f"--model {path}: unreadable config.json ({exc})") from None
    if model_type != "llava":
        raise CsrBenchError(f"--model {path}: model_type '{model_type}' is not supported (expected 'llava')")
    check_checkpoint_weights(path)


def check_checkpoint_weights(path: Path) -> None:
    """Safetensors weights in the folder, or pickled ones with --allow-pickle; else a one-line error
    naming the file and the flag."""
    import json

    from csr_bench.safety import ALLOW_PICKLE_FLAG, check_weights_file, loading_policy, pickle_weight_files

    try:  # a config may name its weights file (transformers_weights); it must be safetensors too
        explicit = json.loads((path / "config.json").read_text()).get("transformers_weights")
    except (ValueError, OSError, AttributeError):
        explicit = None
    if isinstance(explicit, str):
        check_weights_file(path / explicit, "weights named by config.json's transformers_weights")
    if any(path.glob("*.safetensors")):
        return
    pickles = pickle_weight_files(path)
    if not pickles:
        raise CsrBenchError(f"--model {path}: no .safetensors weights (expected model.safetensors, as "
                            "save_pretrained writes)")
    if not loading_policy().allow_pickle:
        raise CsrBenchError(f"--model {path}: no .safetensors weights, only {path / pickles[0].name} in pickle "
                            f"format, which is not loaded (unpickling can run code); convert it to safetensors, "
                            f"or pass {ALLOW_PICKLE_FLAG} if you trust it")
