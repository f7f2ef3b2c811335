import json

import numpy as np
import pytest

from emotionlayer.errors import ConfigError, EmotionLayerError
from emotionlayer.labels import EMOTIONS, canonical, canonical_list, restrict
from emotionlayer.types import (
    Audio,
    Dialogue,
    EmotionPrediction,
    Response,
    SpeakingStyle,
    Transcript,
    Turn,
    Utterance,
)


def test_aliases_map_to_canonical_labels():
    assert canonical("Cheerful") == "happy"
    assert canonical("fear") == "fearful"
    assert canonical("anger") == "angry"
    assert canonical_list("neutral, joy,sad,anger,sad") == ["neutral", "happy", "sad", "angry"]
    with pytest.raises(ConfigError, match="Unknown emotion label 'bored'"):
        canonical("bored")


def test_restrict_renormalises_over_subset():
    probs = {"happy": 0.2, "sad": 0.2, "surprised": 0.6}
    r = restrict(probs, ["happy", "sad"])
    assert r == pytest.approx({"happy": 0.5, "sad": 0.5})


def test_prediction_normalises_and_canonicalises():
    p = EmotionPrediction(label="cheerful", probabilities={"cheerful": 3, "fear": 1}, model="m")
    assert p.label == "happy"
    assert p.probabilities == pytest.approx({"happy": 0.75, "fearful": 0.25})
    assert sum(p.probabilities.values()) == pytest.approx(1.0)
    assert p.top(1) == [("happy", pytest.approx(0.75))]
    with pytest.raises(EmotionLayerError):
        EmotionPrediction(label="sad", probabilities={"sad": float("nan")})


def test_turn_and_dialogue_round_trip_through_json():
    turn = Turn(
        transcript=Transcript("hello", "en", "asr"),
        emotion=EmotionPrediction.from_probabilities({e: 1.0 for e in EMOTIONS} | {"sad": 5.0}, "ser"),
        response=Response("Hi.", SpeakingStyle("warm", 0.9, -1.5, 0.8, "sad"), "comfort"),
        prompt=({"role": "user", "content": "hello"},),
        audio=Audio(np.zeros(160, dtype=np.float32) + 0.1, 16000),
        audio_path="reply.wav",
        timings={"total": 1.5},
    )
    dialogue = Dialogue().add(turn).add(turn)
    data = json.loads(json.dumps(dialogue.to_dict()))
    back = Dialogue.from_dict(data)
    assert len(back) == 2
    assert back.turns[0].emotion == turn.emotion
    assert back.turns[0].response == turn.response
    assert back.turns[0].timings == {"total": 1.5}
    assert back.turns[0].audio is None  # samples are not serialised by default; the path is kept
    assert back.turns[0].audio_path == "reply.wav"


def test_audio_round_trip_with_samples_and_equality():
    a = Audio(np.linspace(-0.5, 0.5, 100), 8000)
    assert a.samples.dtype == np.float32
    b = Audio.from_dict(a.to_dict(include_samples=True))
    assert a == b
    assert a.duration == pytest.approx(100 / 8000)
    with pytest.raises(EmotionLayerError, match="mono"):
        Audio(np.zeros((2, 10)), 16000)


def test_utterance_needs_audio_or_text():
    with pytest.raises(EmotionLayerError):
        Utterance()
    u = Utterance(text="hi", emotion="scared")
    assert u.emotion == "fearful"
    assert Utterance.from_dict(u.to_dict()) == u
