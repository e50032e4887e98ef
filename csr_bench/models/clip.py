"""R_I: CLIP image-sentence relevance, ``100 * cos(image, sentence)``, with open_clip: the number the
CSR reference's score.py computes. Details: docs/models.md, "csr_bench/models/clip.py".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union

import torch
import torch.nn.functional as F

from csr_bench.errors import CsrBenchError
from csr_bench.images import open_rgb

if TYPE_CHECKING:
    from PIL import Image

ImageLike = Union["Image.Image", str, Path]  # a PIL image, or a path to one

TINY_CLIP_CONTEXT = 32


def import_open_clip():
    """open_clip, imported after making torchvision importable (open_clip imports it)."""
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    import open_clip

    return open_clip


def as_rgb(image: ImageLike):
    """A PIL image as RGB; a path is opened first (a one-line error naming it when unreadable)."""
    if isinstance(image, (str, Path)):
        return open_rgb(image)
    return image.convert("RGB")


def _clip_checkpoint(model_name: str, pretrained: str | None) -> str | None:
    """The weights file open_clip would load for ``model_name`` / ``pretrained`` (downloaded and cached as
    open_clip does), or None when there are none to load (random weights, or a path open_clip will reject)."""
    import os

    from open_clip import factory
    from open_clip import pretrained as tags

    schema, identifier = factory.parse_model_name(model_name)
    if schema == "local-dir":
        folder = Path(identifier)
        if not folder.is_dir():
            return None
        find = getattr(factory, "_find_checkpoint_in_dir", None)  # open_clip's own choice of file, if it has one
        if find is not None:
            return find(folder)
        files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pth"))
        files.sort(key=lambda p: p.suffix != ".safetensors")
        return str(files[0]) if files else None
    if schema == "hf-hub":
        return tags.download_pretrained_from_hf(identifier)
    if not pretrained:
        return None
    tag = tags.get_pretrained_cfg(identifier.replace("/", "-"), pretrained)
    if tag:
        return tags.download_pretrained(tag) or None
    return pretrained if os.path.isfile(pretrained) else None


def _default_device(device: str | torch.device | None) -> torch.device:
    return torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))


def _trained_with_quick_gelu(open_clip, model_name: str, pretrained: str) -> bool:
    """Whether these weights were trained with QuickGELU. OpenAI's CLIP (LLaVA-1.5's tower, and the
    reference's ``openai/clip-vit-large-patch14-336`` through transformers) uses QuickGELU; open_clip's
    ``ViT-L-14-336`` config has plain GELU and only warns when given the ``openai`` tag, which would
    make every R_I differ from the reference's."""
    return bool(open_clip.get_pretrained_cfg(model_name, pretrained).get("quick_gelu"))


class ClipScorer:
    """An open_clip model with its eval preprocessing and tokenizer, scoring sentences against images."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, device: str | torch.device | None = None,
                 text_batch_size: int = 64, image_batch_size: int = 16):
        self.device = _default_device(device)
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.text_batch_size = text_batch_size
        self.image_batch_size = image_batch_size

    @classmethod
    def from_pretrained(cls, model_name: str = "ViT-L-14-336-quickgelu", pretrained: str = "openai",
                        device: str | torch.device | None = None, **kwargs: Any) -> "ClipScorer":
        """Load an open_clip model by name with a pretrained tag or a local checkpoint file.

        Weights are read from safetensors only unless --allow-pickle (``csr_bench.safety``): the file
        open_clip would load is found first and checked, then loaded into the model built without it."""
        open_clip = import_open_clip()
        device = _default_device(device)
        previous = logging.root.manager.disable
        logging.disable(logging.ERROR)  # open_clip logs the failure at ERROR too: ours is the one line shown
        try:
            checkpoint = _clip_checkpoint(model_name, pretrained)
            if checkpoint is not None:
                from csr_bench.safety import check_weights_file

                check_weights_file(checkpoint, "CLIP weights")
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained, device=device, load_weights=False,
                pretrained_image=False, pretrained_text=False,  # no tower weights fetched behind our back
                force_quick_gelu=_trained_with_quick_gelu(open_clip, model_name, pretrained))
            if checkpoint is not None:  # the very file checked above; torch.load only as weights_only=True
                open_clip.load_checkpoint(model, checkpoint, strict=True, weights_only=True, device="cpu")
            tokenizer = open_clip.get_tokenizer(model_name)
        except CsrBenchError:
            raise
        except Exception as error:  # open_clip raises RuntimeError / OSError / hub errors alike
            cause = " ".join(str(error).split())[:300]
            raise CsrBenchError(
                f"cannot load CLIP model {model_name} (pretrained={pretrained}): its weights cannot be "
                f"downloaded or found here; pass a local checkpoint path via pretrained=/path/to/file "
                f"({type(error).__name__}: {cause})") from None
        finally:
            logging.disable(previous)
        return cls(model, preprocess, tokenizer, device, **kwargs)

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @torch.no_grad()
    def encode_images(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """Unit-length float32 image embeddings, one row per image."""
        rows = []
        for start in range(0, len(images), self.image_batch_size):
            pixels = torch.stack([self.preprocess(as_rgb(im)) for im in images[start:start + self.image_batch_size]])
            rows.append(self.model.encode_image(pixels.to(self.device, self._dtype)).float())
        return F.normalize(torch.cat(rows), dim=-1)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-length float32 text embeddings (the tokenizer truncates at the model's context length).

        Each distinct text is encoded once, so equal texts get bit-identical rows."""
        unique = list(dict.fromkeys(texts))
        rows = []
        for start in range(0, len(unique), self.text_batch_size):
            tokens = self.tokenizer(unique[start:start + self.text_batch_size])
            rows.append(self.model.encode_text(tokens.to(self.device)).float())
        embeddings = F.normalize(torch.cat(rows), dim=-1)
        if len(unique) == len(texts):
            return embeddings
        position = {text: i for i, text in enumerate(unique)}
        return embeddings[torch.tensor([position[text] for text in texts], device=embeddings.device)]

    def score(self, image: ImageLike, sentences: Sequence[str]) -> list[float]:
        """``100 * cos(image, sentence)`` for each sentence, unclamped."""
        return self.score_many([(image, sentences)])[0]

    def score_many(self, items: Sequence[tuple[ImageLike, Sequence[str]]]) -> list[list[float]]:
        """``score`` for many (image, sentences) pairs: images batched, all sentences batched together."""
        items = [(image, list(sentences)) for image, sentences in items]
        texts = [s for _, sentences in items for s in sentences]
        if not texts:
            return [[] for _ in items]
        keep = [i for i, (_, sentences) in enumerate(items) if sentences]
        image_rows = self.encode_images([items[i][0] for i in keep])
        text_rows = self.encode_texts(texts)
        out: list[list[float]] = [[] for _ in items]
        offset = 0
        for row, i in zip(image_rows, keep):
            count = len(items[i][1])
            out[i] = self.scores(row, items[i][1], text_rows[offset:offset + count])
            offset += count
        return out

    @staticmethod
    def scores(image_row: torch.Tensor, texts: Sequence[str], text_rows: torch.Tensor) -> list[float]:
        """``100 * cos`` of one image embedding with each text's embedding, computed once per distinct
        text: sibling sentences that say the same thing tie exactly under R_I (ranks keep sibling
        order on ties, as the reference, which scores sentences one by one), whatever else shares the
        batch; a matrix product alone may round equal rows differently by their position."""
        first: dict[str, int] = {}
        for i, text in enumerate(texts):
            first.setdefault(text, i)
        values = (100.0 * text_rows[list(first.values())] @ image_row).tolist()
        by_text = dict(zip(first, values))
        return [by_text[text] for text in texts]

    def __call__(self, image: ImageLike, sentences: Sequence[str]) -> list[float]:
        """So a scorer can be passed wherever an ``image_scorer(image, sentences)`` callable is expected."""
        return self.score(image, sentences)


def build_tiny_clip(seed: int = 0, device: str | torch.device | None = "cpu") -> ClipScorer:
    """A randomly initialised, tiny open_clip CLIP (32 px images, 2-layer towers, open_clip's own
    BPE tokenizer): for tests and offline smoke runs, where no real CLIP weights can be had.
    The same seed gives the same weights; the global RNG is left as it was."""
    open_clip = import_open_clip()
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=2, width=32, head_width=16, mlp_ratio=2.0, patch_size=8, image_size=32)
    text = CLIPTextCfg(context_length=TINY_CLIP_CONTEXT, vocab_size=49408, width=32, heads=2, layers=2,
                       mlp_ratio=2.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIP(embed_dim=32, vision_cfg=vision, text_cfg=text)
    preprocess = open_clip.image_transform(32, is_train=False)
    tokenizer = open_clip.SimpleTokenizer(context_length=TINY_CLIP_CONTEXT)
    return ClipScorer(model, preprocess, tokenizer, device)
