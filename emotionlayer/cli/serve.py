"""``emotionlayer serve``: a local web demo and a JSON API over any dialogue system.

:func:`create_app` builds a FastAPI app with:

- ``GET /health``: ``{"status": "ok", "system": ...}``;
- ``POST /api/respond``: a multipart upload (field ``audio``: WAV/FLAC/OGG/MP3; optional field
  ``system``: NAME or NAME:KEY=VALUE,...), answered with the JSON of ``emotionlayer respond --json``
  (:func:`emotionlayer.cli.output.turn_json`) plus ``audio_url``, where the spoken reply can be fetched;
- ``GET /api/audio/{name}``: a spoken reply, kept within the limits of a
  :class:`~emotionlayer.live.storage.ReplyAudioStore` (count, bytes, age; oldest removed first); an expired
  one gets HTTP 404 with a message saying how to get it again;
- ``WS /ws/live``: a live conversation (:class:`~emotionlayer.live.LiveSession`): send 16 kHz mono float32
  audio as binary messages, receive the session's events as JSON and each reply sentence as a WAV message;
- the page at ``/``: Gradio (microphone or upload), showing the transcript, the emotion probabilities as a
  bar chart, the strategy and the reply text as they stream, and playing the reply.

A bad upload gets HTTP 400 (413 when over the size or length limit, refused before decoding) with
``{"error": MESSAGE}``, MESSAGE being the line the CLI prints after ``error:``; the server goes on serving.
"""

import io
import tempfile
import threading
from pathlib import Path
from typing import Any

import typer

from ..errors import EmotionLayerError
from ..live.storage import DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_FILES, ReplyAudioStore
from ..live.storage import DEFAULT_MAX_BYTES as DEFAULT_KEEP_BYTES

#: Uploads larger than this many bytes are refused (HTTP 413) before they are decoded.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


class UploadTooLarge(EmotionLayerError):
    """An upload over the server's size or length limit."""


class Demo:
    """What the web app serves: the systems (built once each, on first use) and the reply files.

    Args:
        config: The pipeline config (a :class:`~emotionlayer.config.PipelineConfig`, path, dict or ``None``).
        system: The default system spec (``None``: the config's ``system`` section).
        max_bytes: Largest upload accepted.
        max_seconds: Longest recording accepted (checked from the file header, before decoding).
        audio_dir: Where reply WAVs are written (default: a temporary folder removed with the process).
        keep_files: Most reply WAVs kept (0: no limit); the oldest are removed first.
        keep_bytes: Most bytes of reply WAVs kept, all together (0: no limit).
        keep_seconds: Longest a reply WAV is kept (0: no limit).
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
    ) -> None:
        from ..config import PipelineConfig

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
        self.turn_lock = threading.Lock()  # one turn at a time: the models share the CPU

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

    def respond(self, data: bytes, system: str | None = None) -> dict[str, Any]:
        """One turn from uploaded file bytes: the ``respond --json`` object plus ``audio_url``."""
        from .output import turn_json

        audio = self.load_upload(data)
        answerer = self.system(system)
        with self.turn_lock:
            turn = answerer.respond(audio)
        name = self.save_reply(turn)
        out = turn_json(turn, name)
        out["audio_url"] = f"/api/audio/{name}" if name else None
        return out


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
) -> Any:
    """The FastAPI app (JSON API, live WebSocket and, with ``page``, the Gradio page at ``/``).

    Args:
        config: The pipeline config (``None``: the packaged offline default).
        system: The default dialogue system (NAME or NAME:KEY=VALUE,...); ``None``: the config's.
        max_bytes: Largest upload accepted (HTTP 413 above it).
        max_seconds: Longest recording accepted (default: the config's ``run.max_seconds``).
        audio_dir: Where reply WAVs are kept (default: a temporary folder).
        page: Mount the Gradio page at ``/``.
        keep_files, keep_bytes, keep_seconds: The reply audio kept (see :class:`Demo`).
    """
    from fastapi import FastAPI, File, Form, Request, UploadFile, WebSocket, WebSocketDisconnect
    from fastapi.responses import FileResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool

    demo = Demo(config, system, max_bytes, max_seconds, audio_dir, keep_files, keep_bytes, keep_seconds)
    app = FastAPI(title="emotionlayer", description="Emotion-sensitive spoken dialogue: a local demo and JSON API.")
    app.state.demo = demo

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.middleware("http")
    async def refuse_large_bodies(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if request.url.path == "/api/respond" and length and length.isdigit() and int(length) > demo.max_bytes + 65536:
            return error(
                413,
                f"The upload is {int(length) / 1e6:.1f} MB; the limit is {demo.max_bytes / 1e6:.1f} MB. Send a "
                "shorter recording.",
            )
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "system": demo.system_name(),
            "max_bytes": demo.max_bytes,
            "max_seconds": demo.max_seconds,
            "reply_files": len(demo.replies),
        }

    @app.post("/api/respond")
    async def respond(audio: UploadFile = File(...), system: str | None = Form(None)) -> Any:
        data = await audio.read(demo.max_bytes + 1)
        try:
            return await run_in_threadpool(demo.respond, data, system)
        except UploadTooLarge as exc:
            return error(413, str(exc))
        except EmotionLayerError as exc:
            return error(400, str(exc))

    @app.get("/api/audio/{name}")
    def reply_audio(name: str) -> Any:
        if not demo.replies.valid_name(name):
            return error(404, f"No reply audio named {name!r}; use the audio_url of a /api/respond answer.")
        path = demo.replies.path(name)
        if path is None:
            return error(404, demo.expired_message(name))
        return FileResponse(path, media_type="audio/wav")

    @app.websocket("/ws/live")
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await _live_socket(websocket, demo, run_in_threadpool)
        except WebSocketDisconnect:
            return

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return error(
            500, f"Internal error ({type(exc).__name__}: {first}); the server goes on. Run with --debug for details."
        )

    if page:
        import gradio as gr

        app = gr.mount_gradio_app(app, build_page(demo), path="/", allowed_paths=[str(demo.audio_dir)])
    return app


async def _live_socket(websocket: Any, demo: Demo, run_in_threadpool: Any) -> None:
    """A live conversation over a WebSocket: float32 16 kHz audio in, events (JSON) and sentences (WAV) out."""
    import numpy as np

    from ..audio import Audio
    from ..live import LiveSession
    from ..live.session import FRAME_SAMPLES

    session = LiveSession(demo.system(), pipeline_config=demo.config)
    await run_in_threadpool(session.warmup)  # models loaded, prompts primed: the first turn is not slower
    buffer = np.zeros(0, dtype=np.float32)
    try:
        while True:
            message = await websocket.receive()
            if message.get("type") == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                continue
            buffer = np.concatenate([buffer, np.frombuffer(data, dtype=np.float32)])
            while buffer.size >= FRAME_SAMPLES:
                frame, buffer = buffer[:FRAME_SAMPLES], buffer[FRAME_SAMPLES:]
                for event in await run_in_threadpool(session.feed, frame):
                    await websocket.send_json(event.to_dict())
                    audio = getattr(event, "audio", None)
                    if isinstance(audio, Audio):
                        out = io.BytesIO()
                        import soundfile as sf

                        sf.write(out, audio.samples, audio.sample_rate, format="WAV")
                        await websocket.send_bytes(out.getvalue())
    finally:
        session.close()


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
        with demo.turn_lock:
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
                    name = demo.save_reply(turn)
                    strategy = turn.response.strategy
                    timings = ", ".join(f"{k} {v:.2f} s" for k, v in turn.timings.items())
                    yield (
                        transcript,
                        emotion,
                        strategy,
                        turn.response.text,
                        str(demo.audio_dir / name) if name else None,
                        timings,
                    )
                    return
                yield transcript, emotion, strategy, reply, None, ""

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
) -> None:
    """Serve a local web demo (microphone or upload) and a JSON API (GET /health, POST /api/respond, WS /ws/live).

    Open http://HOST:PORT/ in a browser. The API answers POST /api/respond (multipart field 'audio', optional
    'system') with the JSON of `emotionlayer respond --json` plus 'audio_url'. Spoken replies are kept within
    --keep-replies, --keep-reply-mb and --keep-reply-minutes (oldest removed first); an expired one gets HTTP 404.
    """
    import uvicorn

    app = create_app(
        str(config) if config else None,
        system,
        int(max_mb * 1024 * 1024),
        max_seconds,
        keep_files=keep_replies,
        keep_bytes=int(keep_reply_mb * 1e6),
        keep_seconds=keep_reply_minutes * 60,
    )
    typer.echo(f"emotionlayer: serving on http://{host}:{port}/ (Ctrl+C to stop)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
