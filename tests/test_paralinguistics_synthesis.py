"""The synthesised event sounds: deterministic, reproducible bank, and measurably like what they name."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.bank import DEFAULT_BANK_DIR
from emotionlayer.paralinguistics.synthesis import SYNTH_LABELS, synthesize_event, write_bank

SR = 16000


def _frames(x: np.ndarray, size: int = 512, hop: int = 160) -> np.ndarray:
    count = 1 + max(len(x) - size, 0) // hop
    return np.stack([x[i * hop : i * hop + size] for i in range(count) if len(x[i * hop : i * hop + size]) == size])


def _centroids(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames = _frames(x) * np.hanning(512)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(512, 1 / SR)
    energy = power.sum(axis=1)
    return (power @ freqs) / (energy + 1e-12), energy


def _pitch(frame: np.ndarray) -> tuple[float, float]:
    """Autocorrelation pitch (Hz) and its strength (0-1) of one frame."""
    frame = frame - frame.mean()
    acf = np.correlate(frame, frame, "full")[len(frame) - 1 :]
    lo, hi = SR // 400, SR // 50
    lag = lo + int(np.argmax(acf[lo:hi]))
    return SR / lag, float(acf[lag] / (acf[0] + 1e-12))


def _voiced_pitches(x: np.ndarray, frame: int = 800) -> list[float]:
    out = []
    level = np.sqrt(np.mean(np.square(x)))
    for i in range(0, len(x) - frame, frame // 2):
        chunk = x[i : i + frame]
        if np.sqrt(np.mean(np.square(chunk))) < 0.5 * level:
            continue
        f0, strength = _pitch(chunk)
        if strength > 0.5:
            out.append(f0)
    return out


@pytest.mark.parametrize("label", SYNTH_LABELS)
def test_every_recipe_is_deterministic_audible_and_varied(label: str) -> None:
    a = synthesize_event(label, seed=3, sample_rate=SR)
    b = synthesize_event(label, seed=3, sample_rate=SR)
    c = synthesize_event(label, seed=4, sample_rate=SR)
    assert a.dtype == np.float32 and a.ndim == 1
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.allclose(a, c)
    peak_db = 20 * np.log10(np.max(np.abs(a)))
    assert -3.5 < peak_db < -2.5  # never a silent placeholder
    assert np.all(np.isfinite(a))


def test_unknown_recipe_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="laugh"):
        synthesize_event("yodel")


def test_laugh_is_a_train_of_voiced_bursts_above_speech_pitch_falling() -> None:
    x = synthesize_event("laugh", seed=0, sample_rate=SR, f0=120.0)
    pitches = _voiced_pitches(x, frame=480)
    assert len(pitches) >= 4
    assert 120 * 1.15 < np.median(pitches) < 120 * 2.0  # laughter sits well above the speaking pitch
    assert pitches[-1] < pitches[0]  # pitch falls across the laugh
    # Loudness comes in bursts at 4-6 per second: count peaks of the 10 ms envelope.
    env = np.sqrt(np.mean(np.square(x[: len(x) // 160 * 160].reshape(-1, 160)), axis=1))
    env = np.convolve(env, np.ones(6) / 6, mode="same")  # 60 ms smoothing joins a syllable's h and vowel
    loud = env > 0.3 * env.max()
    bursts = int(np.sum(loud[1:] & ~loud[:-1]) + loud[0])
    assert 3 <= bursts <= 8
    assert bursts / (len(x) / SR) > 2.5


def test_laugh_follows_the_requested_pitch() -> None:
    low = np.median(_voiced_pitches(synthesize_event("laugh", 1, SR, f0=100.0), 480))
    high = np.median(_voiced_pitches(synthesize_event("laugh", 1, SR, f0=200.0), 480))
    assert 1.6 < high / low < 2.4


def test_sigh_is_long_breathy_and_falls() -> None:
    x = synthesize_event("sigh", seed=0, sample_rate=SR, f0=120.0)
    assert len(x) / SR > 0.8
    pitches = _voiced_pitches(x, frame=800)
    assert len(pitches) >= 2 and pitches[-1] < pitches[0]
    # breathy: most frames are only weakly periodic
    strengths = [_pitch(f)[1] for f in _frames(x, 800, 400)]
    assert np.mean(np.array(strengths) > 0.8) < 0.5


def test_gasp_is_short_noisy_with_rising_band() -> None:
    for seed in range(3):
        x = synthesize_event("gasp", seed=seed, sample_rate=SR)
        assert 0.2 < len(x) / SR < 0.6
        centroid, energy = _centroids(x[: -int(0.03 * SR)])  # leave out the closing click
        active = energy > 0.05 * energy.max()
        c = centroid[active]
        third = max(len(c) // 3, 1)
        assert np.mean(c[-third:]) > 1.3 * np.mean(c[:third])


def test_throat_clearing_is_low_and_rough() -> None:
    x = synthesize_event("throat_clearing", seed=0, sample_rate=SR, f0=120.0)
    centroid, energy = _centroids(x)
    assert np.median(centroid[energy > 0.05 * energy.max()]) < 1500
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    assert spectrum[freqs < 1000].sum() > spectrum[freqs > 3000].sum()


def test_tsk_is_a_brief_bright_click() -> None:
    x = synthesize_event("tsk", seed=2, sample_rate=SR)
    env = np.abs(x)
    above = np.flatnonzero(env > 0.1 * env.max())
    first_click = above[above < above[0] + int(0.05 * SR)]
    assert (first_click[-1] - first_click[0]) / SR < 0.04
    centroid, energy = _centroids(x)
    assert np.median(centroid[energy > 0.05 * energy.max()]) > 1800


def test_packaged_synthetic_clips_are_exactly_what_the_script_makes(tmp_path) -> None:
    write_bank(tmp_path, variants=8, labels=("tsk", "gasp"))
    for label in ("tsk", "gasp"):
        made = sorted((tmp_path / label).glob("*.flac"))
        assert len(made) == 8
        for path in made:
            packaged, _ = sf.read(DEFAULT_BANK_DIR / label / path.name)
            regenerated, _ = sf.read(path)
            np.testing.assert_array_equal(packaged, regenerated)
        assert json.loads((tmp_path / label / "synth.json").read_text()) == json.loads(
            (DEFAULT_BANK_DIR / label / "synth.json").read_text()
        )
