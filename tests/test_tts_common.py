"""What every TTS backend shares: sentence splitting, gain, pitch resampling, style limits, tags, streaming."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emotionlayer.components.tts.common import (
    SentenceSynthesizer,
    StyleLimits,
    apply_gain,
    pitch_ratio,
    resample_by_ratio,
)
from emotionlayer.components.tts.styles import EMOTION_STYLES, acted_style
from emotionlayer.errors import ConfigError
from emotionlayer.text import split_sentences
from emotionlayer.types import SpeakingStyle

RATE = 16000


class ToneTTS(SentenceSynthesizer):
    """0.1 s of tone per word at 200 Hz x pitch ratio, so lengths and pitch are known exactly."""

    name = "tone"
    sample_rate = RATE
    limits = StyleLimits(rate=(0.5, 2.0), pitch_semitones=(-4.0, 4.0))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.spoken: list[str] = []

    def _synthesize_text(self, text, style):
        for sentence in split_sentences(text):
            self.spoken.append(sentence)
            n = int(0.1 * RATE * len(sentence.split()) / style.rate)
            t = np.arange(n) / RATE
            yield (0.5 * np.sin(2 * np.pi * 200 * pitch_ratio(style.pitch_semitones) * t)).astype(np.float32)


def test_gain_soft_limits_instead_of_clipping():
    x = np.sin(np.linspace(0, 20, 1000)).astype(np.float32) * 0.7
    assert np.allclose(apply_gain(x, 0.5), x * 0.5)
    loud = apply_gain(x, 2.0)
    assert np.max(np.abs(loud)) <= 0.98
    assert np.sqrt(np.mean(loud**2)) > np.sqrt(np.mean(x**2)) * 1.3  # still louder


def test_resample_by_ratio_changes_length_and_frequency():
    t = np.arange(RATE) / RATE
    tone = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    ratio = pitch_ratio(3.0)
    shifted = resample_by_ratio(tone, ratio)
    assert len(shifted) == pytest.approx(RATE / ratio, abs=2)
    spectrum = np.abs(np.fft.rfft(shifted * np.hanning(len(shifted))))
    peak_hz = np.argmax(spectrum) * RATE / len(shifted)
    assert 12 * np.log2(peak_hz / 200) == pytest.approx(3.0, abs=0.1)


def test_stream_tags_and_levels(caplog):
    tts = ToneTTS(pause_seconds=0.3, sentence_silence=0.1)
    with caplog.at_level(logging.INFO, logger="emotionlayer.components.tts"):
        chunks = list(tts.synthesize_stream("One two. [laugh] Three four five! [pause] [smiles] Six."))
    assert tts.spoken == ["One two.", "Three four five!", "Six."]  # tags never reach the synthesiser
    # 0.2 s of words; 0.1 s between sentences + 0.3 s; the 0.3 s pause; 0.1 s (a pause already separates it)
    assert [round(c.duration, 2) for c in chunks] == [0.2, 0.4, 0.3, 0.1]
    assert not np.any(chunks[2].samples)
    assert [round(float(np.max(np.abs(chunks[i].samples))), 3) for i in (0, 1, 3)] == [0.7, 0.7, 0.7]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "[laugh]" in messages and "[smiles]" in messages
    assert tts.synthesize("Hello. World.").duration == pytest.approx(0.1 + 0.1 + 0.1)


def test_rate_and_clamping_are_applied_and_logged(caplog):
    tts = ToneTTS()
    assert tts.synthesize("a b c d", SpeakingStyle(rate=2.0)).duration == pytest.approx(0.2)
    with caplog.at_level(logging.INFO, logger="emotionlayer.components.tts"):
        tts.synthesize("a b", SpeakingStyle("wild", rate=10.0))
        tts.synthesize("a b", SpeakingStyle("wild", rate=10.0))
    notes = [r.getMessage() for r in caplog.records if "outside what this backend" in r.getMessage()]
    assert len(notes) == 1 and "rate=10" in notes[0]  # logged once per instance
    with pytest.raises(ConfigError):
        tts.synthesize("a", SpeakingStyle(pitch_semitones=float("nan")))
    with pytest.raises(ConfigError):
        ToneTTS(event_renderer="not callable")


def test_acted_styles_cover_every_emotion():
    from emotionlayer.labels import EMOTIONS

    assert set(EMOTION_STYLES) == set(EMOTIONS)
    assert acted_style("joy") is EMOTION_STYLES["happy"]
    assert EMOTION_STYLES["sad"].rate < 1 < EMOTION_STYLES["happy"].rate
    with pytest.raises(ConfigError):
        acted_style("bored")
