"""The web demo's JSON API (FastAPI TestClient) on fake components: same JSON as `respond --json`, errors as 4xx."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
pytest.importorskip("gradio")

from fastapi.testclient import TestClient  # noqa: E402

import emotionlayer.testing as fakes  # noqa: E402
from emotionlayer.audio import load_audio  # noqa: E402
from emotionlayer.cli.output import turn_json  # noqa: E402
from emotionlayer.cli.serve import create_app  # noqa: E402
from emotionlayer.errors import EmotionLayerError  # noqa: E402
from emotionlayer.pipeline import CascadePipeline  # noqa: E402

DUMMY = {"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy", "vad": "energy"}


def wav_bytes(audio, fmt="WAV") -> bytes:
    out = io.BytesIO()
    sf.write(out, audio.samples, audio.sample_rate, format=fmt)
    return out.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(DUMMY, max_bytes=200_000, max_seconds=5.0, audio_dir=tmp_path_factory.mktemp("replies"))
    with TestClient(app) as client:
        yield client


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["system"] == "cascade"


def test_respond_answers_the_cli_json_plus_audio_url(client):
    clip = fakes.tone(1.0)
    response = client.post("/api/respond", files={"audio": ("clip.wav", wav_bytes(clip), "audio/wav")})
    assert response.status_code == 200, response.text
    data = response.json()
    expected = turn_json(CascadePipeline.from_config(DUMMY).respond(clip), "x.wav")
    assert set(data) == set(expected) | {"audio_url"}
    for key in ("system", "transcript", "emotion", "response", "speech_detected"):
        assert data[key] == expected[key]
    audio = client.get(data["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    info = sf.info(io.BytesIO(audio.content))
    assert info.frames > 0.2 * info.samplerate


def test_respond_takes_flac_and_ogg_and_a_system(client):
    for fmt in ("FLAC", "OGG"):
        response = client.post(
            "/api/respond",
            files={"audio": (f"clip.{fmt.lower()}", wav_bytes(fakes.tone(1.0), fmt))},
            data={"system": "echo:emotion=sad"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["system"] == "echo" and response.json()["emotion"]["label"] == "sad"


def cli_error(data: bytes, tmp_path) -> str:
    """The message the CLI prints (after 'error: ') for the same bytes."""
    try:
        load_audio(data)
    except EmotionLayerError as exc:
        return str(exc)
    raise AssertionError("no error")


@pytest.mark.parametrize("data", [b"", b"this is not audio at all", wav_bytes(fakes.tone(1.0))[:60]])
def test_bad_uploads_get_400_with_the_cli_message_and_the_server_goes_on(client, data, tmp_path):
    response = client.post("/api/respond", files={"audio": ("bad.wav", data, "audio/wav")})
    assert response.status_code == 400
    same = re.compile(r" at 0x[0-9a-f]+")  # the address of the decoder's buffer object differs
    assert same.sub("", response.json()["error"]) == same.sub("", cli_error(data, tmp_path))
    assert "\n" not in response.json()["error"]
    assert client.get("/health").status_code == 200
    assert client.post("/api/respond", files={"audio": ("ok.wav", wav_bytes(fakes.tone(0.5)))}).status_code == 200


def test_silence_is_a_400(client):
    silent = wav_bytes(type(fakes.tone())(np.zeros(16000, np.float32), 16000))
    response = client.post("/api/respond", files={"audio": ("silent.wav", silent)})
    assert response.status_code == 400 and "silent" in response.json()["error"].lower()


def test_uploads_over_the_limits_are_refused_before_decoding(client, monkeypatch):
    import emotionlayer.audio as audio_module

    decoded = []
    monkeypatch.setattr(audio_module, "_decode", lambda *a, **k: decoded.append(1))
    long_clip = wav_bytes(fakes.tone(6.0, sample_rate=8000))  # 96 kB, 6 s > 5 s
    response = client.post("/api/respond", files={"audio": ("long.wav", long_clip)})
    assert response.status_code == 413 and "limit is 5 s" in response.json()["error"]
    big = wav_bytes(fakes.tone(4.0, sample_rate=48000))  # 384 kB > 200 kB
    response = client.post("/api/respond", files={"audio": ("big.wav", big)})
    assert response.status_code == 413 and "MB" in response.json()["error"]
    assert decoded == []


def test_missing_field_unknown_system_and_unknown_audio(client):
    assert client.post("/api/respond").status_code == 422
    response = client.post(
        "/api/respond", files={"audio": ("a.wav", wav_bytes(fakes.tone(1.0)))}, data={"system": "nope"}
    )
    assert response.status_code == 400 and "nope" in response.json()["error"]
    assert client.get("/api/audio/../../etc/passwd").status_code == 404
    assert client.get("/api/audio/" + "0" * 32 + ".wav").status_code == 404


def test_the_page_is_served(client):
    response = client.get("/")
    assert response.status_code == 200 and "gradio" in response.text.lower()


def test_live_websocket_answers_a_spoken_turn(tmp_path):
    from pathlib import Path

    # The echo system, the dummy ASR and the packaged silero VAD (which needs real speech, not a tone).
    app = create_app({**DUMMY, "system": {"name": "echo"}}, audio_dir=tmp_path, page=False)
    clip = load_audio(Path(__file__).resolve().parents[1] / "examples" / "audio" / "neutral_phone.wav", 16000)
    audio = np.concatenate([clip.samples, np.zeros(int(2.5 * 16000), np.float32)]).astype(np.float32)
    with TestClient(app) as client, client.websocket_connect("/ws/live") as ws:
        ws.send_bytes(audio.tobytes())
        kinds, wavs = [], 0
        while "playback_started" not in kinds:
            message = ws.receive()
            if message.get("text"):
                kinds.append(json.loads(message["text"])["kind"])
            elif message.get("bytes"):
                wavs += sf.info(io.BytesIO(message["bytes"])).frames > 0
    assert kinds.index("speech_started") < kinds.index("end_of_turn") < kinds.index("reply_audio")
    assert wavs >= 1
