import numpy as np
import pytest

from emotionlayer.errors import AudioError
from emotionlayer.pipeline import FALLBACK_REPLY, CascadePipeline
from emotionlayer.testing import DummyASR, DummyLLM, DummySER, DummyTTS, tone
from emotionlayer.types import Dialogue, Utterance


def make(label="sad", reply="I'm sorry to hear that. Let's try holding the power button.", **kw):
    return CascadePipeline(DummySER(label), DummyASR(), DummyLLM(reply), DummyTTS(), **kw)


def test_respond_runs_every_stage_and_times_it():
    pipe = make()
    turn = pipe.respond(tone(1.0))
    assert turn.transcript.text == "my phone won't turn on"
    assert turn.emotion.label == "sad"
    assert sum(turn.emotion.probabilities.values()) == pytest.approx(1.0)
    assert turn.response.strategy == "comfort" and turn.response.style.name == "warm"
    assert turn.response.text == "I'm sorry to hear that. Let's try holding the power button."
    # streamed sentence by sentence, in the strategy's style
    assert [c[0] for c in pipe.tts.calls] == ["I'm sorry to hear that.", "Let's try holding the power button."]
    assert all(c[1].name == "warm" for c in pipe.tts.calls)
    assert turn.audio is not None and turn.audio.duration > 1.0
    for key in ("ser", "asr", "llm", "tts", "total", "time_to_first_audio"):
        assert key in turn.timings and turn.timings[key] >= 0
    assert turn.timings["time_to_first_audio"] <= turn.timings["total"]
    assert turn.prompt[-1]["content"] == "(sounding sad) my phone won't turn on"


def test_emotion_changes_the_answer_style():
    sad = make("sad").respond(tone(1.0))
    happy = make("happy").respond(tone(1.0))
    assert sad.response.style.pitch_semitones < happy.response.style.pitch_semitones
    assert sad.prompt != happy.prompt


def test_history_is_carried_into_the_next_prompt():
    pipe = make("fearful")
    first = pipe.respond(tone(1.0))
    second = pipe.respond(tone(1.0), Dialogue((first,)))
    assert "sounding fearful, said" in second.prompt[0]["content"]
    assert first.response.text in pipe.llm.last_messages[0]["content"]


def test_typed_text_with_emotion_skips_asr_and_ser():
    pipe = make()
    turn = pipe.respond(Utterance(text="I got the job!", emotion="cheerful"))
    assert pipe.asr.calls == 0 and pipe.ser.calls == 0
    assert turn.emotion.label == "happy" and turn.transcript.text == "I got the job!"


def test_empty_llm_reply_falls_back_to_a_spoken_apology():
    turn = make(reply="").respond(tone(1.0))
    assert turn.response.text == FALLBACK_REPLY
    assert turn.audio is not None and turn.audio.duration > 0


def test_non_streaming_mode_gives_the_same_reply():
    from dataclasses import replace

    from emotionlayer.config import PipelineConfig

    cfg = PipelineConfig.default()
    cfg = replace(cfg, run=replace(cfg.run, stream_tts=False, concurrent_perception=False))
    streamed = make().respond(tone(1.0))
    whole = make(config=cfg).respond(tone(1.0))
    assert whole.response.text == streamed.response.text


def test_stream_yields_events_in_order():
    kinds = [e.kind for e in make().stream(tone(1.0))]
    assert kinds[:2] == ["perceived", "prompt"]
    assert kinds.index("audio") < len(kinds) - 1 and kinds[-1] == "turn"


def test_bad_audio_is_refused_before_any_model_runs():
    pipe = make()
    with pytest.raises(AudioError, match="silent"):
        pipe.respond(np.zeros(16000, dtype=np.float32))
    assert pipe.asr.calls == 0


def test_pipeline_from_config_swaps_components_without_code():
    import emotionlayer.testing  # noqa: F401

    pipe = CascadePipeline.from_config(
        {
            "ser": {"backend": "dummy", "params": {"label": "angry"}},
            "asr": "dummy",
            "llm": "dummy",
            "tts": "dummy",
            "vad": "energy",
        }
    )
    turn = pipe.respond(tone(1.0))
    assert turn.emotion.label == "angry" and turn.response.strategy == "de-escalate"


def test_cascade_is_a_dialogue_system():
    from emotionlayer.systems import DialogueSystem

    pipe = make()
    assert isinstance(pipe, DialogueSystem)
    assert pipe.respond(tone(1.0)).system == "cascade"


def test_tags_in_a_reply_are_rendered_from_the_event_bank():
    from emotionlayer.pipeline import CascadePipeline

    pipe = CascadePipeline.from_config(
        {
            "ser": "dummy",
            "asr": "dummy",
            "vad": "energy",
            "llm": {"backend": "dummy", "params": {"reply": "Ha, [laugh] that is great news!"}},
        }
    )
    assert pipe.tts.event_renderer is not None
    plain = CascadePipeline.from_config(
        {
            "ser": "dummy",
            "asr": "dummy",
            "vad": "energy",
            "llm": {"backend": "dummy", "params": {"reply": "Ha, that is great news!"}},
            "run": {"render_events": False},
        }
    )
    assert plain.tts.event_renderer is None
    with_laugh = pipe.respond(tone(1.0))
    without = plain.respond(tone(1.0))
    assert with_laugh.response.text == "Ha, [laugh] that is great news!"
    assert with_laugh.audio.duration > without.audio.duration + 0.2  # the laugh is heard, not read as a word


@pytest.mark.parametrize("stream_tts", [True, False])
def test_stage_directions_never_reach_the_tts_as_words(stream_tts):
    from dataclasses import replace

    from emotionlayer.config import PipelineConfig

    cfg = PipelineConfig.default()
    cfg = replace(cfg, run=replace(cfg.run, stream_tts=stream_tts))
    reply = "(sigh) You're just sitting on the porch with some tea. (smiles) Well, *Chuckles* <nods> enjoy it."
    pipe = make(reply=reply, config=cfg)
    turn = pipe.respond(tone(1.0))
    spoken = " ".join(text for text, _ in pipe.tts.calls)
    for cue in ("sigh)", "smiles", "Smiles", "Chuckles", "nods", "(", "*", "<"):
        assert cue not in spoken, spoken
    assert "[sigh]" in spoken and "[laugh]" in spoken  # played from the event bank, not read
    assert turn.response.text == "[sigh] You're just sitting on the porch with some tea. Well, [laugh] enjoy it."


def test_a_reply_made_only_of_stage_directions_falls_back_to_the_apology():
    turn = make(reply="(smiles) *nods*").respond(tone(1.0))
    assert turn.response.text == FALLBACK_REPLY
