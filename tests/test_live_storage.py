"""Bounded reply storage: kept by count, bytes and age, oldest removed first; expired audio is a 404 in the API."""

from __future__ import annotations

import io
import threading

import pytest
import soundfile as sf

import emotionlayer.testing as fakes
from emotionlayer.live.storage import ReplyAudioStore

DUMMY = {"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy", "vad": "energy"}  # as in test_live_serve


def wav_bytes(audio) -> bytes:
    out = io.BytesIO()
    sf.write(out, audio.samples, audio.sample_rate, format="WAV")
    return out.getvalue()


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store(tmp_path, **limits) -> tuple[ReplyAudioStore, Clock]:
    clock = Clock()
    defaults = {"max_files": None, "max_bytes": None, "max_age_seconds": None}
    return ReplyAudioStore(tmp_path / "replies", clock=clock, **{**defaults, **limits}), clock


def saved(replies: ReplyAudioStore, clock: Clock, count: int, seconds: float = 0.5) -> list[str]:
    names = []
    for _ in range(count):
        names.append(replies.save(fakes.tone(seconds)))
        clock.now += 1.0
    return names


def on_disk(replies: ReplyAudioStore) -> set[str]:
    return {p.name for p in replies.folder.iterdir()}


def test_count_limit_removes_the_oldest_first(tmp_path):
    replies, clock = store(tmp_path, max_files=3)
    names = saved(replies, clock, 5)
    assert len(replies) == 3 and on_disk(replies) == set(names[2:])
    assert [replies.path(n) for n in names[:2]] == [None, None]
    assert all(replies.path(n) == replies.folder / n for n in names[2:])


def test_byte_limit_removes_the_oldest_first(tmp_path):
    replies, clock = store(tmp_path)
    size = (replies.folder / saved(replies, clock, 1)[0]).stat().st_size
    replies, clock = store(tmp_path / "limited", max_bytes=int(2.5 * size))
    names = saved(replies, clock, 4)
    assert on_disk(replies) == set(names[2:]) and replies.total_bytes == 2 * size
    assert replies.path(names[1]) is None and replies.path(names[3]) is not None


def test_the_reply_just_saved_is_kept_even_alone_over_the_byte_limit(tmp_path):
    replies, clock = store(tmp_path, max_bytes=10)
    first, second = saved(replies, clock, 2)
    assert replies.path(first) is None and replies.path(second) is not None and len(replies) == 1


def test_age_limit_expires_replies_whatever_the_other_limits(tmp_path):
    replies, clock = store(tmp_path, max_files=100, max_age_seconds=60)
    old, newer = saved(replies, clock, 2)  # saved at 1000 s and 1001 s
    clock.now = 1059.5
    assert replies.path(old) is not None and replies.path(newer) is not None
    clock.now = 1060.0
    assert replies.path(old) is None and not (replies.folder / old).exists()
    assert replies.path(newer) is not None
    clock.now = 2000.0
    assert replies.prune() == 1 and len(replies) == 0 and on_disk(replies) == set()


def test_unknown_removed_and_traversal_names_are_refused(tmp_path):
    replies, clock = store(tmp_path)
    (name,) = saved(replies, clock, 1)
    (tmp_path / "secret.wav").write_bytes(b"x")
    for bad in ("../secret.wav", "..", "/etc/passwd", name + "/..", name + "\n", name.upper(), "", None, 3):
        assert replies.path(bad) is None and not replies.valid_name(bad)
    assert replies.path("0" * 32 + ".wav") is None  # well formed, never saved
    (replies.folder / name).unlink()  # removed by someone else
    assert replies.path(name) is None and len(replies) == 0


def test_saves_from_many_threads_keep_the_limits(tmp_path):
    replies, _ = store(tmp_path, max_files=5)
    threads = [threading.Thread(target=lambda: [replies.save(fakes.tone(0.2)) for _ in range(5)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(replies) == 5 and len(on_disk(replies)) == 5


def test_limits_in_words(tmp_path):
    assert store(tmp_path, max_files=200, max_bytes=200_000_000, max_age_seconds=3600)[0].limits() == (
        "200 replies, 200 MB, 60 minutes"
    )
    assert "no time limit" in ReplyAudioStore(tmp_path, max_age_seconds=0).limits()


def test_an_expired_reply_is_a_404_with_a_message_and_a_fresh_one_a_200(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from emotionlayer.cli.serve import create_app

    app = create_app(DUMMY, audio_dir=tmp_path, page=False, keep_files=10, keep_seconds=60)
    clock = Clock()
    app.state.demo.replies._clock = clock  # the server's clock, moved by the test
    with TestClient(app) as client:
        upload = {"audio": ("clip.wav", wav_bytes(fakes.tone(1.0)), "audio/wav")}
        old = client.post("/api/respond", files=upload).json()["audio_url"]
        clock.now += 45
        fresh = client.post("/api/respond", files=upload).json()["audio_url"]
        assert client.get(old).status_code == 200 and client.get("/health").json()["reply_files"] == 2
        clock.now += 30  # the first is 75 s old, the second 30 s
        response = client.get(old)
        assert response.status_code == 404
        message = response.json()["error"]
        assert "expired or was removed" in message and "/api/respond" in message and "--keep-replies" in message
        assert client.get(fresh).status_code == 200 and client.get("/health").json()["reply_files"] == 1
