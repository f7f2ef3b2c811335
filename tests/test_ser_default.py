"""The packaged default SER model through the registry: every label, any clip length, label restriction."""

from __future__ import annotations

import numpy as np
import pytest

from emotionlayer.labels import EMOTIONS, FOUR_CLASS
from emotionlayer.registry import create, get_class, missing_requirement
from emotionlayer.types import Audio, EmotionPrediction

pytest.importorskip("torch")
if missing_requirement(get_class("ser", "default")) is not None:  # pragma: no cover - packaged weights missing
    pytest.skip("the default SER backend is not usable here", allow_module_level=True)


def _voice(seconds: float, f0: float = 140.0, seed: int = 0) -> Audio:
    """A crude voiced sound: a glottal-like pulse train with vibrato and a little noise."""
    rng = np.random.default_rng(seed)
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 4 * t))) / sr
    samples = sum(np.sin(k * phase) / k for k in range(1, 12)) * 0.1 + 0.005 * rng.standard_normal(t.size)
    return Audio(samples.astype(np.float32), sr)


@pytest.fixture(scope="module")
def ser():
    return create("ser", "default")


def test_predicts_a_probability_for_every_canonical_label(ser):
    prediction = ser.predict(_voice(3.0))
    assert isinstance(prediction, EmotionPrediction)
    assert set(prediction.probabilities) == set(EMOTIONS)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)
    assert prediction.model == ser.name and ser.name
    assert set(ser.labels) == set(EMOTIONS)


@pytest.mark.parametrize("seconds", [0.3, 45.0])
def test_short_and_long_clips(ser, seconds):
    prediction = ser.predict(_voice(seconds, seed=1))
    assert set(prediction.probabilities) == set(EMOTIONS)
    assert all(np.isfinite(list(prediction.probabilities.values())))


def test_any_sample_rate_gives_nearly_the_same_answer(ser):
    audio = _voice(2.0, seed=2)
    at_48k = audio.resample(48000)
    a, b = ser.predict(audio).probabilities, ser.predict(at_48k).probabilities
    assert max(abs(a[k] - b[k]) for k in a) < 0.15


def test_label_restriction_decides_among_the_given_labels_only():
    four = create("ser", "default", labels=["neutral", "joy", "sadness", "anger"])
    prediction = four.predict(_voice(2.0, seed=3))
    assert set(prediction.probabilities) == set(FOUR_CLASS)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


def test_different_voices_get_different_probabilities(ser):
    low = ser.predict(_voice(2.0, f0=90.0)).probabilities
    high = ser.predict(_voice(2.0, f0=300.0)).probabilities
    assert max(abs(low[k] - high[k]) for k in low) > 0.01


def test_does_not_collapse_to_one_label_on_speech_unlike_its_training_data(ser):
    """The repository's example clips: a synthetic piper voice, loud and close, nothing like RAVDESS."""
    from pathlib import Path

    from emotionlayer.audio import load_audio

    clips = sorted((Path(__file__).resolve().parent.parent / "examples" / "audio").glob("*_phone.wav"))
    if len(clips) < 4:
        pytest.skip("example clips not present")
    predictions = [ser.predict(load_audio(clip)) for clip in clips]
    assert len({p.label for p in predictions}) >= 3
    assert all(p.confidence < 0.95 for p in predictions)  # unfamiliar audio gets no false certainty


def test_recording_level_does_not_decide_the_emotion(ser):
    quiet = _voice(2.0, seed=4)
    loud = Audio(quiet.samples * 8.0, quiet.sample_rate)  # +18 dB, as a closer microphone would give
    a, b = ser.predict(quiet).probabilities, ser.predict(loud).probabilities
    assert max(abs(a[k] - b[k]) for k in a) < 0.02


@pytest.mark.parametrize("kind", ["white_noise", "music", "silence", "hum"])
def test_no_confident_emotion_without_speech(ser, kind):
    """Noise, music, silence and hum get a spread-out answer (uniform over 8 labels is 0.125), not an emotion."""
    from emotionlayer import testing

    audio = Audio(np.zeros(48000, dtype=np.float32), 16000) if kind == "silence" else getattr(testing, kind)(3.0)
    prediction = ser.predict(audio)
    assert prediction.confidence < 0.4, (kind, prediction.top(3))
