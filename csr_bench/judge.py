"""An LLM judge behind any OpenAI-compatible endpoint (MM-Vet, LLaVA-Bench, MMBench fallback): a
standard-library client that reads no other credential, with answers cached per task folder.
Details (configuration, why not ``openai``): docs/benchmarks.md, "csr_bench/judge.py".
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

from csr_bench.errors import CsrBenchError

URL_ENV, MODEL_ENV, KEY_ENV = "CSR_BENCH_JUDGE_URL", "CSR_BENCH_JUDGE_MODEL", "CSR_BENCH_JUDGE_API_KEY"
TIMEOUT_ENV, RETRIES_ENV, WORKERS_ENV = "CSR_BENCH_JUDGE_TIMEOUT", "CSR_BENCH_JUDGE_RETRIES", "CSR_BENCH_JUDGE_WORKERS"

NO_JUDGE = ("no judge configured: set --judge-url and --judge-model "
            f"(or {URL_ENV} / {MODEL_ENV})")

DEFAULT_TIMEOUT = 120.0  # seconds per socket operation; a large local judge can be slow
DEFAULT_RETRIES = 5  # after the first attempt; backoff 1, 2, 4, 8, 16 s
DEFAULT_WORKERS = 4  # prompts in flight at once
MAX_BACKOFF = 60.0
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}  # plus any other 5xx

T = TypeVar("T")
R = TypeVar("R")


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


def display_url(url: str) -> str:
    """The URL without user:password@ or query string, which may hold credentials."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _setting(value: Any, name: str, default: Any, cast: Callable[[Any], Any], minimum: float) -> Any:
    """An explicit value, else the environment variable ``name``, else the default."""
    if value is not None:
        return cast(value)
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise CsrBenchError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise CsrBenchError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib would carry the Authorization header to the new host."""

    def redirect_request(self, *args, **kwargs):
        return None


class Judge:
    """Sends one prompt to an OpenAI-compatible chat-completions endpoint and returns the text.

    ``timeout``, ``retries`` and ``workers`` default to CSR_BENCH_JUDGE_TIMEOUT / _RETRIES /
    _WORKERS or the built-in defaults; ``backoff`` is the first retry's delay (doubling after).
    """

    def __init__(self, settings: JudgeSettings, cache_path: Path | None = None, *, timeout: float | None = None,
                 retries: int | None = None, backoff: float = 1.0, workers: int | None = None):
        if not settings.configured:
            raise CsrBenchError("judge needs both a URL and a model")
        parts = urllib.parse.urlsplit(settings.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CsrBenchError(f"judge URL must start with http:// or https://, such as http://127.0.0.1:8000/v1 "
                                f"(got {display_url(settings.base_url)!r})")
        if parts.username is not None or parts.password is not None:
            raise CsrBenchError(f"judge URL must not hold user:password@ (got {display_url(settings.base_url)!r}); "
                                f"put the key in {KEY_ENV}")
        self.settings = settings
        self.model = settings.model
        self.cache_path = Path(cache_path) if cache_path is not None else None
        # {base}/chat/completions, keeping a query string (some gateways want ?api-version=...)
        self.url = urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/chat/completions",
                                                          fragment=""))
        self.endpoint = display_url(self.url)
        self.timeout = _setting(timeout, TIMEOUT_ENV, DEFAULT_TIMEOUT, float, 0.001)
        self.retries = _setting(retries, RETRIES_ENV, DEFAULT_RETRIES, int, 0)
        self.workers = _setting(workers, WORKERS_ENV, DEFAULT_WORKERS, int, 1)
        self.backoff = backoff
        self._api_key = os.environ.get(KEY_ENV) or None
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._lock = threading.Lock()
        self._cache: dict[str, str] | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"Judge(model={self.model!r}, endpoint={self.endpoint!r})"

    # -- cache -----------------------------------------------------------------------------------

    def cache_key(self, prompt: str, system: str | None, max_tokens: int, temperature: float,
                  images: Sequence[str] = ()) -> str:
        """``images``: the data URLs sent with the prompt; a text-only prompt keys as it always did."""
        fields = {"model": self.model, "system": system, "prompt": prompt, "max_tokens": max_tokens,
                  "temperature": temperature}
        if images:
            fields["images"] = [hashlib.sha256(url.encode("ascii")).hexdigest() for url in images]
        payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _cached(self) -> dict[str, str]:
        """Read the cache file once; callers hold the lock."""
        if self._cache is None:
            from csr_bench.storage.files import read_jsonl_records

            records = read_jsonl_records(self.cache_path) if self.cache_path else []
            self._cache = {r["key"]: r["answer"] for r in records
                           if isinstance(r.get("key"), str) and isinstance(r.get("answer"), str)}
        return self._cache

    # -- requests --------------------------------------------------------------------------------

    def complete(self, prompt: str, *, system: str | None = None, max_tokens: int = 512,
                 temperature: float = 0.0, images: Sequence[Any] = ()) -> str:
        """The judge's answer to ``prompt`` (from the cache when it was asked before).

        ``images`` (PIL images or encoded image bytes) go with the prompt as OpenAI ``image_url``
        parts holding data URLs, before the text, as vLLM's chat endpoint takes them for a vision
        judge (Prometheus-Vision for Bingo, MMIE-Score for MMIE). An empty or nonsensical answer is
        returned as it is; the scorer decides what it means."""
        urls = [image_data_url(image) for image in images]
        key = self.cache_key(prompt, system, max_tokens, temperature, urls)
        with self._lock:
            cached = self._cached().get(key)
        if cached is not None:
            return cached
        content: Any = prompt
        if urls:
            content = [*({"type": "image_url", "image_url": {"url": url}} for url in urls),
                       {"type": "text", "text": prompt}]
        messages = ([{"role": "system", "content": system}] if system is not None else []) + [
            {"role": "user", "content": content}]
        answer = self._post({"model": self.model, "messages": messages, "temperature": temperature,
                             "max_tokens": max_tokens})
        with self._lock:
            self._cached()[key] = answer
            if self.cache_path is not None:
                from csr_bench.storage.files import append_jsonl

                append_jsonl(self.cache_path, [{"key": key, "model": self.model, "max_tokens": max_tokens,
                                                "temperature": temperature, "answer": answer}])
        return answer

    def _clean(self, text: str, limit: int = 200) -> str:
        """One line, short, with the key and any other secret (should a server echo them) blanked out."""
        from csr_bench.redaction import redact_text

        text = redact_text(text, extra=[self._api_key] if self._api_key else [])
        text = " ".join(text.split())
        return text if len(text) <= limit else text[:limit] + "..."

    def _post(self, payload: dict[str, Any]) -> str:
        from csr_bench import __version__
        from csr_bench.progress import get_logger

        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": f"csr-bench/{__version__}"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        attempts = self.retries + 1
        reason = ""
        for attempt in range(1, attempts + 1):
            wait = None
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with self._opener.open(request, timeout=self.timeout) as response:
                    raw = response.read()
                return self._parse(raw)
            except urllib.error.HTTPError as exc:
                detail = self._error_detail(exc)
                if exc.code not in RETRY_STATUSES and exc.code < 500:
                    raise CsrBenchError(f"judge at {self.endpoint}: HTTP {exc.code}{detail}") from None
                reason = f"HTTP {exc.code}{detail}"
                wait = self._retry_after(exc.headers)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = self._describe(exc)
            if attempt < attempts:
                delay = min(wait if wait is not None else self.backoff * 2 ** (attempt - 1), MAX_BACKOFF)
                get_logger().warning("judge at %s: %s; retrying in %.1f s (attempt %d of %d)",
                                     self.endpoint, reason, delay, attempt + 1, attempts)
                time.sleep(delay)
        raise CsrBenchError(f"judge at {self.endpoint} failed after {attempts} attempt(s): {reason}")

    def _parse(self, raw: bytes) -> str:
        try:
            data = json.loads(raw)
            content = data["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            snippet = self._clean(raw.decode("utf-8", errors="replace"), 100)
            raise CsrBenchError(f"judge at {self.endpoint}: not an OpenAI chat-completions answer "
                                f"({snippet!r})") from None
        return content if isinstance(content, str) else ""  # null content (a refusal): empty text

    def _error_detail(self, exc: urllib.error.HTTPError) -> str:
        try:
            text = exc.read().decode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001 - the body is only decoration for the message
            text = ""
        finally:
            exc.close()
        try:
            message = json.loads(text)["error"]["message"]
            text = message if isinstance(message, str) else text
        except (ValueError, KeyError, TypeError):
            pass
        text = self._clean(text)
        return f" ({text})" if text else ""

    @staticmethod
    def _retry_after(headers) -> float | None:
        """Retry-After in seconds (the HTTP-date form falls back to our own backoff)."""
        try:
            return max(float(headers["Retry-After"]), 0.0)
        except (TypeError, ValueError, KeyError):
            return None

    def _describe(self, exc: BaseException) -> str:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError):
            return f"no answer within {self.timeout:g} s"
        if isinstance(reason, BaseException):
            text = str(reason) or type(reason).__name__
        else:
            text = str(reason)
        return self._clean(text)


def image_data_url(image: Any) -> str:
    """A PNG data URL of a PIL image, or of encoded image bytes as they are (their format sniffed)."""
    import base64

    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
        kind = "jpeg" if data[:3] == b"\xff\xd8\xff" else "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else None
        if kind is None:
            raise CsrBenchError("judge image bytes are neither PNG nor JPEG")
    else:
        import io

        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")
        data, kind = buffer.getvalue(), "png"
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def judge_map(judge: Judge, fn: Callable[[T], R], items: Iterable[T], desc: str = "judge") -> list[R]:
    """``[fn(item) for item in items]`` with up to ``judge.workers`` prompts in flight, in order.

    The first error stops the rest (queued items are cancelled) and is raised."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from csr_bench.progress import progress_bar

    items = list(items)
    results: list[Any] = [None] * len(items)
    workers = max(1, int(getattr(judge, "workers", 1) or 1))
    with progress_bar(total=len(items), desc=desc) as bar:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge")
        try:
            futures = {pool.submit(fn, item): index for index, item in enumerate(items)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return results


def make_judge(settings: JudgeSettings, cache_path: Path | None = None) -> Judge | None:
    """A Judge when both URL and model are set, None when neither is; half a configuration is an error."""
    if not settings.base_url and not settings.model:
        return None
    if not settings.configured:
        missing = "--judge-model / " + MODEL_ENV if settings.base_url else "--judge-url / " + URL_ENV
        raise CsrBenchError(f"judge half configured: also set {missing}")
    return Judge(settings, cache_path)
