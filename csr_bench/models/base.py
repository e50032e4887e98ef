"""The one interface every vision-language model implements.

Two operations cover evaluation, CSR and DPO: batched generation for (image, prompt) pairs, and
the summed log-probability of given continuations. Prompts are the user's text only; each adapter
applies its model's own conversation template.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from PIL.Image import Image

    from csr_bench.tasks.config import GenerationSettings


@dataclass(frozen=True)
class GenerationRequest:
    image: Image
    prompt: str
    # Sampling (settings.do_sample) draws this request's tokens from a generator of its own seeded
    # with it, so a sampled response depends on its seed alone, never on the batch it ran in.
    seed: int | None = None


@dataclass(frozen=True)
class ContinuationRequest:
    image: Image
    prompt: str
    continuation: str


class VisionLanguageModel(ABC):
    name: str

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest], settings: GenerationSettings) -> list[str]:
        """One response per request, in request order. Results must not depend on how requests
        are batched: callers may split the same work into batches of any size."""

    @abstractmethod
    def continuation_logprobs(self, requests: Sequence[ContinuationRequest]) -> list[float]:
        """Summed token log-probability of each continuation given its image and prompt."""

    @abstractmethod
    def prompt_length(self, prompt: str) -> int:
        """Token count of the templated prompt, used to batch prompts of similar length together."""

    def input_length(self, prompt: str) -> int:
        """Token count of the templated prompt with its image's tokens (what the context must hold)."""
        return self.prompt_length(prompt)

    def context_length(self) -> int | None:
        """The most tokens (prompt, image and generated) the model was made for; None if unknown."""
        return None

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What produced the predictions (name, source, dtype, device), for results.json and resume checks."""
