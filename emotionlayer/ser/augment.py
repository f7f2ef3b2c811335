"""Waveform augmentation for SER training: speed, pitch, gain and noise.

Each augmentation draws its strength at random (from a seeded generator) within a range that keeps the
emotion audible: speed 0.9-1.1x, pitch -2..+2 semitones, gain -6..+6 dB, noise at 15-30 dB SNR.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..types import Audio

AUGMENTATIONS: tuple[str, ...] = ("speed", "pitch", "gain", "noise")


def speed(audio: Audio, factor: float) -> Audio:
    """Play ``factor`` times faster (tempo and pitch change together, like tape speed)."""
    import librosa

    target = int(round(audio.sample_rate / factor))
    samples = librosa.resample(audio.samples, orig_sr=audio.sample_rate, target_sr=target, res_type="soxr_hq")
    return Audio(samples.astype(np.float32), audio.sample_rate, audio.path)


def pitch(audio: Audio, semitones: float) -> Audio:
    """Shift pitch by ``semitones`` keeping the tempo."""
    import librosa

    samples = librosa.effects.pitch_shift(audio.samples, sr=audio.sample_rate, n_steps=semitones)
    return Audio(samples.astype(np.float32), audio.sample_rate, audio.path)


def gain(audio: Audio, db: float) -> Audio:
    """Scale the level by ``db`` decibels (clipped to [-1, 1])."""
    return Audio(np.clip(audio.samples * 10 ** (db / 20), -1, 1).astype(np.float32), audio.sample_rate, audio.path)


def noise(audio: Audio, snr_db: float, rng: np.random.Generator) -> Audio:
    """Add pink-ish (1/f) noise at ``snr_db`` signal-to-noise ratio."""
    n = len(audio.samples)
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    spectrum /= np.sqrt(np.maximum(np.arange(n // 2 + 1), 1))
    coloured = np.fft.irfft(spectrum, n).astype(np.float32)
    signal_power = float(np.mean(audio.samples**2)) + 1e-12
    noise_power = float(np.mean(coloured**2)) + 1e-12
    coloured *= np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return Audio(np.clip(audio.samples + coloured, -1, 1).astype(np.float32), audio.sample_rate, audio.path)


def check_augmentations(names: Sequence[str]) -> list[str]:
    """Validate augmentation names; raise a :class:`ConfigError` listing the valid ones."""
    out = []
    for name in names:
        key = name.strip().lower()
        if key not in AUGMENTATIONS:
            raise ConfigError(f"Unknown augmentation {name!r}. Choose from: {', '.join(AUGMENTATIONS)}.")
        out.append(key)
    return out


def augment(audio: Audio, names: Sequence[str], rng: np.random.Generator) -> Audio:
    """Apply each named augmentation once, in order, with a random strength."""
    for name in check_augmentations(names):
        if name == "speed":
            audio = speed(audio, float(rng.uniform(0.9, 1.1)))
        elif name == "pitch":
            audio = pitch(audio, float(rng.uniform(-2.0, 2.0)))
        elif name == "gain":
            audio = gain(audio, float(rng.uniform(-6.0, 6.0)))
        elif name == "noise":
            audio = noise(audio, float(rng.uniform(15.0, 30.0)), rng)
    return audio
