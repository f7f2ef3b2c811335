"""The dialogue-system seam: registry, config section, building, streaming events and cancellation."""

from __future__ import annotations

import json
import threading
import time

import pytest

import emotionlayer.testing  # noqa: F401  (registers the dummy backends and the echo system)
from emotionlayer import registry
from emotionlayer.config import PipelineConfig, SystemConfig
from emotionlayer.errors import ConfigError, UnknownComponentError
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.systems import EVENT_KINDS, DialogueSystem, StreamEvent, build_system
from emotionlayer.testing import DummyASR, DummySER, DummyTTS, EchoSystem, tone
from emotionlayer.types import Dialogue, Utterance

# The energy VAD: a tone is "speech" in the dummy world (silero VAD would rightly hear none).
DUMMIES = {
    "ser": {"backend": "dummy", "params": {"label": "sad"}},
    "asr": "dummy",
    "llm": "dummy",
    "tts": "dummy",
    "vad": "energy",
}


def test_systems_are_registered_by_name():
    assert {"cascade", "echo"} <= set(registry.available("system"))
    info = {i.name: i for i in registry.describe("system")}
    assert info["cascade"].usable and info["echo"].usable


def test_build_system_from_the_config_section():
    assert isinstance(build_system(DUMMIES), CascadePipeline)
    echo = build_system({**DUMMIES, "system": {"name": "echo", "params": {"emotion": "angry"}}})
    assert isinstance(echo, EchoSystem) and echo.emotion == "angry"
    assert isinstance(echo, DialogueSystem)


def test_a_spec_overrides_the_config_section():
    echo = build_system({**DUMMIES, "system": "cascade"}, "echo:emotion=fearful,delay=0.01")
    assert isinstance(echo, EchoSystem) and echo.emotion == "fearful" and echo.delay == 0.01


def test_unknown_system_and_parameter_say_what_is_valid():
    with pytest.raises(UnknownComponentError, match="cascade"):
        build_system(DUMMIES, "no-such-system")
    with pytest.raises(ConfigError, match="emotion"):
        build_system(DUMMIES, "echo:volume=3")


def test_system_section_round_trips_and_is_checked():
    cfg = PipelineConfig.from_dict({**DUMMIES, "system": {"name": "echo", "params": {"emotion": "sad"}}})
    assert cfg.system == SystemConfig("echo", {"emotion": "sad"})
    assert PipelineConfig.from_dict(cfg.to_dict()) == cfg
    assert PipelineConfig.default().system == SystemConfig("cascade", {})
    assert PipelineConfig.from_dict({"system": "echo"}).system.name == "echo"
    assert cfg.with_system("cascade").system == SystemConfig()
    with pytest.raises(ConfigError, match="name"):
        PipelineConfig.from_dict({"system": {"params": {}}})
    with pytest.raises(ConfigError, match="unknown keys"):
        PipelineConfig.from_dict({"system": {"name": "echo", "model": "x"}})


def test_every_stream_event_serialises_to_json():
    pipe = CascadePipeline.from_config(DUMMIES)
    events = list(pipe.stream(tone(1.0)))
    assert {e.kind for e in events} == set(EVENT_KINDS)
    for event in events:
        data = json.loads(json.dumps(event.to_dict()))
        assert data["kind"] == event.kind and data["time"] >= 0
    prompt = next(e for e in events if e.kind == "prompt").to_dict()
    assert prompt["strategy"] == "comfort" and prompt["messages"][-1]["role"] == "user"
    turn = events[-1].to_dict()["turn"]
    assert turn["system"] == "cascade" and "samples" not in turn["audio"]
    audio = next(e for e in events if e.kind == "audio").to_dict(include_samples=True)
    assert len(audio["audio"]["samples"]) > 0
    with pytest.raises(Exception, match="Unknown stream event kind"):
        StreamEvent("nonsense", 0.0)


def test_turn_events_are_one_class_per_kind_and_the_old_call_still_builds_them():
    from emotionlayer.systems import Perceived, PromptRendered, SentenceAudio, TextPiece, TurnEvent, TurnFinished

    classes = (Perceived, PromptRendered, TextPiece, SentenceAudio, TurnFinished)
    assert tuple(c.kind for c in classes) == EVENT_KINDS and StreamEvent is TurnEvent
    audio = tone(0.1)
    old = StreamEvent(
        "audio", 1.23456789, text="Hi.", audio=audio, strategy="", turn=None
    )  # unset fields of other kinds
    assert old == SentenceAudio(1.23456789, "Hi.", audio) and isinstance(old, TurnEvent)
    assert old.to_dict() == {"kind": "audio", "time": 1.234568, "text": "Hi.", "audio": audio.to_dict()}
    prompt = StreamEvent(
        "prompt", 0.5, messages=({"role": "user", "content": "x"},), strategy="comfort", detail=object()
    )
    assert prompt.to_dict() == {
        "kind": "prompt",
        "time": 0.5,
        "messages": [{"role": "user", "content": "x"}],
        "strategy": "comfort",
    }
    assert TextPiece(0.25, "a").to_dict() == {"kind": "text", "time": 0.25, "text": "a"}
    assert (
        Perceived(0.0).to_dict()
        == {"kind": "perceived", "time": 0.0}
        == TurnFinished(0.0).to_dict() | {"kind": "perceived"}
    )
    with pytest.raises(TypeError):
        StreamEvent("text", 0.0, turn=object())  # a field another kind has, set: refused


def test_other_systems_report_their_own_stages():
    turn = EchoSystem().respond(Utterance(text="hello"), Dialogue())
    assert turn.system == "echo"
    assert set(turn.timings) == {"listen", "echo", "voice", "total", "time_to_first_audio"}


class SlowLLM:
    """Streams a long reply a word at a time and records whether it was stopped."""

    def __init__(self, words: int = 200, delay: float = 0.01) -> None:
        self.words, self.delay = words, delay
        self.produced = 0
        self.closed = threading.Event()

    def generate(self, messages, **options):
        return " ".join(self.stream_generate(messages))

    def stream_generate(self, messages, **options):
        try:
            for i in range(self.words):
                self.produced += 1
                time.sleep(self.delay)
                yield (" " if i else "") + f"Sentence number {i}."
        finally:
            self.closed.set()


class SlowTTS(DummyTTS):
    """A TTS that takes a while per sentence and counts what it started and finished."""

    def __init__(self, seconds: float = 0.05) -> None:
        super().__init__()
        self.seconds = seconds
        self.active = 0

    def synthesize(self, text, style=None):
        self.active += 1
        try:
            time.sleep(self.seconds)
            return super().synthesize(text, style)
        finally:
            self.active -= 1


def test_closing_a_stream_midway_stops_generation_and_synthesis():
    llm, tts = SlowLLM(), SlowTTS()
    pipe = CascadePipeline(DummySER("sad"), DummyASR(), llm, tts)
    stream = pipe.stream(tone(1.0))
    for event in stream:
        if event.kind == "audio":
            break  # the first sentence is spoken; the LLM is still writing
    stream.close()
    assert llm.closed.is_set(), "the LLM generator was not closed"
    produced, synthesized = llm.produced, len(tts.calls)
    assert produced < llm.words and tts.active == 0
    time.sleep(0.3)
    assert llm.produced == produced and len(tts.calls) == synthesized, "work went on after the stream was closed"
    # the pipeline is still usable afterwards
    assert pipe.respond(Utterance(text="hi", emotion="happy")).response.text


def test_dropping_a_for_loop_midway_also_stops_the_llm():
    llm = SlowLLM()
    pipe = CascadePipeline(DummySER(), DummyASR(), llm, DummyTTS())
    for event in pipe.stream(tone(1.0)):
        if event.kind == "text":
            break
    time.sleep(0.05)
    assert llm.closed.is_set() and llm.produced < llm.words


class CharLLM:
    """Streams a fixed reply one character at a time (10 ms each), as LLMs do for Chinese."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def generate(self, messages, **options):
        return self.reply

    def stream_generate(self, messages, **options):
        for char in self.reply:
            time.sleep(0.01)
            yield char


def test_a_chinese_reply_without_spaces_is_spoken_sentence_by_sentence():
    reply = "别担心。我们一起想办法！先试试长按电源键，好吗？"
    tts = DummyTTS()
    pipe = CascadePipeline(DummySER("sad"), DummyASR(), CharLLM(reply), tts)
    events = list(pipe.stream(tone(1.0)))
    assert [text for text, _ in tts.calls] == ["别担心。", "我们一起想办法！", "先试试长按电源键，好吗？"]
    kinds = [e.kind for e in events]
    last_text = len(kinds) - 1 - kinds[::-1].index("text")
    assert kinds.index("audio") < last_text, "the first sentence was not spoken before the reply was finished"
    assert events[-1].turn.response.text == reply


def test_speak_as_written_returns_what_was_spoken():
    from concurrent.futures import ThreadPoolExecutor

    from emotionlayer.systems.speech import speak_as_written

    tts = DummyTTS()

    def run(pieces, **kw):
        with ThreadPoolExecutor(1) as pool:
            gen = speak_as_written(iter(pieces), lambda s: tts.synthesize(s), pool, lambda: 0.0, **kw)
            events = []
            try:
                while True:
                    events.append(next(gen))
            except StopIteration as stop:
                return events, stop.value

    events, reply = run(["Hello there. ", "How are", " you?"])
    assert reply.text == "Hello there. How are you?" and reply.audio.duration > 0
    assert [e.kind for e in events].count("audio") == 2 and reply.first_audio is not None
    events, reply = run([])
    assert reply.text == "" and reply.audio is None and events == []
    events, reply = run(["  "], fallback="Sorry?")
    assert reply.text == "Sorry?" and [e.text for e in events if e.kind == "audio"] == ["Sorry?"]
    # the first clause is spoken before its sentence ends, once it has enough words; later ones are not
    pieces = ["Oh no, I'm so", " sorry to hear that, really", ". Is it, maybe, broken? Yes, it is."]
    events, reply = run(pieces, first_clause_words=4)
    spoken = [e.text for e in events if e.kind == "audio"]
    assert spoken == ["Oh no, I'm so sorry to hear that,", "really.", "Is it, maybe, broken?", "Yes, it is."]
    assert reply.text == "Oh no, I'm so sorry to hear that, really. Is it, maybe, broken? Yes, it is."
    assert [e.text for e in run(pieces)[0] if e.kind == "audio"][0] == "Oh no, I'm so sorry to hear that, really."


def test_sentences_to_speak_counts_a_first_clause_only_before_the_reply_started():
    from emotionlayer.systems.speech import sentences_to_speak

    assert sentences_to_speak("Hi there. How are") == (["Hi there."], "How are")
    written = "Oh no, I'm so sorry to hear that, really"
    assert sentences_to_speak(written, 4, started=False) == (["Oh no, I'm so sorry to hear that,"], "really")
    assert sentences_to_speak(written, 4, started=True) == ([], written)
    assert sentences_to_speak(written, 0, started=False) == ([], written)


def test_a_sentence_speaker_cleans_speaks_in_order_and_cancels_what_is_not_started():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from emotionlayer.systems.speech import SentenceSpeaker

    tts, gate = DummyTTS(), threading.Event()

    def speak(sentence):
        gate.wait(5)
        return tts.synthesize(sentence)

    with ThreadPoolExecutor(1) as pool:
        speaker = SentenceSpeaker(speak, pool, lambda: 1.5)
        speaker.submit("  ")
        assert not speaker.started
        for sentence in ("Assistant: Hello.", "(smiles) Fine.", "Never spoken."):
            speaker.submit(sentence)
        assert speaker.started and list(speaker.ready(wait=False)) == []  # the first one is still being spoken
        gate.set()
        first = next(speaker.ready(wait=True))
        assert (first.text, first.time, speaker.first_audio) == ("Hello.", 1.5, 1.5)
        speaker.cancel()  # what had not started is cancelled, what had is waited for; neither is handed back
        assert not speaker.pending
    reply = speaker.reply(writing_seconds=0.25)
    assert reply.text == "Hello." and reply.writing_seconds == 0.25 and reply.audio.duration > 0
