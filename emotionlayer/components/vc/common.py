"""What the voice-conversion backends share: the interface, the measurements (voiced pitch, the long-term
spectral envelope, its distance) and the loudness rule that sets an event against the speech around it.

NumPy only, except :func:`voiced_f0`, which imports librosa when called.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ...errors import ConfigError
from ...paralinguistics.bank import DEFAULT_SPEECH_LEVEL_DB, RELATIVE_LEVEL_DB
from ...paralinguistics.dsp import active_level_db
from ...types import Audio

__all__ = [
    "DEFAULT_RELATIVE_LEVEL_DB",
    "PEAK",
    "UNVOICED_LABELS",
    "VoiceConverter",
    "active_frames",
    "envelope_distance",
    "frame_signal",
    "match_level",
    "spectral_envelope",
    "voiced_f0",
    "voicing",
]

#: Events made without the voice (clicks, noise bursts, breath): never pitch-shifted.
UNVOICED_LABELS = frozenset({"tsk", "gasp", "breath", "cough", "pause"})
#: Highest peak a converted event may have (it is turned down to this rather than clipped).
PEAK = 0.95
#: Level re speech of a label :data:`~emotionlayer.paralinguistics.bank.RELATIVE_LEVEL_DB` does not list.
DEFAULT_RELATIVE_LEVEL_DB = -6.0

_FRAME_SECONDS = 0.04
_HOP_SECONDS = 0.01


@runtime_checkable
class VoiceConverter(Protocol):
    """Voice conversion (kind ``vc``): make an event clip sound like the speaker it is inserted next to.

    ``convert`` returns the event at ``reference``'s sample rate; ``label`` (``laugh``, ``tsk``...) may
    steer what is matched (no pitch for unvoiced events, the loudness offset of the label).
    """

    def convert(self, event: Audio, reference: Audio, label: str | None = None) -> Audio: ...


def frame_signal(samples: np.ndarray, sample_rate: int, frame_seconds: float = _FRAME_SECONDS) -> np.ndarray:
    """``(frames, length)`` overlapping frames, one every 10 ms (one zero-padded frame if shorter)."""
    frame = max(int(frame_seconds * sample_rate), 16)
    hop = max(int(_HOP_SECONDS * sample_rate), 1)
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) < frame:
        samples = np.pad(samples, (0, frame - len(samples)))
    count = 1 + (len(samples) - frame) // hop
    index = np.arange(frame)[None, :] + hop * np.arange(count)[:, None]
    return samples[index]


def active_frames(frames: np.ndarray, floor_db: float = 35.0) -> np.ndarray:
    """Which frames are within ``floor_db`` of the loudest (the sound itself, not the pauses around it)."""
    power = np.mean(frames * frames, axis=1)
    if power.size == 0 or float(power.max()) <= 1e-12:
        return np.zeros(len(frames), dtype=bool)
    return power >= power.max() * 10 ** (-floor_db / 10.0)


def voicing(frames: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 600.0) -> np.ndarray:
    """Peak of each frame's normalised autocorrelation at pitch lags (``fmin``-``fmax``): near 1 when voiced."""
    n = frames.shape[1]
    window = np.hanning(n)
    x = (frames - frames.mean(axis=1, keepdims=True)) * window
    spectrum = np.fft.rfft(x, 2 * n)
    corr = np.fft.irfft(np.abs(spectrum) ** 2)[:, :n]
    # unbias for the window's own autocorrelation, so a steady tone scores near 1 at its period
    w = np.fft.irfft(np.abs(np.fft.rfft(window, 2 * n)) ** 2)[:n]
    corr = corr / np.maximum(w[None, :] / w[0], 1e-3)
    low, high = int(sample_rate / fmax), min(int(sample_rate / fmin), n - 1)
    if high <= low:
        return np.zeros(len(frames))
    energy = np.maximum(corr[:, 0], 1e-12)
    return np.max(corr[:, low : high + 1], axis=1) / energy


def voiced_f0(
    samples: np.ndarray, sample_rate: int, fmin: float = 60.0, fmax: float = 600.0, threshold: float = 0.6
) -> tuple[float | None, float]:
    """Median pitch (Hz) of the loud voiced frames, and the share of loud frames that are voiced.

    A frame is voiced when its normalised autocorrelation peak at pitch lags is at least ``threshold``;
    the pitch of those frames is YIN's (librosa). ``None`` when fewer than 3 frames are voiced.
    """
    samples = np.asarray(samples, dtype=np.float32)
    frames = frame_signal(samples, sample_rate)
    loud = active_frames(frames, 30.0)
    voiced = loud & (voicing(frames, sample_rate, fmin, fmax) >= threshold)
    share = float(voiced.sum()) / max(int(loud.sum()), 1)
    if int(voiced.sum()) < 3:
        return None, share
    import librosa

    hop = max(int(_HOP_SECONDS * sample_rate), 1)
    length = 1 << int(np.ceil(np.log2(max(2.2 * sample_rate / fmin, frames.shape[1]))))
    f0 = librosa.yin(samples, fmin=fmin, fmax=fmax, sr=sample_rate, frame_length=length, hop_length=hop)
    # YIN's frames are centred on j * hop; frame i here is centred half a frame later
    offset = int(round(frames.shape[1] / 2 / hop))
    picked = np.flatnonzero(voiced) + offset
    values = f0[picked[picked < len(f0)]]
    values = values[(values > fmin * 1.05) & (values < fmax * 0.95)]
    if values.size < 3:
        return None, share
    return float(np.median(values)), share


def spectral_envelope(
    samples: np.ndarray, sample_rate: int, n_fft: int = 1024, frames: str = "voiced", lifter_ms: float = 1.5
) -> np.ndarray:
    """The long-term spectral envelope in dB (``n_fft // 2 + 1`` bins): the mean power spectrum of the
    chosen frames, cepstrally smoothed (quefrencies under ``lifter_ms`` kept) so that the harmonics of the
    voice are gone and the shape of its resonances and of the channel remains.

    Args:
        samples: Mono audio.
        sample_rate: Its rate.
        n_fft: FFT size (frames of ``n_fft`` samples, 75% overlap, Hann window).
        frames: ``"voiced"`` (loud voiced frames; all loud frames when fewer than 3 are voiced) or
            ``"active"`` (every frame within 35 dB of the loudest).
        lifter_ms: Smoothing: the shortest period (ms) of spectral ripple kept.
    """
    if frames not in ("voiced", "active"):
        raise ConfigError(f"spectral_envelope frames must be 'voiced' or 'active', not {frames!r}.")
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    hop = n_fft // 4
    count = 1 + (len(x) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    chunks = x[index]
    chosen = active_frames(chunks)
    if frames == "voiced":
        voiced = chosen & (voicing(chunks, sample_rate) >= 0.6)
        if int(voiced.sum()) >= 3:
            chosen = voiced
    if not chosen.any():
        chosen = np.ones(len(chunks), dtype=bool)
    power = np.mean(np.abs(np.fft.rfft(chunks[chosen] * np.hanning(n_fft), axis=1)) ** 2, axis=0)
    log_power = np.log(np.maximum(power, power.max() * 1e-10 + 1e-20))
    cepstrum = np.fft.irfft(log_power)
    keep = max(int(lifter_ms * 1e-3 * sample_rate), 4)
    cepstrum[keep:-keep] = 0.0
    return 10.0 / np.log(10.0) * np.fft.rfft(cepstrum).real[: n_fft // 2 + 1]


def _band(sample_rate: int, n_fft: int, low: float, high: float) -> np.ndarray:
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return (freqs >= low) & (freqs <= min(high, 0.45 * sample_rate))


def envelope_distance(
    a: np.ndarray, b: np.ndarray, sample_rate: int, n_fft: int = 1024, low: float = 100.0, high: float = 7000.0
) -> float:
    """RMS difference (dB) of two envelopes from :func:`spectral_envelope` over ``low``-``high`` Hz, after
    removing their mean difference (loudness is not timbre)."""
    band = _band(sample_rate, n_fft, low, high)
    diff = np.asarray(a)[band] - np.asarray(b)[band]
    return float(np.sqrt(np.mean((diff - diff.mean()) ** 2)))


def relative_level_db(label: str | None) -> float:
    """How far below (or at) the speech's active level an event of ``label`` sits, in dB."""
    return RELATIVE_LEVEL_DB.get(label or "", DEFAULT_RELATIVE_LEVEL_DB)


def match_level(
    samples: np.ndarray, sample_rate: int, reference: np.ndarray, label: str | None, peak: float = PEAK
) -> np.ndarray:
    """Scale an event so its active level sits :func:`relative_level_db` from the reference speech's
    (-20 dBFS speech when the reference is silent), then turn it down if it would peak above ``peak``."""
    samples = np.asarray(samples, dtype=np.float32)
    level = active_level_db(samples, sample_rate)
    if level is None:
        return samples
    speech = active_level_db(np.asarray(reference, dtype=np.float32), sample_rate)
    target = (speech if speech is not None else DEFAULT_SPEECH_LEVEL_DB) + relative_level_db(label)
    return limit_peak(samples * np.float32(10 ** ((target - level) / 20.0)), peak)


def limit_peak(samples: np.ndarray, peak: float = PEAK) -> np.ndarray:
    """``samples`` turned down to peak at ``peak`` if they go above it (never clipped); NaN and inf refused."""
    samples = np.asarray(samples, dtype=np.float32)
    if not np.all(np.isfinite(samples)):
        raise ConfigError("The voice converter returned NaN or infinite samples.")
    top = float(np.max(np.abs(samples))) if samples.size else 0.0
    return samples * np.float32(peak / top) if top > peak else samples
