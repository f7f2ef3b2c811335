"""The cascade's speech gate: no reply is made up for silence, noise or music.

The first half runs the packaged default models (silero VAD, whisper tiny.en, SmolLM2, piper) on real
speech and on synthetic non-speech; the second half checks the gate's logic with fakes.
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from emotionlayer.audio import save_audio
from emotionlayer.config import PipelineConfig
from emotionlayer.labels import EMOTIONS
from emotionlayer.pipeline import NO_SPEECH, NO_SPEECH_REPLY, CascadePipeline, no_speech_emotion
from emotionlayer.testing import DummyASR, DummyLLM, DummySER, DummyTTS, hum, music, tone, white_noise
from emotionlayer.types import Audio, Transcript, Turn, Utterance

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "examples" / "audio" / "calm_phone.wav"
NOT_SPEECH = {
    "white noise": lambda: white_noise(3.0),
    "music-like tones": lambda: music(3.0),
    "silence with hum": lambda: hum(3.0),
}


class CountingLLM:
    """Wraps an LLM and counts the calls that reach it."""

    def __init__(self, llm):
        self.llm = llm
        self.calls = 0
        self.name = getattr(llm, "name", "llm")

    def generate(self, messages, **options):
        self.calls += 1
        return self.llm.generate(messages, **options)

    def stream_generate(self, messages, **options):
        self.calls += 1
        return self.llm.stream_generate(messages, **options)


@pytest.fixture(scope="module")
def default_pipeline():
    pipe = CascadePipeline.from_config()
    pipe.llm = CountingLLM(pipe.llm)
    return pipe


def assert_asked_again(turn: Turn) -> None:
    assert turn.speech_detected is False
    assert turn.response.text == NO_SPEECH_REPLY and turn.response.strategy == NO_SPEECH
    assert turn.response.style.name == "neutral" and turn.response.style.rate == 1.0
    assert turn.prompt == ()
    assert turn.transcript.text == "" and turn.transcript.model == NO_SPEECH
    assert turn.emotion.model == NO_SPEECH
    probabilities = list(turn.emotion.probabilities.values())
    assert set(turn.emotion.probabilities) == set(EMOTIONS) and max(probabilities) == pytest.approx(min(probabilities))
    assert turn.audio is not None and turn.audio.duration > 1.0  # the re-prompt is spoken
    assert turn.timings["llm"] == 0.0


@pytest.mark.parametrize("name", list(NOT_SPEECH))
def test_default_models_make_nothing_up_for_non_speech(default_pipeline, name):
    before = default_pipeline.llm.calls
    turn = default_pipeline.respond(NOT_SPEECH[name]())
    assert_asked_again(turn)
    assert default_pipeline.llm.calls == before, "the LLM was asked to answer non-speech"
    assert "vad" in turn.timings and turn.timings["asr"] == 0.0  # found by the VAD, before whisper ran


def test_default_models_still_answer_real_speech(default_pipeline):
    before = default_pipeline.llm.calls
    turn = default_pipeline.respond(SPEECH)
    assert turn.speech_detected is True
    assert default_pipeline.llm.calls == before + 1
    assert "phone" in turn.transcript.text.lower() and turn.transcript.no_speech_prob is not None
    assert turn.response.text != NO_SPEECH_REPLY and len(turn.response.text.split()) >= 2
    assert turn.emotion.model != NO_SPEECH and turn.prompt


def test_the_no_speech_stream_has_no_prompt_event(default_pipeline):
    kinds = [event.kind for event in default_pipeline.stream(white_noise(2.0, seed=3))]
    assert kinds == ["perceived", "text", "audio", "turn"]


def test_cli_respond_json_says_no_speech_was_heard(tmp_path, monkeypatch, capsys):
    import sys

    from emotionlayer.cli import main as cli

    clip = save_audio(white_noise(3.0), tmp_path / "noise.wav")
    monkeypatch.setattr(sys, "argv", ["emotionlayer", "respond", str(clip), "--out", str(tmp_path / "r.wav"), "--json"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert (exit_info.value.code or 0) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["speech_detected"] is False
    assert data["response"]["text"] == NO_SPEECH_REPLY
    assert max(data["emotion"]["probabilities"].values()) < 0.2


def test_cli_summary_says_no_speech_was_heard(tmp_path, monkeypatch, capsys):
    import sys

    from emotionlayer.cli import main as cli

    clip = save_audio(hum(2.0), tmp_path / "hum.wav")
    monkeypatch.setattr(sys, "argv", ["emotionlayer", "respond", str(clip), "--out", str(tmp_path / "r.wav")])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert (exit_info.value.code or 0) == 0
    out = capsys.readouterr().out
    assert "no speech heard" in out and NO_SPEECH_REPLY in out


# -- the gate's logic, with fakes ---------------------------------------------------------------


class FixedASR:
    """An ASR that hears the same thing in anything, with a no-speech probability."""

    name = "fixed-asr"

    def __init__(self, text: str, no_speech_prob: float | None = None):
        self.text, self.no_speech_prob, self.calls = text, no_speech_prob, 0

    def transcribe(self, audio, language=None):
        self.calls += 1
        return Transcript(self.text, "en", self.name, self.no_speech_prob)


def make(asr=None, vad=None, **run):
    config = PipelineConfig.default()
    config = replace(config, run=replace(config.run, **run))
    return CascadePipeline(DummySER("happy"), asr or DummyASR(), DummyLLM(), DummyTTS(), config=config, vad=vad)


def test_an_empty_transcript_is_no_speech():
    pipe = make(FixedASR(""))
    turn = pipe.respond(tone(1.0))
    assert_asked_again(turn)
    assert pipe.llm.last_messages == [] and pipe.asr.calls == 1
    assert "vad" not in turn.timings  # no VAD given: the ASR's signal alone decides


def test_a_high_no_speech_probability_is_no_speech():
    assert make(FixedASR("you", no_speech_prob=0.95)).respond(tone(1.0)).speech_detected is False
    heard = make(FixedASR("hello there", no_speech_prob=0.2)).respond(tone(1.0))
    assert heard.speech_detected is True and heard.response.text != NO_SPEECH_REPLY
    custom = make(FixedASR("you", no_speech_prob=0.95), no_speech_threshold=0.99).respond(tone(1.0))
    assert custom.speech_detected is True


def test_the_vad_is_asked_first_and_spares_the_recognisers():
    from emotionlayer import registry

    pipe = make(vad=registry.create("vad", "silero"))
    turn = pipe.respond(tone(2.0))  # a tone is not speech to silero
    assert_asked_again(turn)
    assert pipe.asr.calls == 0 and pipe.ser.calls == 0


def test_with_the_gate_off_the_llm_answers_anything():
    from emotionlayer import registry

    pipe = make(FixedASR(""), vad=registry.create("vad", "silero"), speech_gate=False)
    turn = pipe.respond(white_noise(1.0))
    assert turn.speech_detected is True and turn.response.text == DummyLLM().reply
    assert pipe.llm.last_messages  # the LLM was asked


def test_from_config_builds_the_vad_only_with_the_gate_on():
    import emotionlayer.testing  # noqa: F401

    dummies = {"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy", "vad": "energy"}
    assert type(CascadePipeline.from_config(dummies).vad).registry_name == "energy"
    off = CascadePipeline.from_config({**dummies, "run": {"speech_gate": False}})
    assert off.vad is None
    assert PipelineConfig.default().vad.backend == "silero" and PipelineConfig.default().run.speech_gate


def test_typed_text_skips_the_gate_and_a_given_emotion_is_kept():
    pipe = make(FixedASR(""))
    typed = pipe.respond(Utterance(audio=white_noise(1.0), text="I got the job!"))
    assert typed.speech_detected is True and pipe.asr.calls == 0
    noise_with_emotion = pipe.respond(Utterance(audio=white_noise(1.0), emotion="sad"))
    assert noise_with_emotion.speech_detected is False and noise_with_emotion.emotion.label == "sad"


def test_no_speech_emotion_is_uniform_and_says_why():
    emotion = no_speech_emotion()
    assert emotion.model == "no-speech" and emotion.label == "neutral"
    assert all(p == pytest.approx(1 / len(EMOTIONS)) for p in emotion.probabilities.values())


def test_speech_detected_round_trips_and_defaults_to_true():
    turn = make(FixedASR("")).respond(tone(1.0))
    data = json.loads(json.dumps(turn.to_dict()))
    assert data["speech_detected"] is False and data["transcript"]["no_speech_prob"] is None
    again = Turn.from_dict(data)
    assert again.speech_detected is False and again.transcript == turn.transcript
    del data["speech_detected"]  # a turn saved before the field existed was heard
    assert Turn.from_dict(data).speech_detected is True


def test_bad_audio_is_still_refused_before_the_gate():
    from emotionlayer.errors import AudioError

    with pytest.raises(AudioError, match="silent"):
        make().respond(Audio(np.zeros(16000, dtype=np.float32), 16000))


def test_a_turn_without_speech_is_left_out_of_the_next_prompt():
    from emotionlayer.types import Dialogue

    pipe = make(FixedASR(""))
    silent = pipe.respond(tone(1.0))
    pipe.asr = DummyASR()
    heard = pipe.respond(tone(1.0))
    answer = pipe.respond(tone(1.0), Dialogue((heard, silent)))
    system = answer.prompt[0]["content"]
    assert heard.response.text in system and NO_SPEECH_REPLY not in system
