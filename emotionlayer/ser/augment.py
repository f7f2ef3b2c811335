"""Waveform augmentation for SER training: speed, pitch, gain, noise, reverberation and codec.

Each augmentation draws its strength at random (from a seeded generator) within a range that keeps the
emotion audible: speed 0.9-1.1x, pitch -2..+2 semitones, gain -6..+6 dB, noise at 15-30 dB SNR,
reverberation with a 0.2-0.8 s decay, and a telephone codec (300-3400 Hz band, 8 kHz, 8-bit mu-law).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..types import Audio

AUGMENTATIONS: tuple[str, ...] = ("speed", "pitch", "gain", "noise", "reverb", "codec")


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


def reverb(audio: Audio, rt60: float, rng: np.random.Generator) -> Audio:
    """Convolve with a synthetic room response: exponentially decaying noise reaching -60 dB after ``rt60`` s."""
    from scipy.signal import fftconvolve

    sr = audio.sample_rate
    n = max(1, int(rt60 * sr))
    t = np.arange(n) / sr
    response = rng.standard_normal(n) * np.exp(-6.9 * t / max(rt60, 1e-3))
    response[0] = 1.0  # the direct sound
    wet = fftconvolve(audio.samples.astype(np.float64), response)[: len(audio.samples)]
    wet *= np.sqrt((np.mean(audio.samples.astype(np.float64) ** 2) + 1e-12) / (np.mean(wet**2) + 1e-12))
    return Audio(np.clip(wet, -1, 1).astype(np.float32), sr, audio.path)


def codec(audio: Audio) -> Audio:
    """A telephone channel: band-pass 300-3400 Hz, 8 kHz sampling, 8-bit mu-law, back to the original rate."""
    from scipy.signal import butter, sosfiltfilt

    narrow = audio.resample(8000).samples.astype(np.float64)
    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    narrow = np.clip(sosfiltfilt(sos, narrow), -1, 1)
    mu = 255.0
    coded = np.sign(narrow) * np.log1p(mu * np.abs(narrow)) / np.log1p(mu)
    coded = np.round((coded + 1) / 2 * mu) / mu * 2 - 1
    decoded = np.sign(coded) * ((1 + mu) ** np.abs(coded) - 1) / mu
    return Audio(decoded.astype(np.float32), 8000, audio.path).resample(audio.sample_rate)


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
        elif name == "reverb":
            audio = reverb(audio, float(rng.uniform(0.2, 0.8)), rng)
        elif name == "codec":
            audio = codec(audio)
    return audio
