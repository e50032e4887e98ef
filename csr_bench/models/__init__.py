"""Model adapters: the VisionLanguageModel interface, LLaVA-1.5 (and the tiny LLaVA), the registry."""

from csr_bench.models.base import ContinuationRequest, GenerationRequest, VisionLanguageModel
from csr_bench.models.registry import DEFAULT_MODEL, MODELS, ModelSpec, resolve_model

__all__ = ["ContinuationRequest", "DEFAULT_MODEL", "GenerationRequest", "MODELS", "ModelSpec",
           "VisionLanguageModel", "resolve_model"]
