"""Vocal events in the turn: the cascade runs the packaged event detector on the user's audio
(``run.detect_events``), puts what it hears on the Perception, the Turn and the JSON, and tells the prompt.

Real models throughout: the packaged detector, SER, whisper tiny.en, silero VAD and the piper voice that
speaks the test utterances (with real-recording or synthesised event clips from the packaged bank inserted
at known times). The LLM and the reply's TTS are fakes that record what they were given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import emotionlayer.testing  # noqa: F401  (registers the dummy backends)
from emotionlayer import registry
from emotionlayer.audio import load_audio
from emotionlayer.cli.output import turn_json
from emotionlayer.config import EVENT_THRESHOLD, PipelineConfig
from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.bank import EventBank
from emotionlayer.paralinguistics.insertion import synthesize_with_events
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.prompting import PromptRenderer, describe_events
from emotionlayer.types import EmotionPrediction, HeardEvent, Transcript, Turn

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "audio"
#: Text of the default template for a sad turn with one past turn, as rendered before events existed: the
#: rendering a reply adapter is trained on. A turn without events must still give exactly this.
SAD_SYSTEM = (
    "You are a caring voice assistant. You hear the user's words and the tone of their voice.\n"
    "Answer in one or two short spoken sentences, without lists or phone numbers.\n"
    "Comfort the user; acknowledge how they feel, be gentle, and offer a small, kind next step.\n"
    "Earlier in this conversation:\n"
    '- The user, sounding calm, said: "Hello there." You answered: "Hi! How can I help?"'
)


@pytest.fixture(scope="module")
def piper():
    reason = registry.get_class("tts", "piper").check_usable()
    if reason:
        pytest.skip(reason)
    return registry.create("tts", "piper")


@pytest.fixture(scope="module")
def laugh_first(piper):
    """Piper speech with a packaged laugh clip before the words (the bank's times are exact)."""
    audio, events = synthesize_with_events("[laugh] I finally got the job, I really did!", piper, EventBank())
    assert [e.label for e in events] == ["laugh"]
    return audio.resample(16000)


@pytest.fixture(scope="module")
def pipe():
    """The packaged cascade with the detector on; a fake LLM and TTS."""
    config = {"run": {"detect_events": True}, "llm": {"backend": "dummy", "params": {"reply": "Congratulations!"}}}
    config["tts"] = "dummy"
    with CascadePipeline.from_config(config) as pipeline:
        yield pipeline


def test_the_detector_is_built_only_when_asked() -> None:
    fakes = {"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy", "vad": "energy"}
    off = CascadePipeline.from_config(fakes)
    assert off.events is None and PipelineConfig.default().run.detect_events is False
    on = CascadePipeline.from_config({**fakes, "run": {"detect_events": True}})
    assert on.events is not None and on.events.detector.min_confidence == EVENT_THRESHOLD
    assert on.events.detector.min_pause == 0.0  # pauses are no vocal event
    with pytest.raises(ConfigError, match="event_threshold"):
        PipelineConfig.from_dict({"run": {"event_threshold": 1.5}})


def test_a_laugh_before_the_words_reaches_the_turn_the_prompt_and_the_json(pipe, laugh_first) -> None:
    turn = pipe.respond(laugh_first)
    assert "job" in turn.transcript.text.lower()
    laughs = [e for e in turn.events if e.label == "laugh"]
    assert len(laughs) == 1, turn.events
    (laugh,) = laughs
    assert laugh.when == "before" and laugh.start < 0.3 and 0.9 < laugh.end < 2.0
    assert laugh.confidence >= EVENT_THRESHOLD
    system = turn.prompt[0]["content"]
    assert system.endswith("You also heard that the user laughed before speaking.")
    assert turn.timings["events"] > 0
    data = turn_json(turn, None)
    assert data["events"][0] == {
        "label": "laugh",
        "start": laugh.start,
        "end": laugh.end,
        "score": laugh.confidence,
        "when": "before",
    }
    assert Turn.from_dict(turn.to_dict()).events == turn.events


def test_a_cough_after_the_words_is_placed_after(pipe, piper) -> None:
    audio, _ = synthesize_with_events("I missed my bus again this morning. [cough]", piper, EventBank())
    perception = pipe.perceive(audio.resample(16000))
    assert [(e.label, e.when) for e in perception.events] == [("cough", "after")]
    assert perception.to_dict()["events"][0]["label"] == "cough"


def test_plain_speech_stays_silent_at_the_default_threshold(pipe) -> None:
    clips = sorted(EXAMPLES.glob("*_phone.wav"))
    assert len(clips) == 8
    for path in clips:
        perception = pipe.perceive(load_audio(path))
        assert perception.events == (), (path.name, perception.events)
        prompt = pipe.render_prompt(perception.transcript, perception.emotion, None, perception.events)
        assert "You also heard" not in prompt.messages[0]["content"]


def test_the_threshold_decides(laugh_first) -> None:
    base = {"llm": "dummy", "tts": "dummy", "ser": "dummy", "asr": "dummy", "vad": "energy"}
    strict = CascadePipeline.from_config({**base, "run": {"detect_events": True, "event_threshold": 1.0}})
    lenient = CascadePipeline.from_config({**base, "run": {"detect_events": True, "event_threshold": 0.5}})
    assert strict.perceive(laugh_first).events == ()
    assert "laugh" in [e.label for e in lenient.perceive(laugh_first).events]


def test_without_the_detector_nothing_changes(laugh_first) -> None:
    pipe = CascadePipeline.from_config({"llm": "dummy", "tts": "dummy"})
    turn = pipe.respond(laugh_first)
    assert turn.events == () and "events" not in turn.timings
    assert "events" not in turn_json(turn, None)  # the JSON of a system that did not listen is as before
    assert "You also heard" not in turn.prompt[0]["content"]


def test_a_turn_without_events_renders_exactly_as_before() -> None:
    from emotionlayer.types import Dialogue, Response

    history = Dialogue().add(
        Turn(Transcript("Hello there."), EmotionPrediction.certain("calm"), Response("Hi! How can I help?"))
    )
    renderer = PromptRenderer()
    for events in ((), []):
        messages = renderer.render("My phone won't turn on.", EmotionPrediction.certain("sad"), history, "en", events)
        assert messages.messages[0]["content"] == SAD_SYSTEM
        assert messages.messages[-1]["content"] == "(sounding sad) My phone won't turn on."
    with_events = renderer.render(
        "My phone won't turn on.",
        EmotionPrediction.certain("sad"),
        history,
        "en",
        [HeardEvent("sigh", 0.1, 0.9, 0.95, "before"), HeardEvent("cough", 2.5, 3.0, 0.9, "after")],
    ).messages[0]["content"]
    lines = SAD_SYSTEM.split("\n")
    heard = "You also heard that the user sighed before speaking and coughed after speaking."
    expected = [*lines[:3], heard, *lines[3:]]
    assert with_events == "\n".join(expected)


def test_event_phrases_in_english_and_chinese() -> None:
    events = [HeardEvent("cough", 2.0, 2.5, 0.9, "during"), HeardEvent("laugh", 0.0, 1.0, 0.95, "before")]
    english = describe_events(events, "en")
    assert [e["phrase"] for e in english] == ["laughed before speaking", "coughed while speaking"]
    assert english[0] == {"label": "laugh", "start": 0.0, "end": 1.0, "score": 0.95, "when": "before",
                          "phrase": "laughed before speaking"}  # fmt: skip
    assert [e["phrase"] for e in describe_events(events, "zh-CN")] == ["说话前笑了", "说话时咳嗽了"]
    assert [e["phrase"] for e in describe_events(events, "fr")] == ["laughed before speaking", "coughed while speaking"]
