"""Conversations on the server: POST /api/sessions, history across /api/respond and /ws/live, limits, expiry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402
from test_live_serve import DUMMY, wav_bytes  # noqa: E402

import emotionlayer.testing as fakes  # noqa: E402
from emotionlayer.audio import load_audio  # noqa: E402
from emotionlayer.cli.serve import CLOSE_UNKNOWN_SESSION, create_app  # noqa: E402
from emotionlayer.live.serving import ServerBusy, SessionStore, UnknownSession  # noqa: E402
from emotionlayer.types import Dialogue  # noqa: E402

CLIP = Path(__file__).resolve().parents[1] / "examples" / "audio" / "neutral_phone.wav"


def post(client, session=None, system=None, seconds=1.0):
    data = {k: v for k, v in (("session", session), ("system", system)) if v}
    return client.post("/api/respond", files={"audio": ("clip.wav", wav_bytes(fakes.tone(seconds)))}, data=data)


@pytest.fixture()
def app(tmp_path):
    return create_app(DUMMY, max_seconds=5.0, audio_dir=tmp_path, page=False, session_turns=3)


def test_a_session_keeps_the_history_across_respond_calls(app):
    with TestClient(app) as client:
        created = client.post("/api/sessions")
        assert created.status_code == 201
        sid = created.json()["session"]
        assert created.json()["turns"] == 0 and created.json()["history"] == []
        first = post(client, sid)
        assert first.status_code == 200, first.text
        assert first.json()["session"] == {"id": sid, "turns": 1}
        llm = app.state.demo.system().llm
        assert "Earlier in this conversation" not in llm.last_messages[0]["content"]
        second = post(client, sid)
        assert second.json()["session"] == {"id": sid, "turns": 2}
        # The second turn's prompt shows the first turn: what the user said and what was answered.
        earlier = llm.last_messages[0]["content"].split("Earlier in this conversation:", 1)[1]
        assert first.json()["transcript"] in earlier and first.json()["response"]["text"] in earlier
        history = client.get(f"/api/sessions/{sid}").json()
        assert history["turns"] == 2
        assert [t["transcript"] for t in history["history"]] == [first.json()["transcript"]] * 2
        # Without a session a turn stands alone, as before.
        alone = post(client)
        assert alone.status_code == 200 and "session" not in alone.json()
        assert "Earlier in this conversation" not in llm.last_messages[0]["content"]


def test_each_session_has_its_own_history_and_it_is_bounded(app):
    with TestClient(app) as client:
        a, b = (client.post("/api/sessions").json()["session"] for _ in range(2))
        replies = [post(client, a, "echo").json()["response"]["text"] for _ in range(5)]
        assert [r.split(":")[0] for r in replies] == ["Turn 1", "Turn 2", "Turn 3", "Turn 4", "Turn 4"]  # 3 kept
        assert post(client, b, "echo").json()["response"]["text"].startswith("Turn 1:")
        kept = client.get(f"/api/sessions/{a}").json()
        assert kept["turns"] == 5 and len(kept["history"]) == 3 and kept["max_turns"] == 3
        assert client.get("/health").json()["sessions"] == 2


def test_unknown_ended_and_malformed_sessions_get_404_saying_how_to_start_one(app):
    with TestClient(app) as client:
        for sid in ("0" * 32, "not-an-id"):
            response = post(client, sid)
            assert response.status_code == 404
            assert "POST /api/sessions" in response.json()["error"]
        sid = client.post("/api/sessions").json()["session"]
        assert client.delete(f"/api/sessions/{sid}").json() == {"session": sid, "ended": True}
        assert post(client, sid).status_code == 404
        assert client.get(f"/api/sessions/{sid}").status_code == 404
        assert client.delete(f"/api/sessions/{sid}").status_code == 404
        # the query parameter works as well as the form field
        sid = client.post("/api/sessions").json()["session"]
        response = client.post(f"/api/respond?session={sid}", files={"audio": ("a.wav", wav_bytes(fakes.tone(1.0)))})
        assert response.json()["session"] == {"id": sid, "turns": 1}


def test_an_idle_session_expires(app):
    now = [1000.0]
    demo = app.state.demo
    demo.sessions = SessionStore(
        10, 3, idle_seconds=60, clock=lambda: now[0], on_expire=demo.metrics.sessions_expired.inc
    )
    with TestClient(app) as client:
        sid = client.post("/api/sessions").json()["session"]
        assert post(client, sid).status_code == 200
        now[0] += 59  # a turn within the idle time keeps it
        assert post(client, sid).json()["session"]["turns"] == 2
        now[0] += 60
        response = post(client, sid)
        assert response.status_code == 404
        assert (
            "expired after 1 minutes" in response.json()["error"] and "POST /api/sessions" in response.json()["error"]
        )
        assert client.get("/health").json()["sessions"] == 0
        assert "emotionlayer_sessions_expired_total 1.0" in client.get("/metrics").text


def test_too_many_sessions_get_503_with_retry_after(tmp_path):
    app = create_app(DUMMY, audio_dir=tmp_path, page=False, max_sessions=2)
    with TestClient(app) as client:
        assert [client.post("/api/sessions").status_code for _ in range(2)] == [201, 201]
        refused = client.post("/api/sessions")
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
        assert "2 conversations" in refused.json()["error"]
        assert post(client).status_code == 200  # turns without a session still work


def test_session_store_rules():
    now = [0.0]
    store = SessionStore(max_sessions=1, max_turns=2, idle_seconds=10, clock=lambda: now[0])
    conversation = store.create()
    with pytest.raises(ServerBusy) as busy:
        store.create()
    assert busy.value.retry_after == 10 and busy.value.reason == "sessions_full"
    with store.hold(conversation.id):
        now[0] += 100  # a conversation in use does not expire
        assert len(store) == 1
    now[0] += 9
    assert len(store) == 1
    now[0] += 1
    assert len(store) == 0 and store.expired_total == 1
    with pytest.raises(UnknownSession, match="expired after"):
        store.get(conversation.id)
    assert store.create().history == Dialogue()  # room again


def live_audio(silence: float = 2.5) -> np.ndarray:
    clip = load_audio(CLIP, 16000)
    return np.concatenate([clip.samples, np.zeros(int(silence * 16000), np.float32)]).astype(np.float32)


def test_a_live_socket_with_a_session_continues_its_conversation(tmp_path):
    # The echo system (it says which turn it is), the dummy ASR and the packaged silero VAD.
    app = create_app({**DUMMY, "system": {"name": "echo"}}, audio_dir=tmp_path, page=False)
    with TestClient(app) as client:
        sid = client.post("/api/sessions").json()["session"]
        assert post(client, sid).json()["response"]["text"].startswith("Turn 1:")
        with client.websocket_connect(f"/ws/live?session={sid}") as ws:
            # the turn, then silence for the reply to be played to its end (when the turn joins the history)
            ws.send_bytes(live_audio(silence=6.0).tobytes())
            reply, kind = "", ""
            while kind != "turn_done":
                message = ws.receive()
                if message.get("text"):
                    event = json.loads(message["text"])
                    kind = event["kind"]
                    reply += event["text"] if kind == "reply_text" else ""
        assert reply.startswith("Turn 2:")
        history = client.get(f"/api/sessions/{sid}").json()
        assert history["turns"] == 2 and history["history"][1]["response"].startswith("Turn 2:")


def test_a_live_socket_with_an_unknown_session_is_closed_with_a_message(tmp_path):
    app = create_app({**DUMMY, "system": {"name": "echo"}}, audio_dir=tmp_path, page=False)
    with TestClient(app) as client, client.websocket_connect("/ws/live?session=" + "f" * 32) as ws:
        first = ws.receive_json()
        assert first["kind"] == "error" and first["status"] == 404 and "POST /api/sessions" in first["error"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == CLOSE_UNKNOWN_SESSION
        assert client.get("/health").json()["live_sockets"] == 0
