"""``emotionlayer serve``: a web demo and a JSON API over any dialogue system, for one person or several.

:func:`create_app` builds a FastAPI app with:

- ``GET /health``: ``{"status": "ok", "system": ..., "queue": ..., "sessions": ..., ...}``;
- ``GET /metrics``: Prometheus counters and histograms (:mod:`emotionlayer.live.metrics`);
- ``POST /api/sessions``: start a conversation; ``GET`` / ``DELETE /api/sessions/{id}``: its history / end it;
- ``POST /api/respond``: a multipart upload (field ``audio``: WAV/FLAC/OGG/MP3; optional fields ``system``:
  NAME or NAME:KEY=VALUE,..., and ``session``: a conversation id, whose history the answer sees and joins),
  answered with the JSON of ``emotionlayer respond --json`` (:func:`emotionlayer.cli.output.turn_json`) plus
  ``audio_url``, where the spoken reply can be fetched, and ``session`` when one was given;
- ``GET /api/audio/{name}``: a spoken reply, kept within the limits of a
  :class:`~emotionlayer.live.storage.ReplyAudioStore` (count, bytes, age; oldest removed first); an expired
  one gets HTTP 404 with a message saying how to get it again;
- ``WS /ws/live`` (optional query ``?session=ID``): a live conversation (:class:`~emotionlayer.live.LiveSession`):
  send 16 kHz mono float32 audio as binary messages, receive the session's events as JSON and each reply
  sentence as a WAV message;
- the page at ``/``: Gradio (microphone or upload), showing the transcript, the emotion probabilities as a
  bar chart, the strategy and the reply text as they stream, and playing the reply.

The models answer one turn at a time (:class:`~emotionlayer.live.serving.Admission`), whoever asks: an upload,
the page or a live socket. At most ``max_waiting`` turns wait; beyond that the answer is HTTP 503 with
``Retry-After``, at once. A request past ``turn_timeout`` seconds gets HTTP 504 and its turn is stopped.

A bad upload gets HTTP 400 (413 when over the size or length limit, refused before decoding) with
``{"error": MESSAGE}``, MESSAGE being the line the CLI prints after ``error:``; the server goes on serving.
"""

import asyncio
import contextlib
import io
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import typer

from ..errors import EmotionLayerError
from ..live.serving import (
    DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_WAITING,
    DEFAULT_SESSION_IDLE_SECONDS,
    DEFAULT_SESSION_TURNS,
    DEFAULT_TURN_TIMEOUT,
    Admission,
    ServerBusy,
    SessionStore,
    SlotModel,
    SlotSystem,
    TurnTimeout,
    UnknownSession,
    answer,
    trim,
)
from ..live.storage import DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_FILES, ReplyAudioStore
from ..live.storage import DEFAULT_MAX_BYTES as DEFAULT_KEEP_BYTES

#: Uploads larger than this many bytes are refused (HTTP 413) before they are decoded.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: Live WebSocket conversations open at once; more are refused (closed with code 1013, "try again later").
DEFAULT_MAX_LIVE = 2
#: Seconds without audio from a live socket's client after which the server feeds its session silence (at real
#: time, while a turn is decided or answered), so that the turn ends and its reply is sent. Longer than the
#: network's usual jitter: a client that streams its microphone never has silence put into its speech.
IDLE_GAP_SECONDS = 0.5

#: WebSocket close codes: too many live conversations (1013: try again later), unknown conversation id.
CLOSE_BUSY, CLOSE_UNKNOWN_SESSION = 1013, 4404

#: The routes counted by name in the metrics (any other path, the page's included, counts as "other").
_ROUTES = ("/health", "/metrics", "/api/respond", "/api/sessions")


class UploadTooLarge(EmotionLayerError):
    """An upload over the server's size or length limit."""


class Demo:
    """What the web app serves: the systems (built once each, on first use), reply files, conversations, limits.

    Args:
        config: The pipeline config (a :class:`~emotionlayer.config.PipelineConfig`, path, dict or ``None``).
        system: The default system spec (``None``: the config's ``system`` section).
        max_bytes: Largest upload accepted.
        max_seconds: Longest recording accepted (checked from the file header, before decoding).
        audio_dir: Where reply WAVs are written (default: a temporary folder removed with the process).
        keep_files: Most reply WAVs kept (0: no limit); the oldest are removed first.
        keep_bytes: Most bytes of reply WAVs kept, all together (0: no limit).
        keep_seconds: Longest a reply WAV is kept (0: no limit).
        max_waiting: Turns that may wait for the models while one runs; more get HTTP 503 (0: none wait).
        turn_timeout: Seconds a request may take, waiting included, before HTTP 504 (0: no limit).
        max_sessions: Conversations held at once (0: no limit).
        session_turns: Turns of history kept per conversation (0: no limit).
        session_idle_seconds: A conversation without a turn for this long ends (0: never).
        max_live: Live WebSocket conversations open at once (0: no limit).
    """

    def __init__(
        self,
        config: Any = None,
        system: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_seconds: float | None = None,
        audio_dir: str | Path | None = None,
        keep_files: int = DEFAULT_MAX_FILES,
        keep_bytes: int = DEFAULT_KEEP_BYTES,
        keep_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        max_waiting: int = DEFAULT_MAX_WAITING,
        turn_timeout: float = DEFAULT_TURN_TIMEOUT,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        session_turns: int = DEFAULT_SESSION_TURNS,
        session_idle_seconds: float = DEFAULT_SESSION_IDLE_SECONDS,
        max_live: int = DEFAULT_MAX_LIVE,
    ) -> None:
        from ..config import PipelineConfig
        from ..live.metrics import ServerMetrics

        self.config = PipelineConfig.coerce(config)
        self.default_system = system
        self.max_bytes = int(max_bytes)
        self.max_seconds = float(max_seconds if max_seconds is not None else self.config.run.max_seconds)
        if audio_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="emotionlayer-serve-")
            audio_dir = self._tmp.name
        self.audio_dir = Path(audio_dir)
        self.replies = ReplyAudioStore(self.audio_dir, keep_files, keep_bytes, keep_seconds)
        self._systems: dict[str, Any] = {}
        self._build_lock = threading.Lock()
        self.admission = Admission(max_waiting, turn_timeout)  # one turn at a time: the models share the CPU
        self.metrics = ServerMetrics()
        self.sessions = SessionStore(
            max_sessions, session_turns, session_idle_seconds, on_expire=self.metrics.sessions_expired.inc
        )
        self.max_live = max(0, int(max_live))
        self.live_sockets = 0
        self._live_lock = threading.Lock()
        self._parts_lock = threading.Lock()
        self._live_parts: tuple[Any, Any] | None = None
        self.metrics.bind(
            queue_waiting=lambda: self.admission.waiting,
            turns_running=lambda: self.admission.running,
            sessions=lambda: len(self.sessions),
            live_sockets=lambda: self.live_sockets,
            reply_files=lambda: len(self.replies),
        )

    def system(self, spec: str | None = None) -> Any:
        """The system a spec names (built on first use and kept)."""
        from ..systems import build_system

        key = (spec or self.default_system or "").strip()
        with self._build_lock:
            if key not in self._systems:
                self._systems[key] = build_system(self.config, key or None)
            return self._systems[key]

    def system_name(self) -> str:
        return self.default_system or self.config.system.name

    def load_upload(self, data: bytes) -> Any:
        """Check an upload's size and length (from its header), then decode it.

        Raises:
            UploadTooLarge: over ``max_bytes`` or ``max_seconds``.
            AudioError: not audio, empty, silent, ... (the CLI's message).
        """
        import soundfile as sf

        from ..audio import load_audio

        if len(data) > self.max_bytes:
            raise UploadTooLarge(
                f"The upload is {len(data) / 1e6:.1f} MB; the limit is {self.max_bytes / 1e6:.1f} MB. Send a shorter "
                "recording."
            )
        try:
            info = sf.info(io.BytesIO(data))
        except Exception:
            info = None  # load_audio says what is wrong
        if info is not None and info.duration > self.max_seconds:
            raise UploadTooLarge(
                f"The audio bytes are {info.duration:.1f} s long; the limit is {self.max_seconds:.0f} s. "
                "Split the recording into shorter turns."
            )
        return load_audio(data, max_seconds=self.max_seconds)

    def save_reply(self, turn: Any) -> str | None:
        """Write the turn's spoken reply; return its file name (``None`` if it has no audio)."""
        if turn.audio is None:
            return None
        return self.replies.save(turn.audio)

    def expired_message(self, name: str) -> str:
        """The 404 message for a reply name that is not (or no longer) kept."""
        return (
            f"The reply audio {name!r} expired or was removed (this server keeps {self.replies.limits()}; the "
            "oldest go first). Ask again: POST the recording to /api/respond for a new audio_url, or start the "
            "server with higher --keep-replies, --keep-reply-mb or --keep-reply-minutes."
        )

    def count_turn(self, source: str, turn: Any, waited: float, seconds: float) -> None:
        """Count an answered turn in the metrics."""
        self.metrics.wait_seconds.observe(max(0.0, waited))
        self.metrics.turn(source, turn.system, seconds, turn.timings)

    def respond(
        self, data: bytes, system: str | None = None, session: str | None = None, deadline: float | None = None
    ) -> dict[str, Any]:
        """One turn from uploaded file bytes: the ``respond --json`` object plus ``audio_url`` (and ``session``).

        Raises:
            UploadTooLarge, AudioError, ...: a bad upload or system spec (before any waiting).
            UnknownSession: ``session`` is not a conversation this server holds.
            ServerBusy: the queue of waiting turns is full (at once).
            TurnTimeout: ``deadline`` (:func:`time.monotonic`) passed while waiting or answering.
        """
        from .output import turn_json

        audio = self.load_upload(data)
        answerer = self.system(system)
        held = self.sessions.hold(session) if session else contextlib.nullcontext()
        with held as conversation:
            with self.admission.slot(deadline) as waited:
                began = time.monotonic()
                turn = answer(answerer, audio, conversation.history if conversation else None, deadline)
                seconds = time.monotonic() - began
                count = self.sessions.record(conversation.id, turn) if conversation else 0
        self.count_turn("api", turn, waited, seconds)
        name = self.save_reply(turn)
        out = turn_json(turn, name)
        out["audio_url"] = f"/api/audio/{name}" if name else None
        if conversation is not None:
            out["session"] = {"id": conversation.id, "turns": count}
        return out

    def session_json(self, session: str) -> dict[str, Any]:
        """A conversation: its id, turns answered, history kept (what was heard and answered) and time left."""
        conversation = self.sessions.get(session, touch=False)  # looking does not keep it alive; a turn does
        history = [
            {
                "transcript": turn.transcript.text,
                "emotion": turn.emotion.label,
                "response": turn.response.text,
                "strategy": turn.response.strategy,
                "system": turn.system,
            }
            for turn in conversation.history
        ]
        return {
            "session": conversation.id,
            "turns": conversation.turns,
            "history": history,
            "max_turns": self.sessions.max_turns,
            "expires_in_seconds": self.sessions.seconds_left(conversation),
        }

    def open_live(self) -> bool:
        """Take a place for a live conversation; ``False`` when ``max_live`` are open."""
        with self._live_lock:
            if self.max_live and self.live_sockets >= self.max_live:
                return False
            self.live_sockets += 1
            return True

    def close_live(self) -> None:
        with self._live_lock:
            self.live_sockets -= 1

    def live_parts(self) -> tuple[Any, Any]:
        """The default system and its ASR for live conversations, both waiting for the admission's slot."""
        from .. import registry

        with self._parts_lock:
            if self._live_parts is None:
                raw = self.system()
                asr = getattr(raw, "asr", None)
                if asr is None:
                    asr = registry.create("asr", self.config.asr.backend, **self.config.asr.params)
                self._live_parts = (SlotSystem(raw, self.admission), SlotModel(asr, self.admission))
            return self._live_parts

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "system": self.system_name(),
            "max_bytes": self.max_bytes,
            "max_seconds": self.max_seconds,
            "reply_files": len(self.replies),
            "queue": {
                "running": self.admission.running,
                "waiting": self.admission.waiting,
                "max_waiting": self.admission.max_waiting,
            },
            "turn_timeout": self.admission.timeout,
            "sessions": len(self.sessions),
            "max_sessions": self.sessions.max_sessions,
            "live_sockets": self.live_sockets,
            "max_live": self.max_live,
        }


def create_app(
    config: Any = None,
    system: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_seconds: float | None = None,
    audio_dir: str | Path | None = None,
    page: bool = True,
    keep_files: int = DEFAULT_MAX_FILES,
    keep_bytes: int = DEFAULT_KEEP_BYTES,
    keep_seconds: float = DEFAULT_MAX_AGE_SECONDS,
    **limits: Any,
) -> Any:
    """The FastAPI app (JSON API, sessions, metrics, live WebSocket and, with ``page``, the Gradio page at ``/``).

    Args:
        config: The pipeline config (``None``: the packaged offline default).
        system: The default dialogue system (NAME or NAME:KEY=VALUE,...); ``None``: the config's.
        max_bytes: Largest upload accepted (HTTP 413 above it).
        max_seconds: Longest recording accepted (default: the config's ``run.max_seconds``).
        audio_dir: Where reply WAVs are kept (default: a temporary folder).
        page: Mount the Gradio page at ``/``.
        keep_files, keep_bytes, keep_seconds: The reply audio kept (see :class:`Demo`).
        **limits: ``max_waiting``, ``turn_timeout``, ``max_sessions``, ``session_turns``, ``session_idle_seconds``,
            ``max_live`` (see :class:`Demo`).
    """
    from fastapi import FastAPI

    demo = Demo(config, system, max_bytes, max_seconds, audio_dir, keep_files, keep_bytes, keep_seconds, **limits)
    app = FastAPI(title="emotionlayer", description="Emotion-sensitive spoken dialogue: a web demo and JSON API.")
    app.state.demo = demo
    _observe(app, demo)
    _api_routes(app, demo)
    _session_routes(app, demo)
    _live_route(app, demo)
    if page:
        import gradio as gr

        app = gr.mount_gradio_app(app, build_page(demo), path="/", allowed_paths=[str(demo.audio_dir)])
        app.state.demo = demo
    return app


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _route(path: str) -> str:
    """A request path as the metrics name it (a bounded set)."""
    if path in _ROUTES:
        return path
    for prefix, name in (("/api/sessions/", "/api/sessions/{id}"), ("/api/audio/", "/api/audio/{name}")):
        if path.startswith(prefix):
            return name
    return "/ws/live" if path == "/ws/live" else "other"


def _reason(exc: EmotionLayerError) -> str:
    """A short label for why a request was refused (a metrics label)."""
    name = type(exc).__name__
    return {
        "AudioError": "bad_audio",
        "UnknownComponentError": "unknown_system",
        "ConfigError": "bad_system",
        "MissingDependencyError": "missing_dependency",
    }.get(name, "bad_request")


def _observe(app: Any, demo: Demo) -> None:
    """Count and time every HTTP answer; refuse too large bodies before they are read; unexpected errors -> 500."""
    from fastapi import Request
    from fastapi.responses import Response

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Any:
        start = time.perf_counter()
        route = _route(request.url.path)
        length = request.headers.get("content-length")
        if route == "/api/respond" and length and length.isdigit() and int(length) > demo.max_bytes + 65536:
            demo.metrics.reject(413, "too_large")
            response = _error(
                413,
                f"The upload is {int(length) / 1e6:.1f} MB; the limit is {demo.max_bytes / 1e6:.1f} MB. Send a "
                "shorter recording.",
            )
        else:
            response = await call_next(request)
        demo.metrics.requests.labels(route, str(response.status_code)).inc()
        demo.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Any:
        demo.metrics.errors.labels("http").inc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        return _error(
            500, f"Internal error ({type(exc).__name__}: {first}); the server goes on. Run with --debug for details."
        )

    @app.get("/metrics")
    def metrics() -> Any:
        body, content_type = demo.metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return demo.health()


async def _within(deadline: float | None, work: Any) -> Any:
    """Await ``work`` (a coroutine), but raise :class:`TurnTimeout` shortly after ``deadline`` if it is not done.

    The work goes on in its thread until it sees the deadline itself (at the turn's next event) and frees the
    models; its late result is dropped.
    """
    task = asyncio.ensure_future(work)
    if deadline is None:
        return await task
    done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()) + 0.25)
    if task in done:
        return task.result()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # the late outcome is not wanted
    raise TurnTimeout("The turn took longer than this server's time limit and was stopped.")


def _api_routes(app: Any, demo: Demo) -> None:
    from fastapi import File, Form, Request, UploadFile
    from fastapi.responses import FileResponse
    from starlette.concurrency import run_in_threadpool

    @app.post("/api/respond")
    async def respond(
        request: Request,
        audio: UploadFile = File(...),
        system: str | None = Form(None),
        session: str | None = Form(None),
    ) -> Any:
        deadline = demo.admission.deadline()
        session = session or request.query_params.get("session") or None
        data = await audio.read(demo.max_bytes + 1)
        try:
            return await _within(deadline, run_in_threadpool(demo.respond, data, system, session, deadline))
        except UploadTooLarge as exc:
            demo.metrics.reject(413, "too_large")
            return _error(413, str(exc))
        except ServerBusy as exc:
            demo.metrics.reject(503, exc.reason)
            return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})
        except TurnTimeout as exc:
            demo.metrics.reject(504, "timeout")
            return _error(504, f"{exc} (limit: {demo.admission.timeout:g} s per request)")
        except UnknownSession as exc:
            demo.metrics.reject(404, "unknown_session")
            return _error(404, str(exc))
        except EmotionLayerError as exc:
            demo.metrics.reject(400, _reason(exc))
            return _error(400, str(exc))

    @app.get("/api/audio/{name}")
    def reply_audio(name: str) -> Any:
        if not demo.replies.valid_name(name):
            demo.metrics.reject(404, "unknown_audio")
            return _error(404, f"No reply audio named {name!r}; use the audio_url of a /api/respond answer.")
        path = demo.replies.path(name)
        if path is None:
            demo.metrics.reject(404, "expired_audio")
            return _error(404, demo.expired_message(name))
        return FileResponse(path, media_type="audio/wav")


def _session_routes(app: Any, demo: Demo) -> None:
    from fastapi.responses import JSONResponse

    @app.post("/api/sessions")
    def new_session() -> Any:
        try:
            conversation = demo.sessions.create()
        except ServerBusy as exc:
            demo.metrics.reject(503, exc.reason)
            return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})
        demo.metrics.sessions_created.inc()
        return JSONResponse(demo.session_json(conversation.id), status_code=201)

    @app.get("/api/sessions/{session}")
    def get_session(session: str) -> Any:
        try:
            return demo.session_json(session)
        except UnknownSession as exc:
            demo.metrics.reject(404, "unknown_session")
            return _error(404, str(exc))

    @app.delete("/api/sessions/{session}")
    def end_session(session: str) -> Any:
        if not demo.sessions.delete(session):
            demo.metrics.reject(404, "unknown_session")
            return _error(404, demo.sessions.unknown_message(session))
        return {"session": session, "ended": True}


def _live_route(app: Any, demo: Demo) -> None:
    from fastapi import WebSocket, WebSocketDisconnect
    from starlette.concurrency import run_in_threadpool

    @app.websocket("/ws/live")
    async def live(websocket: WebSocket) -> None:
        admitted = demo.open_live()  # counted before the client hears it is accepted
        try:
            await websocket.accept()
            if not admitted:
                await _refuse_live(websocket, demo)
                return
            session = websocket.query_params.get("session") or None
            held = demo.sessions.hold(session) if session else contextlib.nullcontext()
            with held as conversation:
                await _live_socket(websocket, demo, run_in_threadpool, conversation)
        except UnknownSession as exc:  # not held, or ended (DELETE) while the socket was open
            demo.metrics.reject(CLOSE_UNKNOWN_SESSION, "unknown_session")
            with contextlib.suppress(Exception):
                await websocket.send_json({"kind": "error", "status": 404, "error": str(exc)})
                await websocket.close(
                    CLOSE_UNKNOWN_SESSION, "unknown or ended session: POST /api/sessions for a new one"
                )
        except WebSocketDisconnect:
            return
        except Exception as exc:  # this conversation ends; the others go on
            demo.metrics.errors.labels("live").inc()
            with contextlib.suppress(Exception):
                await websocket.send_json({"kind": "error", "status": 500, "error": f"{type(exc).__name__}: {exc}"})
                await websocket.close(1011, "internal error; the server goes on")
        finally:
            if admitted:
                demo.close_live()


async def _refuse_live(websocket: Any, demo: Demo) -> None:
    """Tell a live socket beyond ``max_live`` why it is closed, and close it with 1013 (try again later)."""
    demo.metrics.reject(CLOSE_BUSY, "live_limit")
    message = (
        f"The server holds its limit of {demo.max_live} live conversations; try again later, or POST "
        "recordings to /api/respond."
    )
    with contextlib.suppress(Exception):
        await websocket.send_json({"kind": "error", "status": 503, "error": message})
        await websocket.close(CLOSE_BUSY, f"busy: {demo.max_live} live conversations at most; try again later")


async def _live_socket(websocket: Any, demo: Demo, run_in_threadpool: Any, conversation: Any = None) -> None:
    """A live conversation over a WebSocket: float32 16 kHz audio in, events (JSON) and sentences (WAV) out.

    Its turns wait for the models like every other turn (a :class:`SlotSystem`); with a ``conversation``, the
    history starts from it and each answered turn joins it.
    """
    import numpy as np

    from ..live import LiveSession
    from ..live.session import FRAME_SAMPLES, FRAME_SECONDS

    system, asr = demo.live_parts()
    session = LiveSession(system, pipeline_config=demo.config, asr=asr)
    await run_in_threadpool(session.warmup)  # models loaded, prompts primed (once): the first turn is not slower
    if conversation is not None:
        session.history = conversation.history
    # Audio sent before this is processed after it, in a burst: a client that waits for it keeps the clock true.
    await websocket.send_json({"kind": "ready", "session": conversation.id if conversation is not None else None})
    buffer = np.zeros(0, dtype=np.float32)
    silence = np.zeros(FRAME_SAMPLES, dtype=np.float32)
    loop = asyncio.get_running_loop()
    last_audio = loop.time()
    receiving: asyncio.Future | None = None
    try:
        while True:
            # The session moves on only when it is fed frames: its reply, its transcripts and its playback are
            # taken up at each frame. A client that stops sending (it sent a recording and waits, its microphone
            # stopped) while a turn is decided or answered would never get the rest of that turn (the reply comes
            # later than its last frame when the models were busy with other turns). So once the client has sent
            # nothing for IDLE_GAP_SECONDS, the server feeds silence at real time while the session is busy.
            if receiving is None:
                receiving = asyncio.ensure_future(websocket.receive())
            wait = None
            if session.busy:
                wait = max(0.0, last_audio + IDLE_GAP_SECONDS - loop.time()) or FRAME_SECONDS
            done, _ = await asyncio.wait({receiving}, timeout=wait)
            if not done:
                if loop.time() - last_audio >= IDLE_GAP_SECONDS:
                    for event in await run_in_threadpool(session.feed, silence):
                        await _send_event(websocket, demo, session, conversation, event)
                continue
            message, receiving = receiving.result(), None
            if message.get("type") == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                continue
            last_audio = loop.time()
            buffer = np.concatenate([buffer, np.frombuffer(data, dtype=np.float32)])
            while buffer.size >= FRAME_SAMPLES:
                frame, buffer = buffer[:FRAME_SAMPLES], buffer[FRAME_SAMPLES:]
                for event in await run_in_threadpool(session.feed, frame):
                    await _send_event(websocket, demo, session, conversation, event)
    finally:
        if receiving is not None:
            receiving.cancel()
        session.close()


async def _send_event(websocket: Any, demo: Demo, session: Any, conversation: Any, event: Any) -> None:
    """Send one live event (and a reply sentence's WAV); count turns and latencies; keep the history bounded."""
    import soundfile as sf

    from ..audio import Audio

    if event.kind == "turn_done":
        record = event.record
        demo.metrics.turn("live", record.system, float(record.timings.get("total", 0.0)), record.timings)
        if conversation is not None:
            demo.sessions.record(conversation.id, record)
            session.history = demo.sessions.history(conversation.id)
        else:
            session.history = trim(session.history, demo.sessions.max_turns)
    elif event.kind == "latency":
        for moment, seconds in event.relative().items():
            demo.metrics.live_latency.labels(moment).observe(max(0.0, seconds))
    await websocket.send_json(event.to_dict())
    audio = getattr(event, "audio", None)
    if isinstance(audio, Audio):
        out = io.BytesIO()
        sf.write(out, audio.samples, audio.sample_rate, format="WAV")
        await websocket.send_bytes(out.getvalue())


def build_page(demo: Demo) -> Any:
    """The Gradio page: record or upload, then watch the turn stream in."""
    import gradio as gr
    import pandas as pd

    def chart(probabilities: dict[str, float]) -> Any:
        return pd.DataFrame(
            {"emotion": list(probabilities), "probability": [round(p, 3) for p in probabilities.values()]}
        )

    def answer(path: str | None, system: str) -> Any:
        empty = chart({})
        if not path:
            yield "", empty, "", "Record or upload a recording first.", None, ""
            return
        try:
            audio = demo.load_upload(Path(path).read_bytes())
            answerer = demo.system(system or None)
        except EmotionLayerError as exc:
            yield "", empty, "", "", None, f"error: {exc}"
            return
        transcript, emotion, strategy, reply = "", empty, "", ""
        deadline = demo.admission.deadline()
        try:
            with demo.admission.slot(deadline) as waited:
                began = time.monotonic()
                for event in answerer.stream(audio):
                    if event.kind == "perceived" and event.perception is not None:
                        transcript = event.perception.transcript.text or "(no speech heard)"
                        emotion = chart(event.perception.emotion.probabilities)
                    elif event.kind == "prompt":
                        strategy = event.strategy
                    elif event.kind == "text":
                        reply += event.text
                    elif event.kind == "turn" and event.turn is not None:
                        turn = event.turn
                        demo.count_turn("page", turn, waited, time.monotonic() - began)
                        name = demo.save_reply(turn)
                        timings = ", ".join(f"{k} {v:.2f} s" for k, v in turn.timings.items())
                        spoken = str(demo.audio_dir / name) if name else None
                        yield transcript, emotion, turn.response.strategy, turn.response.text, spoken, timings
                        return
                    if deadline is not None and time.monotonic() >= deadline:
                        raise TurnTimeout("The turn took longer than this server's time limit and was stopped.")
                    yield transcript, emotion, strategy, reply, None, ""
        except (ServerBusy, TurnTimeout) as exc:
            yield transcript, emotion, strategy, reply, None, f"error: {exc}"

    with gr.Blocks(title="emotionlayer") as page:
        gr.Markdown("# emotionlayer\nSpeak or upload a recording: the reply fits what you said and how you said it.")
        with gr.Row():
            with gr.Column():
                recording = gr.Audio(
                    sources=["upload", "microphone"], type="filepath", label="Your turn", elem_id="recording"
                )
                system = gr.Textbox(
                    value=demo.default_system or "",
                    label="System (empty: the default)",
                    placeholder=demo.system_name(),
                    elem_id="system",
                )
                go = gr.Button("Answer", variant="primary", elem_id="answer")
            with gr.Column():
                transcript = gr.Textbox(label="Transcript", elem_id="transcript")
                emotion = gr.BarPlot(x="emotion", y="probability", y_lim=[0, 1], label="Emotion", elem_id="emotion")
                strategy = gr.Textbox(label="Strategy", elem_id="strategy")
                reply = gr.Textbox(label="Reply", elem_id="reply")
                spoken = gr.Audio(
                    label="Spoken reply", autoplay=True, type="filepath", elem_id="spoken", interactive=False
                )
                status = gr.Textbox(label="Timings / errors", elem_id="status")
        outputs = [transcript, emotion, strategy, reply, spoken, status]
        go.click(answer, inputs=[recording, system], outputs=outputs)
    return page


def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)."
    ),
    port: int = typer.Option(7860, "--port", "-p", help="Port to listen on."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Pipeline config (YAML/JSON); default: the packaged offline models."
    ),
    system: str | None = typer.Option(
        None,
        "--system",
        "-s",
        help="Default dialogue system: NAME or NAME:KEY=VALUE,... (default: the config's, cascade).",
    ),
    max_mb: float = typer.Option(DEFAULT_MAX_BYTES / 1024 / 1024, "--max-mb", help="Largest upload accepted, in MiB."),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", help="Longest recording accepted (default: the config's run.max_seconds)."
    ),
    keep_replies: int = typer.Option(
        DEFAULT_MAX_FILES,
        "--keep-replies",
        help="Most spoken replies kept for /api/audio (oldest removed first; 0: no limit).",
    ),
    keep_reply_mb: float = typer.Option(
        DEFAULT_KEEP_BYTES / 1e6,
        "--keep-reply-mb",
        help="Most megabytes of spoken replies kept, all together (oldest removed first; 0: no limit).",
    ),
    keep_reply_minutes: float = typer.Option(
        DEFAULT_MAX_AGE_SECONDS / 60,
        "--keep-reply-minutes",
        help="Minutes a spoken reply stays fetchable at its audio_url (0: no limit); then HTTP 404.",
    ),
    audio_dir: Path | None = typer.Option(
        None,
        "--audio-dir",
        help="Folder for the spoken replies (default: a temporary folder, removed when the server stops).",
    ),
    max_waiting: int = typer.Option(
        DEFAULT_MAX_WAITING,
        "--max-waiting",
        help="How many requests may wait while the models answer another one. More get HTTP 503 at once, "
        "with a Retry-After header (seconds). 0: no waiting, only one request at a time.",
    ),
    turn_timeout: float = typer.Option(
        DEFAULT_TURN_TIMEOUT,
        "--turn-timeout",
        help="Seconds a request may take, time waiting in the queue included. Past it the turn is stopped, "
        "the models are free for the next one, and the answer is HTTP 504 (0: no limit).",
    ),
    max_sessions: int = typer.Option(
        DEFAULT_MAX_SESSIONS,
        "--max-sessions",
        help="How many conversations (POST /api/sessions) the server keeps at once; one more gets HTTP 503 "
        "(0: no limit).",
    ),
    session_turns: int = typer.Option(
        DEFAULT_SESSION_TURNS,
        "--session-turns",
        help="Turns of history kept per conversation, oldest dropped first (0: all). The prompt shows the "
        "last few of them (the config's prompt.history_turns).",
    ),
    session_minutes: float = typer.Option(
        DEFAULT_SESSION_IDLE_SECONDS / 60,
        "--session-minutes",
        help="Minutes a conversation is kept without a new turn; then it ends and its id gets HTTP 404 (0: never).",
    ),
    max_live: int = typer.Option(
        DEFAULT_MAX_LIVE,
        "--max-live",
        help="How many live conversations (WS /ws/live) may be open at once; more are closed at once with "
        "code 1013 and a message to try again later (0: no limit).",
    ),
    page: bool = typer.Option(
        True, "--page/--no-page", help="Serve the web page at / (--no-page: the JSON API only, starts faster)."
    ),
) -> None:
    """Serve a web demo (microphone or upload) and a JSON API, for you or for others on your network.

    Open http://HOST:PORT/ in a browser. The API: POST /api/respond (multipart field 'audio', optional 'system'
    and 'session') answers with the JSON of `emotionlayer respond --json` plus 'audio_url'; POST /api/sessions
    starts a conversation whose id you send as 'session', so each answer sees the earlier turns; WS /ws/live
    holds a live conversation; GET /health and GET /metrics (Prometheus) show how the server is doing.
    The models answer one request at a time: --max-waiting more wait, others get HTTP 503 (retry later);
    --turn-timeout stops a slow one (HTTP 504). Spoken replies are kept within --keep-replies,
    --keep-reply-mb and --keep-reply-minutes (oldest removed first); an expired one gets HTTP 404.
    """
    import uvicorn

    app = create_app(
        str(config) if config else None,
        system,
        int(max_mb * 1024 * 1024),
        max_seconds,
        audio_dir=audio_dir,
        page=page,
        keep_files=keep_replies,
        keep_bytes=int(keep_reply_mb * 1e6),
        keep_seconds=keep_reply_minutes * 60,
        max_waiting=max_waiting,
        turn_timeout=turn_timeout,
        max_sessions=max_sessions,
        session_turns=session_turns,
        session_idle_seconds=session_minutes * 60,
        max_live=max_live,
    )
    where = f"http://{host}:{port}/" + ("" if page else "health")
    typer.echo(f"emotionlayer: serving on {where} (Ctrl+C to stop)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
