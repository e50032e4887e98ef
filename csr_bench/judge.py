"""An LLM judge behind any OpenAI-compatible endpoint (MM-Vet, LLaVA-Bench, MMBench fallback).

Configured by flags or environment: base URL (--judge-url / CSR_BENCH_JUDGE_URL) and model name
(--judge-model / CSR_BENCH_JUDGE_MODEL). The API key is read only from CSR_BENCH_JUDGE_API_KEY and
is never written to results, logs or caches. With no judge configured, judge-scored tasks are
reported as skipped, never scored 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from csr_bench.errors import CsrBenchError

URL_ENV, MODEL_ENV, KEY_ENV = "CSR_BENCH_JUDGE_URL", "CSR_BENCH_JUDGE_MODEL", "CSR_BENCH_JUDGE_API_KEY"


@dataclass(frozen=True)
class JudgeSettings:
    base_url: str | None = None
    model: str | None = None

    @classmethod
    def resolve(cls, base_url: str | None, model: str | None) -> "JudgeSettings":
        """Flags first, then the environment."""
        return cls(base_url=base_url or os.environ.get(URL_ENV) or None,
                   model=model or os.environ.get(MODEL_ENV) or None)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


class Judge:
    """Sends one prompt, returns the judge's text. Placeholder until the client lands."""

    def __init__(self, settings: JudgeSettings, cache_path: Path | None = None):
        self.settings = settings
        self.model = settings.model
        self.cache_path = cache_path

    def complete(self, prompt: str, *, system: str | None = None, max_tokens: int = 512) -> str:
        raise CsrBenchError("the judge client is not implemented yet")


def make_judge(settings: JudgeSettings, cache_path: Path | None = None) -> Judge | None:
    """A Judge when both URL and model are set, None when neither is; half a configuration is an error."""
    if not settings.base_url and not settings.model:
        return None
    if not settings.configured:
        missing = "--judge-model / " + MODEL_ENV if settings.base_url else "--judge-url / " + URL_ENV
        raise CsrBenchError(f"judge half configured: also set {missing}")
    return Judge(settings, cache_path)
