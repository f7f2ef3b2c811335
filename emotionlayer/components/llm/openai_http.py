"""Any OpenAI-compatible chat server over HTTP: Ollama, vLLM, llama.cpp's server, llama-cpp-python's server...

Uses only the Python standard library (``urllib``), so it needs no extra install. Streaming reads the
server-sent events of ``/chat/completions`` with ``"stream": true``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ...errors import BackendError, ConfigError
from ...registry import register
from ._reply import GenerationOptions, check_messages, shape_stream, shape_text

ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_MODEL = "EMOTIONLAYER_LLM_MODEL"

# OpenAI's own API takes at most 4 stop strings; the shaper applies the rest on the client side.
_MAX_SERVER_STOPS = 4


def normalize_base_url(url: str) -> str:
    """``http://host:port`` -> ``http://host:port/v1``; a URL that has a path is kept as given.

    Raises:
        ConfigError: not an http(s) URL.
    """
    url = url.strip().rstrip("/")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(
            f"base_url must be an http(s) URL like http://127.0.0.1:11434/v1 (Ollama), "
            f"http://127.0.0.1:8000/v1 (vLLM) or http://127.0.0.1:8080/v1 (llama.cpp server), got {url!r}."
        )
    return url if parsed.path not in ("", "/") else url + "/v1"


def _error_detail(body: bytes) -> str:
    """The server's own error message from an error reply body, shortened."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:300]
    return text[:300]


def _json_object(text: str, url: str, *, sent: str, advice: str) -> dict[str, Any]:
    """A server's reply or stream event ``text`` read as a JSON object that reports no error.

    Args:
        text: What the server sent.
        url: Where it came from, for the messages.
        sent: What it was, in the messages ("answered with a reply", "sent a stream event").
        advice: What to check when it is not JSON.

    Raises:
        BackendError: not JSON, not a JSON object, or an object with an ``error``.
    """
    try:
        data = json.loads(text)
    except ValueError:
        raise BackendError(f"{url} {sent} that is not JSON ({text[:120]!r}). {advice}") from None
    if not isinstance(data, dict):
        raise BackendError(f"{url} {sent} that is not a JSON object: {text[:120]!r}.")
    if "error" in data:
        raise BackendError(f"{url} {sent} that reports an error: {_error_detail(text.encode())}.")
    return data


@register("llm", "openai")
class OpenAICompatibleLLM:
    """Chat with an OpenAI-compatible HTTP server (Ollama, vLLM, llama.cpp server, or a hosted API).

    Settings come from the constructor, else from the environment: ``OPENAI_BASE_URL``,
    ``OPENAI_API_KEY`` and ``EMOTIONLAYER_LLM_MODEL``. Without a model name the first model the server
    lists at ``/models`` is used. Every failure (nothing listening, a timeout, an HTTP error, a reply
    that is not OpenAI JSON) raises :class:`~emotionlayer.errors.BackendError` naming the URL.

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:11434/v1``; ``/v1`` is added when the URL has
            no path. There is deliberately no default, so that speech transcripts never go to a
            hosted service by accident.
        model: Model name as the server knows it (``None``: ``EMOTIONLAYER_LLM_MODEL``, else the first
            one the server lists).
        api_key: Sent as ``Authorization: Bearer ...`` (``None``: ``OPENAI_API_KEY``, else none).
        timeout: Seconds to wait to connect and, after that, for each piece of the reply.
        target_tokens, temperature, top_p, seed, stop, max_sentences, sentence_grace: The reply's generation
            options, each call's defaults (see :class:`GenerationOptions`) (``seed`` only on servers that honour it).
        max_tokens: The old name of ``target_tokens`` (read with a deprecation message).
        extra_body: More JSON fields to send with every request (e.g. ``{"top_k": 40}``).
    """

    requires: tuple[str, ...] = ()
    extra = None

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        target_tokens: int = 64,
        temperature: float = 0.3,
        top_p: float = 0.9,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        max_sentences: int | None = 3,
        sentence_grace: int = 24,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        url = base_url or os.environ.get(ENV_BASE_URL)
        if not url:
            raise ConfigError(
                f"The 'openai' LLM backend needs a server: pass base_url=... or set {ENV_BASE_URL}, e.g. "
                "http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8000/v1 (vLLM), "
                "http://127.0.0.1:8080/v1 (llama.cpp server)."
            )
        self.base_url = normalize_base_url(url)
        self.model = model or os.environ.get(ENV_MODEL) or None
        self.api_key = api_key or os.environ.get(ENV_API_KEY) or None
        if float(timeout) <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {timeout}.")
        self.timeout = float(timeout)
        self.extra_body = dict(extra_body or {})
        self.options = GenerationOptions.pick(locals())

    @property
    def name(self) -> str:
        """The model and where it is served."""
        return f"{self.model or 'server default'} @ {self.base_url}"

    # -- HTTP ---------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _open(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Send a request and return the open response; every failure becomes a BackendError."""
        url = f"{self.base_url}/{path}"
        data = json.dumps(payload).encode("utf-8") if payload is not None else None
        request = urllib.request.Request(url, data=data, headers=self._headers(), method="POST" if data else "GET")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                detail = _error_detail(exc.read() or b"")
            except OSError:  # the error body itself timed out or broke off
                detail = ""
            finally:
                exc.close()
            hint = {
                401: "check the API key (api_key= or OPENAI_API_KEY)",
                403: "check the API key (api_key= or OPENAI_API_KEY) and its permissions",
                404: "check base_url (most servers want it to end in /v1) and the model name",
                429: "the server is rate limiting; wait and retry, or lower the request rate",
            }.get(exc.code, "check the server's log" if exc.code >= 500 else "check the request options")
            raise BackendError(f"{url} answered HTTP {exc.code}: {detail or exc.reason}. What to do: {hint}.") from None
        except urllib.error.URLError as exc:
            raise self._connection_error(url, exc.reason) from None
        except OSError as exc:  # TimeoutError included
            raise self._connection_error(url, exc) from None

    def _connection_error(self, url: str, reason: object) -> BackendError:
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return BackendError(
                f"{url} did not answer within the {self.timeout:g} s timeout. Check that the server is not "
                "overloaded or still loading its model, or raise timeout=."
            )
        if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
            return BackendError(
                f"Could not connect to {url}: connection refused. Is the server running and listening there? "
                f"Check base_url (or {ENV_BASE_URL})."
            )
        return BackendError(
            f"Could not reach {url}: {reason}. Check base_url (or {ENV_BASE_URL}) and that the server is up."
        )

    def _read_json(self, response: Any, url: str) -> dict[str, Any]:
        try:
            body = response.read()
        except OSError as exc:  # TimeoutError included
            raise self._connection_error(url, exc) from None
        finally:
            response.close()
        return _json_object(
            body.decode("utf-8", "replace"),
            url,
            sent="answered with a reply",
            advice="Check that base_url points at an OpenAI-compatible API (usually ending in /v1).",
        )

    def resolve_model(self) -> str:
        """The model name to send: the configured one, else the first the server lists at ``/models``."""
        if self.model:
            return self.model
        url = f"{self.base_url}/models"
        data = self._read_json(self._open("models"), url)
        models = data.get("data")
        if not isinstance(models, list) or not models or not isinstance(models[0], dict) or "id" not in models[0]:
            raise BackendError(
                f"{url} lists no models. Pass model=... (or set {ENV_MODEL}) to the name the server serves."
            )
        self.model = str(models[0]["id"])
        return self.model

    def _payload(self, messages: list[dict[str, str]], options: GenerationOptions, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.resolve_model(),
            "messages": messages,
            "max_tokens": options.token_budget,
            "temperature": float(options.temperature),
            "top_p": float(options.top_p),
            "stream": stream,
        }
        if options.seed is not None:
            payload["seed"] = int(options.seed)
        if options.stop:
            payload["stop"] = list(options.stop[:_MAX_SERVER_STOPS])
        payload.update(self.extra_body)
        return payload

    # -- the LanguageModel interface ---------------------------------------------------------------

    def generate(self, messages: Sequence[Mapping[str, str]], **options: Any) -> str:
        """The whole reply to ``messages``, from one non-streaming request.

        Args:
            messages: Chat messages ``[{"role": "system" | "user" | "assistant", "content": str}, ...]``.
            **options: Per-call overrides of ``target_tokens``, ``temperature``, ``top_p``, ``seed``, ``stop``,
                ``max_sentences``, ``sentence_grace``.

        Raises:
            BackendError: the server is down, slow, answers an HTTP error or a reply that is not OpenAI JSON.
        """
        checked = check_messages(messages)
        opts = self.options.with_overrides(options)
        url = f"{self.base_url}/chat/completions"
        data = self._read_json(self._open("chat/completions", self._payload(checked, opts, stream=False)), url)
        try:
            content = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise BackendError(
                f"{url} answered JSON without choices[0].message.content: {json.dumps(data)[:200]}. "
                "Check that the server speaks the OpenAI chat completions API."
            ) from None
        usage = data.get("usage") or {}
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        return shape_text(str(content), opts, tokens=tokens if isinstance(tokens, int) else None)

    def _sse_pieces(self, response: Any, url: str) -> Iterator[str]:
        try:
            while True:
                try:
                    raw = response.readline()
                except OSError as exc:  # TimeoutError included
                    raise self._connection_error(url, exc) from None
                if not raw:
                    break  # the server closed the stream
                line = raw.decode("utf-8", "replace").strip()
                if not line or line.startswith(":") or not line.startswith("data:"):
                    continue  # blank separators, comments (pings), event names
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = _json_object(
                    data,
                    url,
                    sent="sent a stream event",
                    advice="Check that the server speaks the OpenAI chat completions API.",
                )
                choices = chunk.get("choices")
                if not isinstance(choices, list):
                    raise BackendError(f"{url} sent a stream event without choices: {data[:120]!r}.")
                if not choices:
                    continue  # e.g. a final usage-only event
                delta = choices[0].get("delta") or {}
                content = delta.get("content") if isinstance(delta, dict) else None
                if content:
                    yield str(content)
        finally:
            response.close()

    def stream_generate(self, messages: Sequence[Mapping[str, str]], **options: Any) -> Iterator[str]:
        """Yield the reply in pieces as the server streams them (server-sent events).

        The request is sent when iteration starts; closing the iterator early closes the connection,
        which stops generation on servers that notice (llama.cpp, vLLM, Ollama do).

        Args:
            messages: Chat messages ``[{"role": "system" | "user" | "assistant", "content": str}, ...]``.
            **options: Per-call overrides as for :meth:`generate`.

        Raises:
            BackendError: as for :meth:`generate`, also when the stream breaks off or stalls.
        """
        checked = check_messages(messages)
        opts = self.options.with_overrides(options)

        def pieces() -> Iterator[str]:
            url = f"{self.base_url}/chat/completions"
            response = self._open("chat/completions", self._payload(checked, opts, stream=True))
            content_type = response.headers.get("Content-Type", "")
            if "event-stream" not in content_type:
                # some servers ignore "stream": answer with one JSON reply instead
                data = self._read_json(response, url)
                try:
                    yield str(data["choices"][0]["message"]["content"] or "")
                except (KeyError, IndexError, TypeError):
                    raise BackendError(
                        f"{url} answered neither an event stream nor chat completion JSON: {json.dumps(data)[:200]}."
                    ) from None
                return
            yield from self._sse_pieces(response, url)

        return shape_stream(pieces(), opts)
