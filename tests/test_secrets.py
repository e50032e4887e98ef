"""Secrets (the judge's API key, OpenAI keys, hub tokens, credentials in URLs) never appear in
results, samples, logs, configs, reports or terminal output (csr_bench/redaction.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SECRET_ENV, SECRET_MARKER, assert_one_line_error
from csr_bench.redaction import (REDACTED, RedactingFilter, install_log_redaction, redact_config, redact_text,
                                 redact_url, secret_values)
from judge_server import JudgeServer, Reply


@pytest.fixture(autouse=True)
def _local_judge(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for name in ("CSR_BENCH_JUDGE_URL", "CSR_BENCH_JUDGE_MODEL", "CSR_BENCH_JUDGE_RETRIES"):
        monkeypatch.delenv(name, raising=False)


def run_with_secrets(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
    """``csr-bench ARGS`` with every secret variable set to a value holding SECRET_MARKER."""
    env = {**os.environ, **SECRET_ENV, **extra_env}
    return subprocess.run([sys.executable, "-m", "csr_bench", *args], capture_output=True, text=True, env=env,
                           timeout=600)


def leaks(folder: Path, *streams: str) -> list[str]:
    """Every file under ``folder`` (read as bytes: weights, pickles and logs too) and every stream that
    holds the marker."""
    found = [str(path) for path in sorted(folder.rglob("*"))
             if path.is_file() and SECRET_MARKER.encode() in path.read_bytes()]
    return found + [f"stream {i}" for i, text in enumerate(streams) if SECRET_MARKER in text]


def mmvet_data(root: Path, n: int = 3) -> Path:
    """A tiny MM-Vet in its local layout (root/mmvet/*.jsonl), on the bundled POPE images."""
    folder = root / "mmvet"
    folder.mkdir(parents=True)
    images = REPO / "csr_bench" / "bundled" / "pope" / "images"
    # distinct questions: a judge prompt per sample (the random tiny-llava answers all alike, and the
    # judge's cache would make equal prompts one request or several, depending on thread timing)
    rows = [{"question_id": f"v1_{i}", "question": f"What is in image {i}?", "answer": "a shape",
             "capability": "rec", "image": str(images / f"00000{i}.png")} for i in range(n)]
    (folder / "mmvet.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


# -- end to end ---------------------------------------------------------------------------------

def test_a_csr_run_writes_and_prints_no_secret(secret_env_run):
    run_dir, result = secret_env_run
    assert (run_dir / "iter_1" / "pairs" / "preferences.jsonl").is_file()  # the run did search, train, evaluate
    assert (run_dir / "run.json").is_file() and (run_dir / "report.html").is_file()
    assert leaks(run_dir.parent, result.stdout, result.stderr) == []


def test_a_judged_eval_uses_the_key_but_writes_and_prints_none(tmp_path):
    data = mmvet_data(tmp_path / "data")
    with JudgeServer(lambda request: Reply("0.5")) as server:
        result = run_with_secrets("eval", "--model", "tiny-llava", "--tasks", "mmvet", "--data-root", str(data),
                                  "--max-new-tokens", "4", "--output", str(tmp_path / "out"),
                                  "--judge-url", server.url, "--judge-model", "judge-m")
    assert result.returncode == 0, result.stderr
    assert server.count == 3  # the judge was really asked, with the key
    assert {r.headers["Authorization"] for r in server.requests} == {f"Bearer {SECRET_ENV['CSR_BENCH_JUDGE_API_KEY']}"}
    results = json.loads((tmp_path / "out" / "tiny-llava" / "iter_0" / "results.json").read_text())
    assert results["results"]["mmvet"]["metrics"]["score"] == pytest.approx(50.0)
    assert (tmp_path / "out" / "tiny-llava" / "iter_0" / "mmvet" / "judge_cache.jsonl").is_file()
    assert leaks(tmp_path / "out", result.stdout, result.stderr) == []


def test_a_judge_that_echoes_the_key_back_is_a_redacted_one_line_error(tmp_path):
    key = SECRET_ENV["CSR_BENCH_JUDGE_API_KEY"]

    def echo(request) -> Reply:  # a server that quotes the request's credentials in its error
        body = {"error": {"message": f"bad key {request.headers.get('Authorization')} (key {key})"}}
        return Reply(status=401, body=json.dumps(body), headers={"X-Echo": key})

    data = mmvet_data(tmp_path / "data", n=1)
    with JudgeServer(echo) as server:
        result = run_with_secrets("eval", "--model", "tiny-llava", "--tasks", "mmvet", "--data-root", str(data),
                                  "--max-new-tokens", "2", "--output", str(tmp_path / "out"),
                                  "--judge-url", server.url, "--judge-model", "judge-m",
                                  CSR_BENCH_JUDGE_RETRIES="0")
    assert server.count >= 1
    line = assert_one_line_error(result, "HTTP 401")
    assert REDACTED in line
    assert leaks(tmp_path / "out", result.stdout, result.stderr) == []


def test_a_judge_error_quoting_any_secret_is_redacted_on_disk(tmp_path):
    def echo(request) -> Reply:  # e.g. a gateway quoting a hub token it was configured with
        return Reply(status=401, body=json.dumps({"error": {"message": f"token {SECRET_ENV['HF_TOKEN']} denied"}}))

    data = mmvet_data(tmp_path / "data", n=1)
    with JudgeServer(echo) as server:
        result = run_with_secrets("eval", "--model", "tiny-llava", "--tasks", "mmvet", "--data-root", str(data),
                                  "--max-new-tokens", "2", "--output", str(tmp_path / "out"),
                                  "--judge-url", server.url, "--judge-model", "judge-m", CSR_BENCH_JUDGE_RETRIES="0")
    assert server.count >= 1
    assert leaks(tmp_path / "out", result.stdout, result.stderr) == []


def test_error_lines_never_show_a_secret():
    result = run_with_secrets("eval", "--model", SECRET_ENV["HF_TOKEN"], "--tasks", "pope")
    line = assert_one_line_error(result, "unknown model")
    assert SECRET_MARKER not in result.stderr + result.stdout and REDACTED in line


def test_credentials_in_the_judge_url_never_reach_disk(tmp_path):
    url = f"http://127.0.0.1:9/v1?api-version=1&api-key={SECRET_MARKER}"
    result = run_with_secrets("eval", "--model", "tiny-llava", "--tasks", "pope", "--data-root", "bundled",
                              "--limit", "1", "--max-new-tokens", "1", "--output", str(tmp_path / "out"),
                              "--judge-url", url, "--judge-model", "judge-m", "--quiet")
    assert result.returncode == 0, result.stderr
    assert leaks(tmp_path / "out", result.stdout, result.stderr) == []


# -- the helpers --------------------------------------------------------------------------------

def test_secret_values_come_from_the_secret_variables_only():
    environ = {**SECRET_ENV, "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", "TOKENIZERS_PARALLELISM": "false",
               "GITHUB_TOKEN": "ghp_0123456789", "PATH": "/usr/bin:/bin", "HOME": "/home/someone-long-name"}
    values = secret_values(environ, include_stored_token=False)
    assert set(values) == {*SECRET_ENV.values(), "ghp_0123456789"}


def test_redact_text_url_and_config():
    secrets = list(SECRET_ENV.values())
    text = (f"judge at https://user:{SECRET_MARKER}@host/v1?api-key={SECRET_MARKER}&api-version=2: "
            f"Authorization: Bearer {SECRET_ENV['CSR_BENCH_JUDGE_API_KEY']} and {SECRET_ENV['HF_TOKEN']}.")
    cleaned = redact_text(text, secrets)
    assert SECRET_MARKER not in cleaned
    assert "https://user:***@host/v1?api-key=***&api-version=2:" in cleaned and cleaned.endswith("***.")
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url("https://h/v1?key=abc&sig=xyz&model=m") == "https://h/v1?key=***&sig=***&model=m"
    config = {"judge_url": f"http://h/v1?token={SECRET_MARKER}", "judge_model": "m", "max_new_tokens": 8,
              "search_batch_tokens": 65536, "hf_token": "hf_xyz", "api_key": None,
              "training": {"extra_args": {"hub_token": "abc", "pad_token": "<pad>"}}, "paths": [SECRET_MARKER]}
    cleaned = redact_config(config, [SECRET_MARKER])
    assert cleaned == {"judge_url": "http://h/v1?token=***", "judge_model": "m", "max_new_tokens": 8,
                       "search_batch_tokens": 65536, "hf_token": REDACTED, "api_key": None,
                       "training": {"extra_args": {"hub_token": REDACTED, "pad_token": "<pad>"}}, "paths": [REDACTED]}
    assert config["hf_token"] == "hf_xyz"  # a copy: the original is left alone


def test_log_records_are_redacted(monkeypatch):
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("csr-bench-test-redaction")
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    try:
        install_log_redaction(logger)
        install_log_redaction(logger)  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logger.warning("retrying with key %s at %s", SECRET_ENV["CSR_BENCH_JUDGE_API_KEY"],
                       f"http://h/v1?api-key={SECRET_MARKER}")
        logger.warning("nothing secret here: %d tokens", 5)
    finally:
        logger.removeHandler(handler)
    assert records == ["retrying with key *** at http://h/v1?api-key=***", "nothing secret here: 5 tokens"]
