"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for the judge tests.

``script(request) -> Reply`` decides each answer; every request is recorded (path, headers,
JSON body) so tests can count calls and inspect exactly what the judge client sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    content: str | None = "ok"  # the chat answer (None: a null content)
    status: int = 200
    body: str | None = None  # raw body instead of a chat completion
    delay: float = 0.0  # seconds to wait before answering (past the client's timeout)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user(self) -> str:
        """The user message's text (its text parts joined when it also carries images)."""
        content = self.body["messages"][-1]["content"]
        if isinstance(content, list):
            return "".join(part.get("text", "") for part in content if part.get("type") == "text")
        return content

    @property
    def images(self) -> list[str]:
        """The data URLs of the user message's image parts, in order."""
        content = self.body["messages"][-1]["content"]
        if not isinstance(content, list):
            return []
        return [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]

    @property
    def system(self) -> str | None:
        first = self.body["messages"][0]
        return first["content"] if first["role"] == "system" else None


class JudgeServer:
    def __init__(self, script: Callable[[Request], Reply] | None = None):
        self.script = script or (lambda request: Reply())
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a stuck client cannot hold a handler thread for long

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                request = Request(self.path, dict(self.headers.items()), body)
                with server._lock:
                    server.requests.append(request)
                reply = server.script(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.body is not None:
                    payload = reply.body.encode()
                else:
                    payload = json.dumps({
                        "id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.content}}],
                    }).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> "JudgeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)


def clear_judge_env(monkeypatch) -> None:
    """No judge from the environment (URL, model, key, timeouts), and the local server reached directly
    (no proxy): what every judge test starts from, as an autouse fixture calls it."""
    from csr_bench.judge import KEY_ENV, MODEL_ENV, URL_ENV

    for name in (URL_ENV, MODEL_ENV, KEY_ENV, "CSR_BENCH_JUDGE_TIMEOUT", "CSR_BENCH_JUDGE_RETRIES",
                 "CSR_BENCH_JUDGE_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
