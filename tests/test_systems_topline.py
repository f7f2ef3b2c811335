"""The topline system: the cascade's LLM, prompt and voice, given the true text and emotion."""

from __future__ import annotations

import pytest

import emotionlayer.testing  # noqa: F401  (registers the dummy backends)
from emotionlayer import registry
from emotionlayer.errors import ConfigError
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.systems import build_system
from emotionlayer.systems.topline import ToplineSystem
from emotionlayer.testing import tone
from emotionlayer.types import Utterance

# The dummy LLM echoes the user message, so a reply shows what the prompt told it (its "(sounding sad)"
# cue is a stage direction, never spoken, so replies show the words only). The energy VAD lets the
# cascade's speech gate take the test tones as speech.
DUMMIES = {"ser": {"backend": "dummy", "params": {"label": "happy"}}, "asr": "dummy", "vad": "energy",
           "llm": {"backend": "dummy", "params": {"reply": None}}, "tts": "dummy"}  # fmt: skip


def test_topline_is_registered_and_usable():
    assert "topline" in registry.available("system")
    info = {i.name: i for i in registry.describe("system")}
    assert info["topline"].usable
    assert registry.get_class("system", "topline").needs_truth is True
    assert getattr(registry.get_class("system", "cascade"), "needs_truth", False) is False


def test_topline_answers_the_true_text_and_emotion_and_ignores_the_audio():
    topline = build_system(DUMMIES, "topline")
    assert isinstance(topline, ToplineSystem) and isinstance(topline, CascadePipeline)
    turn = topline.respond(Utterance(audio=tone(1.0), text="My phone broke", emotion="sad"))
    assert turn.system == "topline"
    assert turn.transcript.text == "My phone broke" and turn.transcript.model == "given"
    assert turn.emotion.label == "sad" and turn.emotion.model == "given"  # the dummy SER would say happy
    cfg = topline.config
    assert turn.response.strategy == cfg.strategy_for("sad").name
    assert turn.prompt[-1]["content"] == "(sad) My phone broke"  # topline.j2
    assert turn.response.text == "You said: My phone broke"
    assert turn.audio is not None and turn.timings["total"] > 0
    assert topline.ser is None and topline.asr is None  # nothing to recognise


def test_topline_writes_with_its_own_template_not_the_cascades():
    recipe = build_system(DUMMIES, "topline").respond(Utterance(text="Hello there", emotion="angry"))
    heard = {
        "ser": {"backend": "dummy", "params": {"label": "angry"}},
        "asr": {"backend": "dummy", "params": {"text": "Hello there"}},
    }
    cascade = build_system({**DUMMIES, **heard}).respond(tone(1.0))
    assert recipe.prompt != cascade.prompt and recipe.prompt[-1]["content"] == "(angry) Hello there"  # topline.j2
    assert recipe.response.text == "You said: Hello there"
    told = build_system(DUMMIES, "topline:template=empathetic.j2").respond(
        Utterance(text="Hello there", emotion="angry")
    )
    assert told.prompt == cascade.prompt and told.response.text == cascade.response.text


def test_topline_provenance_names_its_template_and_hashes_its_model_file(tmp_path):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"not really a model, but a file to hash")
    config = {**DUMMIES, "llm": {"backend": "llama-cpp", "params": {"model_path": str(gguf), "temperature": 0.0}}}
    provenance = build_system(config, "topline").provenance()
    assert provenance["template"] == "topline.j2" and provenance["llm_backend"] == "llama-cpp"
    assert provenance["model_file"] == "tiny.gguf" and provenance["llm_params"]["temperature"] == 0.0
    import hashlib

    assert provenance["model_sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert "model_sha256" not in build_system(DUMMIES, "topline").provenance()  # the dummy LLM has no file


@pytest.mark.parametrize(
    "utterance",
    [
        tone(1.0),
        Utterance(audio=tone(1.0)),
        Utterance(text="hi"),
        Utterance(audio=tone(1.0), emotion="sad"),
        "clip.wav",
    ],
)
def test_topline_without_text_and_emotion_says_what_it_needs(utterance):
    topline = build_system(DUMMIES, "topline")
    with pytest.raises(ConfigError, match="true text and the true emotion"):
        topline.respond(utterance)
    with pytest.raises(ConfigError, match="true text and the true emotion"):
        topline.stream(utterance)  # before any work, not at the first event


def test_topline_seed_overrides_the_llm_seed_only():
    topline = build_system(
        {**DUMMIES, "llm": {"backend": "llama-cpp", "params": {"seed": 0, "target_tokens": 7}}}, "topline:seed=3"
    )
    assert topline.config.llm.params == {"seed": 3, "target_tokens": 7}
    assert topline.llm.options.seed == 3
    assert build_system(DUMMIES, "topline:seed=3").config.llm.params == {"reply": None}  # the dummy LLM takes no seed
