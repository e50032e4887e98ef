"""The judge client against a scripted local OpenAI-compatible server: request shape, retries,
one-line failures, the answer cache, and an API key that never leaves the Authorization header."""

from __future__ import annotations

import json
import socket

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.judge import KEY_ENV, MODEL_ENV, URL_ENV, Judge, JudgeSettings, judge_map, make_judge
from judge_server import JudgeServer, Reply, clear_judge_env

FAKE_KEY = "sk-test-DO-NOT-LEAK-1234567890"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    clear_judge_env(monkeypatch)


def fast_judge(url: str, cache_path=None, **kwargs) -> Judge:
    options = {"timeout": 2.0, "retries": 2, "backoff": 0.01, "workers": 2, **kwargs}
    return Judge(JudgeSettings(url, "judge-m"), cache_path, **options)


def test_settings_come_from_flags_then_environment(monkeypatch):
    assert make_judge(JudgeSettings.resolve(None, None)) is None
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9/v1")
    monkeypatch.setenv(MODEL_ENV, "env-model")
    assert JudgeSettings.resolve(None, "flag-model") == JudgeSettings("http://127.0.0.1:9/v1", "flag-model")
    judge = make_judge(JudgeSettings.resolve(None, None))
    assert judge.model == "env-model" and judge.url == "http://127.0.0.1:9/v1/chat/completions"
    with pytest.raises(CsrBenchError, match="also set --judge-model"):
        make_judge(JudgeSettings("http://127.0.0.1:9/v1", None))
    with pytest.raises(CsrBenchError, match="http:// or https://"):
        make_judge(JudgeSettings("127.0.0.1:9/v1", "m"))


def test_sends_an_openai_chat_request_with_the_key_as_bearer(monkeypatch):
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    with JudgeServer(lambda r: Reply("7 8\nfine")) as server:
        answer = fast_judge(server.url + "/").complete("Rate this.", system="Be precise.", max_tokens=9)
    assert answer == "7 8\nfine"
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    assert request.body == {"model": "judge-m", "temperature": 0.0, "max_tokens": 9, "messages": [
        {"role": "system", "content": "Be precise."}, {"role": "user", "content": "Rate this."}]}


def test_images_go_as_data_url_parts_before_the_text_and_key_the_cache(tmp_path):
    import base64

    from PIL import Image

    red, blue = Image.new("RGB", (2, 2), "red"), Image.new("RGB", (2, 2), "blue")
    cache = tmp_path / "judge_cache.jsonl"
    with JudgeServer(lambda r: Reply(f"{len(r.images)} image(s): {r.user}")) as server:
        judge = fast_judge(server.url, cache)
        assert judge.complete("Rate.", images=[red]) == "1 image(s): Rate."
        assert judge.complete("Rate.", images=[blue]) == "1 image(s): Rate."  # another image: asked again
        assert judge.complete("Rate.", images=[red]) == "1 image(s): Rate."  # cached
        assert judge.complete("Rate.") == "0 image(s): Rate."  # text only: a plain string, as before
    assert len(server.requests) == 3
    parts = server.requests[0].body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(__import__("io").BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.getpixel((0, 0)) == (255, 0, 0)
    assert server.requests[2].body["messages"][-1]["content"] == "Rate."
    with pytest.raises(CsrBenchError, match="neither PNG nor JPEG"):
        judge.complete("Rate.", images=[b"GIF89a"])


def test_no_key_no_authorization_header_and_query_string_kept():
    with JudgeServer() as server:
        fast_judge(server.url + "?api-version=2").complete("hi")
    assert server.requests[0].path == "/v1/chat/completions?api-version=2"
    assert "Authorization" not in server.requests[0].headers
    assert [m["role"] for m in server.requests[0].body["messages"]] == ["user"]


def test_garbage_empty_and_null_answers_come_back_as_text():
    answers = iter([Reply("¯\\_(ツ)_/¯ lorem"), Reply(""), Reply(None)])
    with JudgeServer(lambda r: next(answers)) as server:
        judge = fast_judge(server.url)
        assert [judge.complete(p) for p in ("a", "b", "c")] == ["¯\\_(ツ)_/¯ lorem", "", ""]


def test_server_errors_and_rate_limits_are_retried_then_succeed():
    replies = iter([Reply(status=500, body="boom"), Reply(status=429, body="{}", headers={"Retry-After": "0"}),
                    Reply(status=503, body="busy"), Reply("0.7")])
    with JudgeServer(lambda r: next(replies)) as server:
        assert fast_judge(server.url, retries=3).complete("q") == "0.7"
    assert server.count == 4


def test_a_timeout_is_retried():
    replies = iter([Reply("late", delay=1.0), Reply("0.3")])
    with JudgeServer(lambda r: next(replies)) as server:
        assert fast_judge(server.url, timeout=0.2).complete("q") == "0.3"
    assert server.count == 2


def test_failure_after_retries_is_one_line_and_hides_the_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    # A hostile server echoes the Authorization header back in its error body.
    def echo(request):
        message = f"bad\nauth {request.headers['Authorization']}"
        return Reply(status=500, body=json.dumps({"error": {"message": message}}))

    with JudgeServer(echo) as server:
        with pytest.raises(CsrBenchError) as failure:
            fast_judge(server.url, retries=2).complete("q")
    message = str(failure.value)
    assert server.count == 3
    assert "\n" not in message and FAKE_KEY not in message
    assert message.startswith(f"judge at {server.url}/chat/completions failed after 3 attempt(s): HTTP 500")


def test_timeouts_to_the_end_are_one_line_errors():
    with JudgeServer(lambda r: Reply("late", delay=0.6)) as server:
        with pytest.raises(CsrBenchError, match=r"failed after 2 attempt\(s\): no answer within 0.1 s"):
            fast_judge(server.url, timeout=0.1, retries=1).complete("q")


def test_unreachable_endpoint_names_it_without_credentials(monkeypatch):
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CsrBenchError) as failure:
        fast_judge(f"http://127.0.0.1:{port}/v1?key=qs-secret", retries=1).complete("q")
    message = str(failure.value)
    assert f"judge at http://127.0.0.1:{port}/v1/chat/completions failed after 2 attempt(s)" in message
    assert "qs-secret" not in message and FAKE_KEY not in message
    with pytest.raises(CsrBenchError, match="must not hold user:password@") as failure:
        fast_judge(f"http://user:secret-pw@127.0.0.1:{port}/v1")
    assert "secret-pw" not in str(failure.value)


def test_client_errors_fail_at_once():
    with JudgeServer(lambda r: Reply(status=404, body='{"error": {"message": "model judge-m not found"}}')) as server:
        with pytest.raises(CsrBenchError, match="HTTP 404 \\(model judge-m not found\\)"):
            fast_judge(server.url, retries=3).complete("q")
    assert server.count == 1


def test_a_non_chat_answer_is_an_error_naming_the_endpoint():
    with JudgeServer(lambda r: Reply(body="<html>proxy login</html>")) as server:
        with pytest.raises(CsrBenchError, match="not an OpenAI chat-completions answer"):
            fast_judge(server.url).complete("q")


def test_redirects_are_not_followed(monkeypatch):
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    with JudgeServer(lambda r: Reply(status=302, body="", headers={"Location": "http://127.0.0.1:9/steal"})) as server:
        with pytest.raises(CsrBenchError, match="HTTP 302"):
            fast_judge(server.url).complete("q")
    assert server.count == 1


def test_cache_answers_each_prompt_once_and_holds_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    cache = tmp_path / "judge_cache.jsonl"
    with JudgeServer(lambda r: Reply(f"answer to {r.user} at {r.body['temperature']}")) as server:
        judge = fast_judge(server.url, cache)
        first = judge.complete("p1", max_tokens=3)
        assert judge.complete("p1", max_tokens=3) == first and server.count == 1
        # A new process (a fresh Judge) reads the file instead of asking again.
        again = fast_judge(server.url, cache)
        assert again.complete("p1", max_tokens=3) == first and server.count == 1
        # Anything that can change the answer is part of the key.
        again.complete("p1", max_tokens=4)
        again.complete("p1", max_tokens=3, system="s")
        again.complete("p1", max_tokens=3, temperature=0.5)
        assert server.count == 4
        assert Judge(JudgeSettings(server.url, "other-m"), cache, retries=0).complete("p1", max_tokens=3) == first
        assert server.count == 5
    lines = cache.read_text().splitlines()
    assert len(lines) == 5 and all(set(json.loads(line)) >= {"key", "answer"} for line in lines)
    assert FAKE_KEY not in cache.read_text()


def test_a_cache_line_cut_by_a_crash_is_dropped(tmp_path):
    cache = tmp_path / "judge_cache.jsonl"
    with JudgeServer(lambda r: Reply("A")) as server:
        fast_judge(server.url, cache).complete("p1")
        with open(cache, "a") as handle:
            handle.write('{"key": "abc", "ans')
        assert fast_judge(server.url, cache).complete("p1") == "A" and server.count == 1


def test_judge_map_keeps_order_and_stops_on_the_first_error():
    with JudgeServer(lambda r: Reply(r.user.upper(), delay=0.05 if r.user == "a" else 0)) as server:
        judge = fast_judge(server.url, workers=3)
        assert judge_map(judge, judge.complete, ["a", "b", "c", "d"]) == ["A", "B", "C", "D"]

    def fail_on_b(item):
        if item == "b":
            raise CsrBenchError("judge broke")
        return item

    with pytest.raises(CsrBenchError, match="judge broke"):
        judge_map(judge, fail_on_b, ["a", "b", "c"])


def test_repr_and_settings_never_show_the_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    judge = fast_judge("http://127.0.0.1:9/v1")
    assert FAKE_KEY not in repr(judge) and FAKE_KEY not in repr(judge.settings)
    assert FAKE_KEY not in json.dumps(vars(judge.settings))
