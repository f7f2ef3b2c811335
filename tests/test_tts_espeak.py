"""The espeak-ng backend: native pitch, rate and intonation range; other languages; tags."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emotionlayer import registry
from emotionlayer.audio import rms_dbfs
from emotionlayer.components.tts.espeak import EspeakTTS, find_library
from emotionlayer.errors import ConfigError
from emotionlayer.types import Audio, SpeakingStyle

pytestmark = pytest.mark.skipif(find_library() is None, reason="libespeak-ng not installed (espeakng-loader)")

SENTENCE = "My phone will not turn on, and I have tried everything."


@pytest.fixture(scope="module")
def tts() -> EspeakTTS:
    return registry.create("tts", "espeak-ng", voice="en-us")


def median_f0(audio: Audio) -> float:
    import librosa

    f0, voiced, _ = librosa.pyin(audio.samples, fmin=60.0, fmax=500.0, sr=audio.sample_rate, frame_length=1024)
    return float(np.nanmedian(f0[voiced]))


def f0_spread(audio: Audio) -> float:
    import librosa

    f0, voiced, _ = librosa.pyin(audio.samples, fmin=60.0, fmax=500.0, sr=audio.sample_rate, frame_length=1024)
    low, high = np.percentile(f0[voiced], [10, 90])
    return float(12 * np.log2(high / low))


def test_speaks_at_its_rate(tts: EspeakTTS):
    audio = tts.synthesize(SENTENCE)
    assert tts.sample_rate == audio.sample_rate == 22050
    assert 1.5 < audio.duration < 6.0
    assert rms_dbfs(audio.samples) > -30.0


def test_pitch_follows_semitones(tts: EspeakTTS):
    high = tts.synthesize(SENTENCE, SpeakingStyle("high", pitch_semitones=3.0))
    low = tts.synthesize(SENTENCE, SpeakingStyle("low", pitch_semitones=-3.0))
    assert 12 * np.log2(median_f0(high) / median_f0(low)) == pytest.approx(6.0, abs=1.0)


def test_rate_changes_duration(tts: EspeakTTS):
    neutral = tts.synthesize(SENTENCE)
    fast = tts.synthesize(SENTENCE, SpeakingStyle("fast", rate=1.5))
    assert neutral.duration / fast.duration == pytest.approx(1.5, rel=0.1)


def test_emotion_widens_or_flattens_intonation(tts: EspeakTTS):
    happy = tts.synthesize(SENTENCE, SpeakingStyle("lively", emotion="happy"))
    sad = tts.synthesize(SENTENCE, SpeakingStyle("flat", emotion="sad"))
    assert f0_spread(happy) > f0_spread(sad) + 1.0


def test_other_languages():
    mandarin = EspeakTTS(voice="cmn").synthesize("你好，我可以帮你。")
    assert 0.8 < mandarin.duration < 4.0
    with pytest.raises(ConfigError, match="no voice"):
        EspeakTTS(voice="xx-nonexistent").synthesize("Hello.")


def test_tags_not_spoken(tts: EspeakTTS, caplog):
    plain = tts.synthesize("That is funny. Tell me more.")
    with caplog.at_level(logging.INFO, logger="emotionlayer.components.tts"):
        tagged = tts.synthesize("That is funny. [laughs] Tell me more. [pause 0.5s]")
    assert tagged.duration == pytest.approx(plain.duration + 0.5, abs=0.05)
    assert any("[laughs]" in r.getMessage() for r in caplog.records)


def test_pitch_beyond_reach_is_clamped_and_logged(tts: EspeakTTS, caplog):
    with caplog.at_level(logging.INFO, logger="emotionlayer.components.tts"):
        params = tts.parameters(tts.resolve_style(SpeakingStyle("squeak", pitch_semitones=30.0)))
        high_voice = EspeakTTS(base_pitch=90).parameters(SpeakingStyle("higher", pitch_semitones=5.0))
    assert params["pitch"] >= 98 and high_voice["pitch"] == 100
    messages = [r.getMessage() for r in caplog.records]
    assert any("pitch_semitones=30" in m for m in messages)
    assert any("beyond what eSpeak can reach" in m for m in messages)


def test_works_beside_piper():
    pytest.importorskip("piper")
    from emotionlayer.components.tts.piper import PiperTTS

    assert PiperTTS(num_threads=2).synthesize("Hello there.").duration > 0.5
    assert EspeakTTS().synthesize("Hello there.").duration > 0.5
