"""The live session's rules on fake components: end of turn, backchannels, barge-in, latency, sources, and
what the CLI shows and records of it (the event printer, the stereo recording)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import emotionlayer.testing as fakes
from emotionlayer.errors import ConfigError, EmotionLayerError
from emotionlayer.live import (
    INTERRUPTED_NOTE,
    ConversationRecorder,
    EventPrinter,
    LiveConfig,
    LiveSession,
    Playback,
    SessionEvent,
    TurnDetector,
    is_backchannel,
    latency_line,
    phrase_finished,
)
from emotionlayer.live.events import TurnLatency, latency_summary, percentile
from emotionlayer.live.sources import Quiet, Say, WaitFor, fan_out, frames, open_input, play_file, scripted, silence
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.types import Transcript

FRAME = 0.032


# -- the end-of-turn rule --------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["My phone won't turn on.", "Can you help me?", "That's great!", "I need it today."])
def test_finished_phrases(text):
    assert phrase_finished(text)


UNFINISHED = ["", "My phone won't turn on and", "I was thinking, um", "so", "I need it today, but...", "I went to the",
              "I bought milk and.", "because", "it was fine,", "no punctuation here"]  # fmt: skip


@pytest.mark.parametrize("text", UNFINISHED)
def test_unfinished_phrases(text):
    assert not phrase_finished(text)


def feed(detector, probabilities, start=0.0):
    """Feed frame probabilities; return [(what, frame end time)]."""
    out = []
    for i, p in enumerate(probabilities):
        t0 = start + i * FRAME
        for what in detector.update(p, t0, t0 + FRAME):
            out.append((what, round(t0 + FRAME, 3)))
    return out


def test_short_bursts_never_start_a_turn():
    detector = TurnDetector(LiveConfig(min_speech_seconds=0.15))
    # 4 voiced frames (0.128 s) then silence, twice: a click, a knock
    assert feed(detector, [0.9] * 4 + [0.0] * 10 + [0.9] * 4 + [0.0] * 10) == []
    assert detector.state == "idle"


def test_end_of_turn_waits_longer_after_an_unfinished_phrase():
    cfg = LiveConfig(min_speech_seconds=0.15, finished_silence_seconds=0.4, unfinished_silence_seconds=1.0)

    def end_after(transcript):
        detector = TurnDetector(cfg)
        events = feed(detector, [0.9] * 30)
        assert events[0][0] == "speech_start"
        speech_end = 30 * FRAME
        paused = feed(detector, [0.0] * 2, start=speech_end)
        assert paused[0][0] == "pause"
        detector.set_transcript(transcript)
        ends = feed(detector, [0.0] * 60, start=speech_end + 2 * FRAME)
        assert [w for w, _ in ends] == ["end_of_turn"]
        return ends[0][1] - speech_end

    assert end_after("My phone won't turn on.") == pytest.approx(0.4, abs=FRAME)
    assert end_after("My phone won't turn on and") == pytest.approx(1.0, abs=FRAME)
    assert end_after("um") == pytest.approx(1.0, abs=FRAME)
    assert end_after(None) == pytest.approx(1.0, abs=FRAME)  # transcript not known yet: the longer wait


def test_speech_after_a_pause_resumes_the_turn():
    detector = TurnDetector(LiveConfig(finished_silence_seconds=0.4))
    events = feed(detector, [0.9] * 10 + [0.0] * 5 + [0.9] * 10 + [0.0] * 45)  # no transcript: the longer wait
    assert [w for w, _ in events] == ["speech_start", "pause", "resume", "pause", "end_of_turn"]


def test_wavering_probabilities_between_the_thresholds_are_still_speech():
    detector = TurnDetector(LiveConfig(threshold=0.5))
    events = feed(detector, [0.9] * 10 + [0.4] * 20)  # 0.4 is above 0.5 - 0.15
    assert [w for w, _ in events] == ["speech_start"]


def test_config_checks_and_round_trip():
    cfg = LiveConfig(finished_silence_seconds=0.3)
    assert LiveConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unfinished_silence_seconds"):
        LiveConfig(finished_silence_seconds=2.0, unfinished_silence_seconds=1.0)
    with pytest.raises(ConfigError, match="vad"):
        LiveConfig(vad="webrtc")
    with pytest.raises(ConfigError, match="Unknown live setting"):
        LiveConfig.from_dict({"silence": 1})


# -- backchannels ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["uh-huh", "Uh-huh.", "Mm-hmm.", "mhm", "Mm.", "OK", "Okay.", "Yeah.", "Yeah, right.",
                                  "Right.", "Oh, okay.", "I see.", "", "Hmm?"])
def test_backchannels(text):
    assert is_backchannel(text)


@pytest.mark.parametrize("text", ["Wait, stop.", "No, that's wrong.", "Okay, but what about my phone?",
                                  "Yeah, can you repeat that?", "Hold on", "Sorry, I meant tomorrow."])  # fmt: skip
def test_interruptions_are_not_backchannels(text):
    assert not is_backchannel(text)


# -- a session on fake components --------------------------------------------------------------------
class ToneASR:
    """Fake ASR: the text of the tone frequency nearest the clip's loudest one ('' for silence)."""

    name = "tone-asr"

    def __init__(self, words: dict[float, str]) -> None:
        self.words = words
        self.calls = 0

    def transcribe(self, audio, language=None):
        self.calls += 1
        samples = audio.resample(16000).samples
        if np.sqrt(np.mean(samples**2)) < 0.01:
            return Transcript("", "en", self.name)
        frequency = np.argmax(np.abs(np.fft.rfft(samples))) * 16000 / samples.size
        return Transcript(self.words[min(self.words, key=lambda f: abs(f - frequency))], "en", self.name, 0.01)


WORDS = {
    220.0: "My phone won't turn on.",
    300.0: "My phone won't turn on and",
    440.0: "Uh-huh.",
    600.0: "Wait, stop, I have a question.",
}


def dummy_cascade(reply="I hear you. Let's sort this out together. Tell me more about it."):
    llm = {"backend": "dummy", "params": {"reply": reply}}
    return CascadePipeline.from_config({"ser": "dummy", "asr": "dummy", "llm": llm, "tts": "dummy", "vad": "energy"})


def run(session, steps, speed=8.0):
    try:
        events = list(session.run(scripted(session, steps, speed=speed)))
        events += session.finish()
    finally:
        session.close()
    return events


def make_session(system=None, **cfg):
    cfg.setdefault("vad", "energy")
    return LiveSession(system or dummy_cascade(), LiveConfig(**cfg), asr=ToneASR(WORDS), speed=8.0)


def test_a_turn_is_answered_with_events_in_order_and_latency():
    blocks = []
    session = make_session()
    session.sink = blocks.append
    events = run(session, [Quiet(0.3), Say(fakes.tone(1.2, frequency=220)), WaitFor("turn_done", 0.1)])
    kinds = [e.kind for e in events]
    once = ["speech_started", "end_of_turn", "transcript_final", "emotion", "strategy", "playback_started", "latency",
            "turn_done"]
    assert [k for k in kinds if k in once] == once  # each once, in this order
    heard, strategy, done = kinds.index("end_of_turn"), kinds.index("strategy"), kinds.index("turn_done")
    assert all(i < heard for i, k in enumerate(kinds) if k == "transcript_partial")
    assert all(strategy < i < done for i, k in enumerate(kinds) if k in ("reply_text", "reply_audio"))
    reply = "I hear you. Let's sort this out together. Tell me more about it."
    assert "".join(e.text for e in events if e.kind == "reply_text") == reply
    spoken = [e.text for e in events if e.kind == "reply_audio"]
    assert spoken == ["I hear you.", "Let's sort this out together.", "Tell me more about it."]
    eot = next(e for e in events if e.kind == "end_of_turn")
    assert eot.finished and eot.silence == pytest.approx(LiveConfig().finished_silence_seconds, abs=2 * FRAME)
    final = next(e for e in events if e.kind == "transcript_final")
    assert final.text == WORDS[220.0] and final.model == "tone-asr"
    (lat,) = session.latencies
    assert lat.speech_end == pytest.approx(1.5, abs=2 * FRAME)
    assert lat.speech_end < lat.end_of_turn <= lat.first_audio
    # The output sink got one block per input frame; the reply audio is in it.
    assert len(blocks) == round(session.time / FRAME)
    assert sum(float(np.abs(b).sum()) > 0 for b in blocks) > 10
    # The history holds the turn with the session's transcript (not "given").
    (turn,) = session.history.turns
    assert turn.transcript.model == "tone-asr" and turn.response.text.startswith("I hear you.")


def test_noise_without_words_is_discarded_and_silence_starts_nothing():
    session = make_session()
    events = run(session, [Quiet(1.0), Say(fakes.white_noise(0.8, amplitude=0.005)), Quiet(2.0)])
    assert not [e for e in events if e.kind == "speech_started"]  # -46 dBFS: below the energy VAD's threshold

    class Silent(ToneASR):
        def transcribe(self, audio, language=None):
            return Transcript("", "en", self.name)

    session = LiveSession(dummy_cascade(), LiveConfig(vad="energy"), asr=Silent(WORDS), speed=8.0)
    events = run(session, [Say(fakes.white_noise(1.0, amplitude=0.1)), Quiet(2.0)])
    kinds = [e.kind for e in events if e.kind in ("speech_started", "discarded", "reply_text")]
    assert kinds == ["speech_started", "discarded"]
    assert len(session.history) == 0


def test_silero_vad_does_not_take_white_noise_for_speech():
    session = LiveSession(dummy_cascade(), LiveConfig(), asr=ToneASR(WORDS), speed=float("inf"))
    events = run(session, [Quiet(2.0, fakes.white_noise(2.0, amplitude=0.1)), Quiet(0.5, fakes.hum(0.5))], speed=0)
    assert not [e for e in events if e.kind == "speech_started"]


def test_a_backchannel_and_a_short_noise_do_not_interrupt():
    session = make_session()
    events = run(session, [
        Say(fakes.tone(1.0, frequency=220)), WaitFor("playback_started", 0.2),
        Say(fakes.tone(0.5, frequency=440)),                  # "uh-huh"
        Quiet(0.3), Say(fakes.tone(0.2, frequency=600)),      # 0.2 s: shorter than barge_in_min_seconds
        WaitFor("turn_done", 0.1),
    ])
    assert not [e for e in events if e.kind == "interrupted"]
    texts = [e.text for e in events if e.kind == "backchannel"]
    assert "Uh-huh." in texts and "" in texts
    (turn,) = session.history.turns
    assert turn.response.text == "I hear you. Let's sort this out together. Tell me more about it."


def test_barge_in_stops_playback_and_generation_and_notes_it_in_the_history():
    system = fakes.EchoSystem(delay=0.02)
    session = LiveSession(system, LiveConfig(vad="energy"), asr=ToneASR(WORDS), speed=8.0, pass_transcript=True)
    events = run(session, [
        Say(fakes.tone(1.0, frequency=220)), WaitFor("playback_started", 0.1),
        Say(fakes.tone(1.0, frequency=600)),                  # interrupts (turn_done of turn 1) while said
        WaitFor("turn_done", 0.1, turn=2),                     # the answer to it
    ])
    (cut,) = [e for e in events if e.kind == "interrupted"]
    assert cut.turn == 1 and cut.heard == WORDS[600.0] and cut.stop_seconds <= 0.2
    first, second = session.history.turns
    assert first.response.text.endswith(INTERRUPTED_NOTE) and first.audio is None
    assert second.transcript.text == WORDS[600.0]
    # The interrupted turn is in the history the second reply saw (echo counts the turns it was given).
    assert second.response.text.startswith("Turn 2:")


def test_barge_in_during_generation_closes_the_system_stream():
    system = fakes.EchoSystem(delay=0.1)  # slow words: still writing when interrupted
    session = LiveSession(system, LiveConfig(vad="energy"), asr=ToneASR(WORDS), speed=8.0, pass_transcript=True)
    steps = [Say(fakes.tone(1.0, frequency=220)), WaitFor("reply_text", 0.0), Say(fakes.tone(0.8, frequency=600))]
    try:
        events = list(session.run(scripted(session, steps, speed=8.0)))
        (cut,) = [e for e in events if e.kind == "interrupted"]
        assert cut.turn == 1 and cut.spoken == ""  # nothing had been played yet
        time.sleep(0.3)  # the reply thread stops at its next word
        words = system.words_streamed
        time.sleep(0.5)
        assert system.words_streamed == words  # no word written after the interruption
        assert words < len("Turn 1: you said My phone won't turn on..".split())
    finally:
        session.close()
    assert session.history.turns[0].response.text == INTERRUPTED_NOTE


def test_barge_in_can_be_switched_off():
    session = make_session(barge_in=False)
    events = run(session, [Say(fakes.tone(1.0, frequency=220)), WaitFor("playback_started", 0.1),
                           Say(fakes.tone(1.0, frequency=600)), WaitFor("turn_done", 0.1)])
    assert not [e for e in events if e.kind in ("interrupted", "backchannel")]
    assert len(session.history) == 1


def test_speculative_reply_is_dropped_when_the_user_goes_on():
    # 220 Hz ("finished") then a 0.3 s pause (shorter than the wait) then more speech: one turn, one reply.
    session = make_session(finished_silence_seconds=0.5, unfinished_silence_seconds=1.0)
    events = run(session, [Say(fakes.tone(1.0, frequency=220)), Quiet(0.3), Say(fakes.tone(0.8, frequency=220)),
                           WaitFor("turn_done", 0.1)])
    assert [e.kind for e in events].count("speech_started") == 1
    assert [e.kind for e in events].count("playback_started") == 1
    assert [e.kind for e in events].count("end_of_turn") == 1


def test_wait_for_a_turn_counts_events_from_before_the_step():
    # A wait for turn 1's end after turn 1 already ended returns at once; a plain wait would hang.
    session = make_session()
    events = run(session, [Say(fakes.tone(1.0, frequency=220)), WaitFor("turn_done", 0.1),
                           WaitFor("turn_done", 0.0, turn=1)])
    assert [e.kind for e in events].count("turn_done") == 1
    with pytest.raises(EmotionLayerError, match="no 'turn_done' event of turn 2 within 1.0 s"):
        run(make_session(), [Say(fakes.tone(1.0, frequency=220)), WaitFor("turn_done", 0.1),
                             WaitFor("turn_done", 0.0, timeout_seconds=1.0, turn=2)])


def test_frames_and_sources(tmp_path):
    from emotionlayer.audio import save_audio

    clip = fakes.tone(1.0, sample_rate=22050)
    cut = list(frames(clip))
    assert len(cut) == 32 and all(f.shape == (512,) and f.dtype == np.float32 for f in cut)
    path = save_audio(fakes.tone(0.5), tmp_path / "a.wav")
    start = time.perf_counter()
    played = list(play_file(path, speed=4.0, tail_seconds=0.5))
    assert len(played) == len(list(frames(path))) + len(list(silence(0.5)))
    assert time.perf_counter() - start >= 0.9 * len(played) * FRAME / 4.0
    session = make_session()
    with pytest.raises(EmotionLayerError, match="512"):
        session.feed(np.zeros(100, dtype=np.float32))
    with pytest.raises(EmotionLayerError, match="no 'turn_done' event"):
        list(session.run(scripted(session, [WaitFor("turn_done", timeout_seconds=0.1)], speed=0)))


def test_playback_blocks_follow_the_output_rate_and_stop_where_told():
    playback = Playback(22050)
    playback.add("One.", fakes.tone(0.1, sample_rate=22050))
    playback.add("Two.", fakes.tone(0.1, sample_rate=22050))
    sizes, playing = [], []
    for _ in range(100):
        block, on = playback.next_block()
        sizes.append(block.size)
        playing.append(on)
    assert sum(sizes) == round(100 * FRAME * 22050)
    assert playing[:6] == [True] * 6 and not any(playing[8:])
    playback.clear()
    playback.add("One.", fakes.tone(0.1))
    playback.add("Two.", fakes.tone(0.1))
    playback.next_block()
    assert playback.heard() == (["One."], ["Two."])


def test_latency_summary_percentiles():
    firsts = [0.5, 0.6, 0.7, 0.8, 0.9]
    lats = [TurnLatency(0, i, speech_end=0.0, end_of_turn=0.4, first_audio=x) for i, x in enumerate(firsts)]
    summary = latency_summary(lats)
    assert summary["first_audio"]["p50"] == pytest.approx(0.7)
    assert summary["first_audio"]["p90"] == pytest.approx(float(np.percentile([0.5, 0.6, 0.7, 0.8, 0.9], 90)))
    assert "asr_final" not in summary
    assert percentile([1.0], 90) == 1.0
    assert lats[0].to_dict()["after_speech"] == {"end_of_turn": 0.4, "first_audio": 0.5}


def test_partial_transcripts_come_while_speaking_and_can_be_switched_off():
    session = make_session(partial_interval_seconds=0.3)
    events = run(session, [Quiet(0.3), Say(fakes.tone(2.0, frequency=220)), WaitFor("turn_done", 0.1)])
    start = next(e.time for e in events if e.kind == "speech_started")
    eot = next(e.time for e in events if e.kind == "end_of_turn")
    assert [e for e in events if e.kind == "transcript_partial" and start < e.time < eot - 0.3]
    asr = ToneASR(WORDS)
    session = LiveSession(dummy_cascade(), LiveConfig(vad="energy", partial_interval_seconds=0), asr=asr, speed=8.0)
    events = run(session, [Quiet(0.3), Say(fakes.tone(2.0, frequency=220)), WaitFor("turn_done", 0.1)])
    assert asr.calls == 1  # only the transcript at the pause
    assert next(e for e in events if e.kind == "transcript_final").text == WORDS[220.0]


def test_warmup_primes_the_systems_prompts():
    class Priming:
        def __init__(self):
            self.inner, self.primed = dummy_cascade(), 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def prime_prompts(self):
            self.primed += 1
            return 0

    system = Priming()
    session = LiveSession(system, LiveConfig(vad="energy"), asr=ToneASR(WORDS), speed=8.0)
    session.warmup()
    session.close()
    assert system.primed == 1


# -- events, the printer and the recorder ----------------------------------------------------------
def test_every_event_kind_is_declared_once_and_events_are_frozen():
    import dataclasses

    from emotionlayer.live import events as live_events

    values = vars(live_events).values()
    classes = {c for c in values if isinstance(c, type) and issubclass(c, SessionEvent) and c is not SessionEvent}
    kinds = [c.kind for c in classes]
    assert len(classes) == 14 and len(set(kinds)) == len(kinds) and "event" not in kinds
    audio = fakes.tone(0.1)
    event = live_events.ReplyAudio(1.23456, 2, "Hi.", audio)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "changed"
    expected = {"kind": "reply_audio", "time": 1.2346, "turn": 2, "text": "Hi.", "audio": audio.to_dict()}
    assert event.to_dict() == expected
    assert "samples" in event.to_dict(include_samples=True)["audio"]
    assert live_events.EmotionHeard(0.0, 1, "sad") == live_events.EmotionHeard(0.0, 1, "sad", {}, "")
    # the old names still import
    assert live_events.LiveEvent is SessionEvent and live_events.Strategy is live_events.StrategyChosen


def test_printer_writes_a_turn_as_a_transcript_with_the_reply_on_one_line():
    from emotionlayer.live.events import EmotionHeard, ReplyText, SpeechStarted, StrategyChosen, TranscriptFinal

    written = []
    printer = EventPrinter(written.append)
    for event in [
        SpeechStarted(0.64, 1, 0.5),
        TranscriptFinal(3.2, 1, "my phone won't turn on"),
        EmotionHeard(3.2, 1, "sad", {"sad": 0.8, "neutral": 0.05, "calm": 0.1, "happy": 0.05}),
        StrategyChosen(3.2, 1, "comfort"),
        ReplyText(3.3, 1, "I hear you."),
        ReplyText(3.4, 1, " Tell me more."),
        TurnLatency(3.5, 1, speech_end=2.0, first_audio=3.22),
        SpeechStarted(3.9, 2, 3.8),
    ]:
        printer(event)
    printer.finish()
    assert "".join(written) == (
        "[  0.64] you:      ...\n"
        '[  3.20] you said: "my phone won\'t turn on"\n'
        "[  3.20] emotion:  sad (sad 0.80, calm 0.10, neutral 0.05)\n"
        "[  3.20] strategy: comfort\n"
        "[  3.30] reply:    I hear you. Tell me more.\n"
        "[  3.50] first reply audio 1.22 s after you stopped speaking\n"
        "[  3.90] you:      ...\n"
    )
    lines = []
    EventPrinter(lines.append, as_json=True)(SpeechStarted(0.64, 1, 0.5))
    assert lines == ['{"kind": "speech_started", "time": 0.64, "turn": 1, "start": 0.5}\n']


def test_latency_line():
    assert latency_line({}) is None
    line = latency_line({"first_audio": {"p50": 0.9, "p90": 1.234, "n": 3}})
    assert line == "End of speech to first audio over 3 turn(s): median 0.90 s, p90 1.23 s"


def test_recorder_keeps_the_user_left_and_the_replies_right_in_step(tmp_path):
    import soundfile as sf

    recorder = ConversationRecorder(16000)
    assert not recorder.write(tmp_path / "none.wav") and not (tmp_path / "none.wav").exists()
    played = []
    session = make_session()
    session.sink = fan_out(played.append, None, recorder.add_reply)
    steps = [Say(fakes.tone(1.2, frequency=220)), WaitFor("turn_done", 0.1)]
    try:
        events = list(session.converse(recorder.tape(scripted(session, steps, speed=8.0))))
    finally:
        session.close()
    assert [e.kind for e in events].count("turn_done") == 1
    assert len(played) == len(recorder.replies) and all(a is b for a, b in zip(played, recorder.replies, strict=True))
    assert recorder.write(tmp_path / "talk.wav")
    stereo, rate = sf.read(str(tmp_path / "talk.wav"), dtype="float32")
    user = np.concatenate(recorder.user)
    assert rate == 16000 and stereo.shape == (user.size, 2)
    assert np.abs(stereo[:, 0] - user).max() < 1e-3  # 16-bit PCM of the frames fed
    reply = np.concatenate(recorder.replies)[: user.size]
    assert np.abs(stereo[: reply.size, 1] - reply).max() < 1e-3 and np.abs(reply).max() > 0.05
    # frame by frame: the reply starts after the user's speech has ended
    first_reply = int(np.argmax(np.abs(stereo[:, 1]) > 0.01))
    assert first_reply > fakes.tone(1.2).samples.size


def test_recorder_resamples_the_user_to_the_output_rate():
    recorder = ConversationRecorder(24000)
    list(recorder.tape(frames(fakes.tone(0.64))))
    recorder.add_reply(np.ones(768, dtype=np.float32))
    stereo = recorder.stereo()
    assert stereo.shape == (round(0.64 * 24000), 2)
    assert stereo[:768, 1].tolist() == [1.0] * 768 and not stereo[768:, 1].any()


def test_open_input_reads_the_file_at_once_and_plays_it(tmp_path):
    from emotionlayer.audio import save_audio
    from emotionlayer.errors import AudioError

    with pytest.raises(AudioError):
        open_input(tmp_path / "missing.wav")
    path = save_audio(fakes.tone(0.5), tmp_path / "a.wav")
    with pytest.raises(AudioError):
        open_input(path, max_seconds=0.1)
    played = list(open_input(path, speed=0))
    expected = list(play_file(path, speed=0))
    assert len(played) == len(expected) and all(np.array_equal(a, b) for a, b in zip(played, expected, strict=True))
