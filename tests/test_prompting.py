import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.prompting import PromptRenderer, style_for
from emotionlayer.types import Dialogue, EmotionPrediction, Response, Transcript, Turn


def test_default_template_sees_text_emotion_and_strategy():
    prompt = PromptRenderer().render("My phone won't turn on.", EmotionPrediction.certain("sad"))
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user"]
    assert "Comfort the user" in prompt.messages[0]["content"]
    assert "sounds sad" in prompt.messages[1]["content"]
    assert "My phone won't turn on." in prompt.messages[1]["content"]
    assert prompt.strategy.name == "comfort"
    assert prompt.style.name == "warm" and prompt.style.pitch_semitones < 0 and prompt.style.emotion == "sad"


def test_same_words_different_emotion_different_prompt_and_style():
    r = PromptRenderer()
    happy = r.render("My phone won't turn on.", EmotionPrediction.certain("cheerful"))
    angry = r.render("My phone won't turn on.", EmotionPrediction.certain("angry"))
    assert happy.messages != angry.messages
    assert happy.style.pitch_semitones > angry.style.pitch_semitones
    assert angry.strategy.name == "de-escalate"
    assert style_for("fear").name == "reassuring"


def test_history_with_emotions_reaches_the_template():
    past = Turn(Transcript("I lost my keys"), EmotionPrediction.certain("fearful"), Response("Let's retrace your steps."))
    prompt = PromptRenderer().render("Found them!", EmotionPrediction.certain("happy"), Dialogue((past,)))
    user = prompt.messages[-1]["content"]
    assert 'sounding fearful: "I lost my keys"' in user
    assert "Let's retrace your steps." in user


def test_uncertain_emotion_is_flagged():
    pred = EmotionPrediction.from_probabilities({"sad": 0.4, "fearful": 0.35, "neutral": 0.25})
    user = PromptRenderer().render("hm", pred).messages[-1]["content"]
    assert "(maybe fearful)" in user


def test_user_template_dirs_are_searched_first_and_strict(tmp_path):
    (tmp_path / "empathetic.j2").write_text("{% block user %}MINE {{ emotion.label }}: {{ transcript }}{% endblock %}")
    (tmp_path / "typo.j2").write_text("{{ transcrip }}")
    r = PromptRenderer(template_dirs=[str(tmp_path)])
    assert r.render("hi", EmotionPrediction.certain("sad")).messages == [{"role": "user", "content": "MINE sad: hi"}]
    with pytest.raises(ConfigError, match="undefined variable"):
        PromptRenderer("typo.j2", [str(tmp_path)]).render("hi", EmotionPrediction.certain("sad"))
    with pytest.raises(ConfigError, match="not found"):
        PromptRenderer("nope.j2")
    assert {"empathetic.j2", "plain.j2", "topline.j2"} <= set(r.available())
