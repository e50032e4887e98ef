"""Reward functions that ``csr-bench grade-reward`` grades on preference pairs (MJ-Bench): each scores
(image, text) pairs with a CLIP, in its own units, which the tie threshold is given in.

- ``ri:<model>``: CSR's R_I, ``100 * cos`` with the CLIP that model's CSR preset names (score.py of
  the CSR reference; csr_bench/models/clip.py computes it), else CSR's default CLIP (LLaVA-1.5's
  tower, ViT-L-14-336 with OpenAI's weights).
- ``open_clip:<model>:<pretrained>``: any open_clip model, raw cosine as MJ-Bench's ``get_clipscore``
  (reward_models/score_reward_models.py: normalised embeddings, ``text @ image.T``, no x100, no
  clamp; the text truncated at the model's context, 77 tokens).
- ``world``: the world's CLIP, ``100 * cos`` (its R_I); ``tiny``: the seed-built tiny CLIP (tests).

Loading imports torch and open_clip; naming and parsing a reward does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from csr_bench.errors import CsrBenchError

# CsrConfig's clip_model / clip_pretrained defaults (csr_bench/methods/csr/config.py; models sit below
# methods, so they are repeated here and a test keeps them equal).
CSR_CLIP = ("ViT-L-14-336-quickgelu", "openai")
R_I_UNIT = "100*cos"
COSINE_UNIT = "cos"
KINDS = ("ri:<model>", "open_clip:<model>:<pretrained>", "world", "tiny")


@dataclass(frozen=True)
class RewardSpec:
    """A parsed ``--reward``: which CLIP, with which weights, in which unit."""

    name: str  # as given
    clip_model: str  # load_clip's model_name ("tiny", "world" or an open_clip name)
    clip_pretrained: str
    scale: float  # 100 (R_I's units) or 1 (raw cosine)

    @property
    def unit(self) -> str:
        return R_I_UNIT if self.scale == 100.0 else COSINE_UNIT

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "clip_model": self.clip_model, "clip_pretrained": self.clip_pretrained,
                "unit": self.unit}


def parse_reward(name: str) -> RewardSpec:
    """The reward ``name`` names, or a one-line error listing the forms."""
    forms = f"expected one of {', '.join(KINDS)}"
    if name in ("world", "tiny"):
        return RewardSpec(name, name, "", 100.0)
    kind, _, rest = name.partition(":")
    if kind == "ri" and rest:
        from csr_bench.models.registry import MODELS

        if rest not in MODELS:
            raise CsrBenchError(f"--reward {name}: unknown model {rest!r} (known: {', '.join(MODELS)})")
        preset = MODELS[rest].method_presets.get("csr", {})
        return RewardSpec(name, str(preset.get("clip_model", CSR_CLIP[0])),
                          str(preset.get("clip_pretrained", CSR_CLIP[1])), 100.0)
    if kind == "open_clip":
        model, sep, pretrained = rest.partition(":")
        if model and sep and pretrained:
            return RewardSpec(name, model, pretrained, 1.0)
    raise CsrBenchError(f"--reward {name!r}: {forms}")


class RewardFunction:
    """A loaded reward: scores both sides of pairs, batched."""

    def __init__(self, spec: RewardSpec, device: str | None = None):
        from csr_bench.models.registry import load_clip

        self.spec = spec
        self.clip = load_clip(spec.clip_model, spec.clip_pretrained, device=device)

    def _values(self, image_rows, text_rows, texts: Sequence[str]) -> list[float]:
        """The reward of each (image row, text row): ``100 * cos`` through CSR's own R_I code
        (ClipScorer.scores), or the raw cosine as MJ-Bench's get_clipscore."""
        if self.spec.scale == 100.0:
            return [self.clip.scores(image_row, [text], text_row[None])[0]
                    for image_row, text_row, text in zip(image_rows, text_rows, texts)]
        return [float(text_row @ image_row) for image_row, text_row in zip(image_rows, text_rows)]

    def score_image_pairs(self, pairs: Sequence[tuple[str, Any, Any]]) -> list[tuple[float, float]]:
        """(s0, s1) of each (caption, image0, image1): one caption scored against both images."""
        if not pairs:
            return []
        images = [image for _, image0, image1 in pairs for image in (image0, image1)]
        captions = [caption for caption, _, _ in pairs for _ in (0, 1)]
        values = self._values(self.clip.encode_images(images), self.clip.encode_texts(captions), captions)
        return [(values[2 * i], values[2 * i + 1]) for i in range(len(pairs))]

    def score_caption_pairs(self, pairs: Sequence[tuple[Any, str, str]]) -> list[tuple[float, float]]:
        """(s0, s1) of each (image, caption0, caption1): both captions scored against one image."""
        if not pairs:
            return []
        image_rows = self.clip.encode_images([image for image, _, _ in pairs])
        captions = [caption for _, caption0, caption1 in pairs for caption in (caption0, caption1)]
        doubled = image_rows.repeat_interleave(2, dim=0)
        values = self._values(doubled, self.clip.encode_texts(captions), captions)
        return [(values[2 * i], values[2 * i + 1]) for i in range(len(pairs))]


__all__ = ["CSR_CLIP", "RewardFunction", "RewardSpec", "parse_reward"]
