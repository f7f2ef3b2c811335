import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.prompting import PromptRenderer, style_for
from emotionlayer.types import Dialogue, EmotionPrediction, Response, Transcript, Turn


def test_default_template_sees_text_emotion_and_strategy():
    prompt = PromptRenderer().render("My phone won't turn on.", EmotionPrediction.certain("sad"))
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "user"]  # system, the strategy's example exchange, the turn
    assert "Comfort the user" in prompt.messages[0]["content"]
    assert prompt.messages[1]["content"] == "(sounding sad) I missed my bus again."
    assert prompt.messages[2]["content"].startswith("Oh no, I'm sorry")
    assert prompt.messages[-1]["content"] == "(sounding sad) My phone won't turn on."
    assert prompt.strategy.name == "comfort"
    assert prompt.style.name == "warm" and prompt.style.pitch_semitones < 0 and prompt.style.emotion == "calm"


def test_same_words_different_emotion_different_prompt_and_style():
    r = PromptRenderer()
    happy = r.render("My phone won't turn on.", EmotionPrediction.certain("cheerful"))
    angry = r.render("My phone won't turn on.", EmotionPrediction.certain("angry"))
    assert happy.messages != angry.messages
    assert happy.style.pitch_semitones > angry.style.pitch_semitones
    assert angry.strategy.name == "de-escalate"
    assert style_for("fear").name == "reassuring"


def test_history_with_emotions_reaches_the_template():
    past = Turn(
        Transcript("I lost my keys"), EmotionPrediction.certain("fearful"), Response("Let's retrace your steps.")
    )
    prompt = PromptRenderer().render("Found them!", EmotionPrediction.certain("happy"), Dialogue((past,)))
    system = prompt.messages[0]["content"]
    assert 'sounding fearful, said: "I lost my keys"' in system
    assert "Let's retrace your steps." in system


def test_uncertain_emotion_is_flagged():
    pred = EmotionPrediction.from_probabilities({"sad": 0.4, "fearful": 0.35, "neutral": 0.25})
    user = PromptRenderer().render("hm", pred).messages[-1]["content"]
    assert user == "(sounding sad, maybe fearful) hm"


def test_few_shot_can_be_switched_off():
    prompt = PromptRenderer(few_shot=False).render("hi", EmotionPrediction.certain("happy"))
    assert [m["role"] for m in prompt.messages] == ["system", "user"]


def test_user_template_dirs_are_searched_first_and_strict(tmp_path):
    (tmp_path / "empathetic.j2").write_text("{% block user %}MINE {{ emotion.label }}: {{ transcript }}{% endblock %}")
    (tmp_path / "typo.j2").write_text("{{ transcrip }}")
    r = PromptRenderer(template_dirs=[str(tmp_path)], few_shot=False)
    assert r.render("hi", EmotionPrediction.certain("sad")).messages == [{"role": "user", "content": "MINE sad: hi"}]
    with pytest.raises(ConfigError, match="undefined variable"):
        PromptRenderer("typo.j2", [str(tmp_path)]).render("hi", EmotionPrediction.certain("sad"))
    with pytest.raises(ConfigError, match="not found"):
        PromptRenderer("nope.j2")
    assert {"empathetic.j2", "plain.j2", "topline.j2"} <= set(r.available())


def test_history_is_bounded_by_tokens_oldest_turns_first():
    from emotionlayer.prompting import PromptRenderer, approx_tokens
    from emotionlayer.types import Dialogue, EmotionPrediction, Response, Transcript, Turn

    neutral = EmotionPrediction("neutral", {"neutral": 1.0})
    turns = tuple(
        Turn(Transcript(f"turn {i} " + "word " * 30), neutral, Response(f"answer {i} " + "word " * 30))
        for i in range(4)
    )
    assert approx_tokens("one two three") == 4 and approx_tokens("你好吗") == 3
    renderer = PromptRenderer(history_turns=4, history_tokens=100)
    history = renderer.context("hello", neutral, Dialogue(turns))["history"]
    assert [h["text"].split()[1] for h in history] == ["3"]  # about 85 tokens a turn: only the newest fits
    roomy = PromptRenderer(history_turns=4, history_tokens=1000).context("hello", neutral, Dialogue(turns))
    assert [h["text"].split()[1] for h in roomy["history"]] == ["0", "1", "2", "3"]


def test_a_line_the_assistant_said_first_renders_without_user_words():
    from emotionlayer.prompting import PromptRenderer
    from emotionlayer.types import Dialogue, EmotionPrediction, Response, Transcript, Turn

    neutral = EmotionPrediction("neutral", {"neutral": 1.0})
    opener = Turn(Transcript(""), neutral, Response("I just finished that book."))
    system = PromptRenderer().render("I'll read it too.", neutral, Dialogue((opener,))).messages[0]["content"]
    assert '- You said: "I just finished that book."' in system
    assert 'said: ""' not in system


def test_speaking_rate_and_loudness_reach_the_prompt_only_when_unusual():
    r = PromptRenderer(few_shot=False)
    sad = EmotionPrediction.certain("sad")
    slow = r.render("hm", sad, prosody={"rate": "slow", "loudness": "quiet"}).messages[-1]["content"]
    assert slow == "(sounding sad, speaking slowly and quietly) hm"
    assert (
        r.render("hm", sad, prosody={"rate": "fast"}).messages[-1]["content"] == "(sounding sad, speaking quickly) hm"
    )
    plain = "(sounding sad) hm"
    assert r.render("hm", sad).messages[-1]["content"] == plain
    assert r.render("hm", sad, prosody={"rate": "normal", "loudness": None}).messages[-1]["content"] == plain
    with pytest.raises(ValueError, match="prosody rate 'sluggish'"):
        r.render("hm", sad, prosody={"rate": "sluggish"})
