"""Backpressure and observability of the server: 503 + Retry-After, 504 that frees the models, /metrics, live limit."""

from __future__ import annotations

import json
import queue as queues
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402
from test_live_serve import DUMMY, wav_bytes  # noqa: E402
from test_live_server_sessions import live_audio  # noqa: E402

import emotionlayer.testing as fakes  # noqa: E402
from emotionlayer.cli.serve import CLOSE_BUSY, create_app  # noqa: E402
from emotionlayer.registry import registered  # noqa: E402


def post(client, system=None, data=None):
    audio = data if data is not None else wav_bytes(fakes.tone(1.0))
    return client.post("/api/respond", files={"audio": ("clip.wav", audio)}, data={"system": system} if system else {})


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a state the server reaches, not a duration being asserted)."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def receive_until(ws, kind: str, seconds: float = 60.0) -> list[str]:
    """The kinds of a live socket's JSON events up to and including ``kind``.

    Raises AssertionError if ``kind`` has not come within ``seconds`` (a turn that never ends fails the test
    instead of hanging it; the reading thread ends when the socket is closed).
    """
    messages: queues.Queue = queues.Queue()

    def read() -> None:
        try:
            while True:
                message = ws.receive()
                messages.put(message)
                if message.get("text") and json.loads(message["text"])["kind"] == kind:
                    return
        except Exception as exc:  # the socket closed: the test sees why
            messages.put(exc)

    threading.Thread(target=read, daemon=True).start()
    kinds: list[str] = []
    end = time.monotonic() + seconds
    while True:
        try:
            message = messages.get(timeout=max(0.0, end - time.monotonic()))
        except queues.Empty:
            raise AssertionError(f"no {kind!r} event within {seconds:g} s; events so far: {kinds}") from None
        if isinstance(message, Exception):
            raise message
        if message.get("text"):
            kinds.append(json.loads(message["text"])["kind"])
            if kinds[-1] == kind:
                return kinds


def queue(client) -> dict:
    return client.get("/health").json()["queue"]


@contextmanager
def gated_system():
    """The dialogue system ``gated``: the echo system, whose turns wait until the test opens ``gate``."""
    gate = threading.Event()

    class Gated(fakes.EchoSystem):
        name = "gated"

        def stream(self, utterance, history=None):
            if not gate.wait(60):
                raise RuntimeError("the test never opened the gate")
            yield from super().stream(utterance, history)

    with registered("system", "gated", Gated):
        yield gate


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in the /metrics text (``None``: no such sample)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def test_a_full_queue_gets_503_with_retry_after_at_once(tmp_path):
    with gated_system() as gate:
        app = create_app(DUMMY, "gated", audio_dir=tmp_path, page=False, max_waiting=1, turn_timeout=0)
        with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, client)
            wait_until(lambda: queue(client)["running"] == 1, "the first turn runs")
            second = pool.submit(post, client)
            wait_until(lambda: queue(client)["waiting"] == 1, "the second turn waits")
            refused = post(client)  # answered while the models are still held: it did not wait
            assert refused.status_code == 503
            assert int(refused.headers["Retry-After"]) >= 1
            assert "busy" in refused.json()["error"] and "limit is 1" in refused.json()["error"]
            assert not first.done() and not second.done()
            gate.set()
            assert first.result(60).status_code == 200 and second.result(60).status_code == 200
            assert queue(client) == {"running": 0, "waiting": 0, "max_waiting": 1}
            text = client.get("/metrics").text
            assert metric(text, "emotionlayer_rejections_total", status="503", reason="queue_full") == 1
            assert metric(text, "emotionlayer_turns_total", source="api", system="gated") == 2


def test_with_no_waiting_allowed_a_second_request_is_refused(tmp_path):
    with gated_system() as gate:
        app = create_app(DUMMY, "gated", audio_dir=tmp_path, page=False, max_waiting=0)
        with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
            first = pool.submit(post, client)
            wait_until(lambda: queue(client)["running"] == 1, "the first turn runs")
            assert post(client).status_code == 503
            gate.set()
            assert first.result(60).status_code == 200
            assert post(client).status_code == 200


def test_a_turn_past_the_time_limit_gets_504_and_frees_the_models(tmp_path):
    app = create_app(DUMMY, audio_dir=tmp_path, page=False, turn_timeout=1.0)
    with TestClient(app) as client:
        slow = post(client, "echo:delay=0.5")  # 8 words, 0.5 s after each: 4 s
        assert slow.status_code == 504
        assert "time limit" in slow.json()["error"] and "1 s" in slow.json()["error"]
        assert post(client, "echo").status_code == 200  # the models are free again
        assert app.state.demo.system("echo:delay=0.5").words_streamed < 8  # the slow turn was stopped
        assert queue(client)["running"] == 0
        assert metric(client.get("/metrics").text, "emotionlayer_rejections_total", status="504", reason="timeout") == 1


def test_turns_that_wait_past_the_time_limit_get_504_and_the_server_goes_on(tmp_path):
    with gated_system() as gate:
        app = create_app(DUMMY, "gated", audio_dir=tmp_path, page=False, turn_timeout=1.0)
        with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, client)  # holds the models: its turn cannot start
            wait_until(lambda: queue(client)["running"] == 1, "the first turn runs")
            second = pool.submit(post, client)  # waits for them
            assert first.result(60).status_code == 504
            assert second.result(60).status_code == 504
            gate.set()  # the first turn's thread goes on, sees its deadline and stops
            wait_until(lambda: queue(client) == {"running": 0, "waiting": 0, "max_waiting": 4}, "the models free")
            assert post(client, "echo").status_code == 200


def test_metrics_count_turns_stages_rejections_and_sessions(tmp_path):
    app = create_app(DUMMY, max_bytes=200_000, max_seconds=5.0, audio_dir=tmp_path, page=False)
    other = create_app(DUMMY, audio_dir=tmp_path / "other", page=False)  # its own registry: no clash
    with TestClient(app) as client, TestClient(other) as other_client:
        sid = client.post("/api/sessions").json()["session"]
        assert post(client).status_code == 200
        assert (
            client.post(
                "/api/respond", files={"audio": ("a.wav", wav_bytes(fakes.tone(1.0)))}, data={"session": sid}
            ).status_code
            == 200
        )
        assert post(client, data=b"not audio").status_code == 400
        assert post(client, data=wav_bytes(fakes.tone(6.0, sample_rate=8000))).status_code == 413
        assert post(client, system="nope").status_code == 400
        response = client.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert metric(text, "emotionlayer_turns_total", source="api", system="cascade") == 2
        for stage in ("ser", "asr", "llm", "tts", "total"):
            assert metric(text, "emotionlayer_stage_seconds_count", stage=stage) == 2, stage
        assert metric(text, "emotionlayer_turn_seconds_count", source="api") == 2
        assert metric(text, "emotionlayer_queue_wait_seconds_count") == 2
        assert metric(text, "emotionlayer_rejections_total", status="400", reason="bad_audio") == 1
        assert metric(text, "emotionlayer_rejections_total", status="400", reason="unknown_system") == 1
        assert metric(text, "emotionlayer_rejections_total", status="413", reason="too_large") == 1
        assert metric(text, "emotionlayer_http_requests_total", route="/api/respond", status="200") == 2
        assert metric(text, "emotionlayer_http_requests_total", route="/api/sessions", status="201") == 1
        assert metric(text, "emotionlayer_sessions_created_total") == 1
        assert metric(text, "emotionlayer_sessions") == 1
        assert metric(text, "emotionlayer_queue_waiting") == 0 and metric(text, "emotionlayer_turns_running") == 0
        assert metric(text, "emotionlayer_reply_files") == 2
        assert metric(text, "emotionlayer_errors_total", where="http") is None  # none happened
        assert (
            metric(other_client.get("/metrics").text, "emotionlayer_turns_total", source="api", system="cascade")
            is None
        )
        health = client.get("/health").json()
        assert health["queue"] == {"running": 0, "waiting": 0, "max_waiting": 4} and health["sessions"] == 1


def test_live_sockets_beyond_the_limit_are_refused_and_the_open_one_goes_on(tmp_path):
    app = create_app({**DUMMY, "system": {"name": "echo"}}, audio_dir=tmp_path, page=False, max_live=1)
    with TestClient(app) as client, client.websocket_connect("/ws/live") as first:
        with client.websocket_connect("/ws/live") as second:
            refusal = second.receive_json()
            assert refusal["kind"] == "error" and refusal["status"] == 503
            assert "limit of 1 live conversations" in refusal["error"]
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_json()
            assert closed.value.code == CLOSE_BUSY and "try again later" in closed.value.reason
        first.send_bytes(live_audio().tobytes())
        kinds = []
        while "playback_started" not in kinds:
            message = first.receive()
            if message.get("text"):
                kinds.append(json.loads(message["text"])["kind"])
        assert "end_of_turn" in kinds and client.get("/health").json()["live_sockets"] == 1
        text = client.get("/metrics").text
        assert metric(text, "emotionlayer_rejections_total", status="1013", reason="live_limit") == 1
        assert metric(text, "emotionlayer_live_latency_seconds_count", moment="first_audio") == 1


class Overlap:
    """Counts how many callers are inside at once (the most ever seen in ``most``)."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.calls = 0
        self._lock = threading.Lock()

    @contextmanager
    def enter(self, seconds: float = 0.0):
        with self._lock:
            self.inside += 1
            self.calls += 1
            self.most = max(self.most, self.inside)
        try:
            time.sleep(seconds)  # stay inside a while, so that an overlap would be seen
            yield
        finally:
            with self._lock:
                self.inside -= 1


def test_slot_system_and_slot_model_never_overlap_on_the_models():
    from emotionlayer.live.serving import Admission, SlotModel, SlotSystem

    overlap = Overlap()

    class Slow(fakes.EchoSystem):
        def stream(self, utterance, history=None):
            for event in super().stream(utterance, history):
                with overlap.enter(0.01):
                    pass
                yield event

    class SlowASR(fakes.DummyASR):
        def transcribe(self, audio, language=None):
            with overlap.enter(0.02):
                return super().transcribe(audio, language)

    admission = Admission(max_waiting=0)  # unlimited callers (live turns) wait whatever the limit
    system, asr = SlotSystem(Slow(), admission), SlotModel(SlowASR(), admission)
    clip = fakes.tone(0.5)
    with ThreadPoolExecutor(6) as pool:
        jobs = [pool.submit(system.respond, clip) for _ in range(3)]
        jobs += [pool.submit(asr.transcribe, clip) for _ in range(3)]
        assert all(job.result(60) is not None for job in jobs)
    assert overlap.calls >= 3 * 5 + 3 and overlap.most == 1
    assert admission.running == 0 and admission.waiting == 0


def test_two_live_sockets_and_an_upload_take_turns_on_the_models(tmp_path):
    overlap = Overlap()

    class Counting(fakes.EchoSystem):
        name = "counting"

        def stream(self, utterance, history=None):
            with overlap.enter(0.05):  # the whole turn, from its start to its last event
                yield from super().stream(utterance, history)

    with registered("system", "counting", Counting):
        app = create_app({**DUMMY, "system": {"name": "counting"}}, audio_dir=tmp_path, page=False)
        with TestClient(app) as client:
            with client.websocket_connect("/ws/live") as one, client.websocket_connect("/ws/live") as two:
                for ws in (one, two):
                    assert ws.receive_json()["kind"] == "ready"
                    ws.send_bytes(live_audio(silence=6.0).tobytes())
                assert post(client).status_code == 200
                for ws in (one, two):
                    kinds = receive_until(ws, "turn_done")
                    assert "transcript_final" in kinds and "playback_started" in kinds
    assert overlap.calls >= 3 and overlap.most == 1


def test_a_live_turn_is_answered_after_its_client_stopped_sending(tmp_path, monkeypatch):
    """The client sends its turn and then nothing, while an upload holds the models: the turn's final transcript
    and reply come after the socket's last frame, and the server's session must still take them up (it used to
    wait for more audio that never came: the turn never ended)."""
    import emotionlayer.live as live

    sessions = []

    class Seen(live.LiveSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            sessions.append(self)

    monkeypatch.setattr(live, "LiveSession", Seen)
    audio = live_audio(silence=2.0)  # all the audio this client sends
    last_frame = (audio.size // 512) * 512 / 16000
    with gated_system() as gate:
        app = create_app({**DUMMY, "system": {"name": "gated"}}, audio_dir=tmp_path, page=False)
        with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
            with client.websocket_connect("/ws/live") as ws:
                assert ws.receive_json()["kind"] == "ready"
                upload = pool.submit(post, client)
                wait_until(lambda: queue(client)["running"] == 1, "the upload holds the models")
                ws.send_bytes(audio.tobytes())
                heard = receive_until(ws, "end_of_turn")
                wait_until(lambda: sessions[0].time >= last_frame - 1e-6, "every frame sent is taken")
                assert "transcript_final" not in heard  # its transcript waits for the models
                assert queue(client)["waiting"] >= 1
                gate.set()
                answered = receive_until(ws, "turn_done")
                assert answered.index("transcript_final") < answered.index("playback_started")
                assert upload.result(60).status_code == 200
            assert queue(client) == {"running": 0, "waiting": 0, "max_waiting": 4}
