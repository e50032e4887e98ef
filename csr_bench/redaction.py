"""Secrets never reach results, logs, configs or error messages: ``redact_config``, ``redact_text``
and ``install_log_redaction``. Details (the secrets csr-bench can meet):
docs/safety-and-determinism.md, "csr_bench/redaction.py".
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any, Iterable, Mapping

REDACTED = "***"
# Environment variables that hold secrets csr-bench or its libraries may use.
SECRET_ENV_VARS = ("CSR_BENCH_JUDGE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                   "HUGGINGFACE_HUB_TOKEN", "HF_API_TOKEN")
# Any other variable named like a secret (GITHUB_TOKEN, AZURE_OPENAI_API_KEY, WANDB_API_KEY, ...).
_SECRET_ENV_NAME = re.compile(r"(API_?KEY|ACCESS_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
MIN_SECRET_LENGTH = 8  # shorter values (flags such as HF_HUB_DISABLE_IMPLICIT_TOKEN=1) are not secrets
# Config keys and URL query parameters whose values are secrets. "max_new_tokens", "pad_token" and the
# like are not: only these names, or names ending in _api_key / _secret / _password / _auth_token.
_SECRET_KEYS = {"api_key", "apikey", "token", "hf_token", "hub_token", "access_token", "auth_token",
                "bearer_token", "refresh_token", "id_token", "secret", "client_secret", "password", "passwd",
                "authorization", "credential", "credentials", "x_api_key"}
# In URLs also these (?key=... of some gateways, signed URLs' sig / signature).
_SECRET_QUERY_KEYS = _SECRET_KEYS | {"key", "sig", "signature", "code"}
_SECRET_KEY_SUFFIX = re.compile(r"_(api_?key|secret|password|passwd|auth_token|access_token|hub_token)$")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
_AUTH_HEADER = re.compile(r"(?i)(?<![?&\w-])(authorization|x-api-key|api-key)(\s*[:=]\s*)(['\"]?)"
                          r"(?:(?:bearer|basic|token)\s+)?[^'\"\s,;}]+")


def is_secret_key(name: str, *, query: bool = False) -> bool:
    """Whether a config key (or, with ``query``, a URL query parameter) named ``name`` holds a secret."""
    key = name.strip().lower().replace("-", "_")
    return key in (_SECRET_QUERY_KEYS if query else _SECRET_KEYS) or bool(_SECRET_KEY_SUFFIX.search(key))


def _stored_hub_token() -> str | None:
    """The token ``hf auth login`` stored, read without importing huggingface_hub."""
    path = os.environ.get("HF_TOKEN_PATH") or str(
        Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "huggingface") / "token")
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def secret_values(environ: Mapping[str, str] | None = None, *, include_stored_token: bool = True) -> list[str]:
    """Secret values present in the environment (and the stored hub token), longest first."""
    environ = os.environ if environ is None else environ
    found = {value for name, value in environ.items()
             if (name in SECRET_ENV_VARS or _SECRET_ENV_NAME.search(name)) and len(value.strip()) >= MIN_SECRET_LENGTH}
    if include_stored_token and (token := _stored_hub_token()) and len(token) >= MIN_SECRET_LENGTH:
        found.add(token)
    found |= {value.strip() for value in found}
    return sorted(found, key=len, reverse=True)


def redact_url(url: str) -> str:
    """``url`` with any password and every secret-looking query parameter replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(is_secret_key(k, query=True) for k, _ in pairs):
            query = "&".join(f"{urllib.parse.quote(k, safe='')}="
                             f"{REDACTED if is_secret_key(k, query=True) else urllib.parse.quote(v, safe='')}"
                             for k, v in pairs)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_url_match(match: re.Match) -> str:
    url = match.group(0)
    tail = len(url) - len(url.rstrip(".,:;!?)]}"))  # sentence punctuation after a URL is not part of it
    return redact_url(url[:len(url) - tail]) + url[len(url) - tail:]


def redact_text(text: str, secrets: Iterable[str] | None = None, extra: Iterable[str | None] = ()) -> str:
    """``text`` with secret values (``secrets``, default: those of the environment, plus ``extra``),
    URL credentials and Authorization values replaced by ``***``."""
    if not text:
        return text
    values = [*(secret_values() if secrets is None else secrets), *(v for v in extra if v)]
    for value in sorted(values, key=len, reverse=True):
        if value:
            text = text.replace(value, REDACTED)
    text = _URL.sub(_redact_url_match, text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def redact_config(value: Any, secrets: Iterable[str] | None = None) -> Any:
    """A copy of a JSON-like config with secret fields and values replaced by ``***`` (keys kept, so
    the file still says that a key was set); strings are passed through ``redact_text``."""
    secrets = secret_values() if secrets is None else list(secrets)
    if isinstance(value, Mapping):
        return {k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v not in (None, "")
                    else redact_config(v, secrets)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_config(v, secrets) for v in value)
    if isinstance(value, str):
        return redact_text(value, secrets)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites a log record whose message holds a secret (values looked up once, at the first record)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: list[str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets is None:
            self._secrets = secret_values()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's problem, not ours
            return True
        cleaned = redact_text(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put a ``RedactingFilter`` on every handler of ``logger`` (default: the root logger, which every
    csr-bench and library logger propagates to)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
