"""A simulated live conversation on the real default models: several turns from real speech clips, a
stretch of white noise, a backchannel during a reply, and an interruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotionlayer.live import INTERRUPTED_NOTE, LiveConfig, LiveSession
from emotionlayer.live.sources import Quiet, Say, WaitFor, scripted
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.testing import white_noise

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "examples" / "audio"
SPEED = 2.0  # twice as fast as real time; the session clock still counts audio time


@pytest.fixture(scope="module")
def cascade():
    pipeline = CascadePipeline.from_config()
    pipeline.warmup()
    yield pipeline
    pipeline.close()


@pytest.fixture(scope="module")
def speech(cascade):
    """Real speech (the packaged voice) for a backchannel and an interruption."""
    return {
        "uh-huh": cascade.speak("Uh-huh."),
        "stop": cascade.speak("Wait, stop. Can you say that again, more slowly?"),
    }


def test_simulated_conversation(cascade, speech):
    from emotionlayer.audio import load_audio

    session = LiveSession(cascade, LiveConfig(), speed=SPEED)
    session.warmup()
    steps = [
        Quiet(0.5),
        Quiet(2.0, white_noise(2.0, amplitude=0.1)),         # noise: never a turn
        Quiet(0.5),
        Say(load_audio(CLIPS / "sad_phone.wav")),            # turn 1
        WaitFor("playback_started", 0.3),
        Say(speech["uh-huh"]),                               # a backchannel during the reply: goes on
        WaitFor("turn_done", 0.5, turn=1),
        Say(load_audio(CLIPS / "angry_phone.wav")),          # turn 2
        WaitFor("playback_started", 0.4),
        Say(speech["stop"]),                                 # interrupts turn 2's reply, is turn 3
        WaitFor("turn_done", 0.2, turn=2),                   # turn 2 cut (maybe while "stop" still plays)
        WaitFor("turn_done", 0.2, turn=3, timeout_seconds=90),  # turn 3 answered to the end
    ]
    try:
        events = list(session.run(scripted(session, steps, speed=SPEED)))
        events += session.finish()
    finally:
        session.close()

    kinds = [e.kind for e in events]
    starts = [e for e in events if e.kind == "speech_started"]
    # The noise (0.5-2.5 s) started nothing; the first speech is the first clip.
    assert starts and starts[0].start >= 2.9, starts[:1]
    assert len(starts) == 3, [(e.turn, round(e.start, 2)) for e in starts]

    finals = {e.turn: e.text.lower() for e in events if e.kind == "transcript_final"}
    assert "phone" in finals[1] and "phone" in finals[2]
    assert "stop" in finals[3] or "again" in finals[3], finals

    # The backchannel was heard but did not stop the first reply.
    assert [e for e in events if e.kind == "backchannel" and e.turn == 1], kinds
    done = {e.turn: e for e in events if e.kind == "turn_done"}
    assert done[1].interrupted is False
    assert INTERRUPTED_NOTE not in done[1].record.response.text

    # The second reply was interrupted: stopped quickly, the unspoken rest dropped from the history.
    cut = [e for e in events if e.kind == "interrupted"]
    assert len(cut) == 1 and cut[0].turn == 2
    assert cut[0].stop_seconds <= 0.2
    assert done[2].interrupted is True
    assert done[2].record.response.text.endswith(INTERRUPTED_NOTE)
    if cut[0].dropped:
        assert cut[0].dropped not in done[2].record.response.text

    # The third turn's prompt tells the LLM it was interrupted; its reply was played to the end.
    assert done[3].interrupted is False and done[3].record.response.text.strip()
    prompt = " ".join(m["content"] for m in done[3].record.prompt)
    assert INTERRUPTED_NOTE in prompt
    assert len(session.history) == 3

    # Latency of every answered turn, in one clock, in order.
    assert len(session.latencies) == 3
    for lat in session.latencies:
        assert lat.speech_end < lat.end_of_turn <= lat.first_audio
        assert lat.asr_final is not None and lat.first_sentence is not None
        assert lat.first_audio >= lat.first_sentence - 0.05
    summary = session.latency_summary()
    assert summary["first_audio"]["n"] == 3 and summary["first_audio"]["p50"] <= summary["first_audio"]["p90"]
