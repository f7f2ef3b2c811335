"""Signal helpers for short event and speech clips: frame power, active level, silence trimming, pitch.

NumPy only, except :func:`estimate_f0`, which imports librosa when called.
"""

from __future__ import annotations

import numpy as np

__all__ = ["active_level_db", "estimate_f0", "frame_power", "trim_silence"]


def frame_power(samples: np.ndarray, sample_rate: int, frame_seconds: float = 0.02) -> np.ndarray:
    """Mean power of each whole ``frame_seconds`` frame of ``samples`` (one value if shorter than a frame)."""
    frame = max(int(frame_seconds * sample_rate), 1)
    usable = len(samples) // frame * frame
    if usable == 0:
        return np.array([float(np.mean(np.square(samples, dtype=np.float64)))]) if samples.size else np.zeros(0)
    return np.mean(np.square(samples[:usable].reshape(-1, frame), dtype=np.float64), axis=1)


def active_level_db(samples: np.ndarray, sample_rate: int, floor_db: float = 35.0) -> float | None:
    """RMS level (dBFS) over the frames within ``floor_db`` of the loudest one, or ``None`` if silent.

    This is the level of the sound itself, not diluted by the pauses around it.
    """
    power = frame_power(np.asarray(samples, dtype=np.float32), sample_rate)
    if power.size == 0 or float(power.max()) < 1e-10:
        return None
    active = power[power >= power.max() * 10 ** (-floor_db / 10.0)]
    return 10.0 * float(np.log10(np.mean(active)))


def trim_silence(samples: np.ndarray, sample_rate: int, threshold_db: float = 45.0, keep: float = 0.0) -> np.ndarray:
    """Cut leading and trailing audio more than ``threshold_db`` below the loudest 10 ms frame.

    Args:
        samples: Mono samples.
        sample_rate: Their rate.
        threshold_db: How far below the peak frame counts as silence.
        keep: Seconds of the cut silence to keep on each side.
    """
    frame = max(int(0.01 * sample_rate), 1)
    power = frame_power(samples, sample_rate, 0.01)
    if power.size == 0 or float(power.max()) <= 0:
        return samples
    loud = np.flatnonzero(power >= power.max() * 10 ** (-threshold_db / 10.0))
    pad = int(keep * sample_rate)
    start = max(int(loud[0]) * frame - pad, 0)
    end = min((int(loud[-1]) + 1) * frame + pad, len(samples))
    return samples[start:end]


def estimate_f0(samples: np.ndarray, sample_rate: int) -> float | None:
    """Median pitch (Hz) of the voiced, loud frames of speech, or ``None`` if there is no clear voicing."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < int(0.1 * sample_rate):
        return None
    import librosa

    frame = 2048 if sample_rate > 24000 else 1024
    f0 = librosa.yin(samples, fmin=60.0, fmax=400.0, sr=sample_rate, frame_length=frame, hop_length=frame // 4)
    rms = librosa.feature.rms(y=samples, frame_length=frame, hop_length=frame // 4)[0][: len(f0)]
    loud = rms >= 0.3 * float(rms.max()) if rms.size else np.zeros(0, dtype=bool)
    values = f0[: len(loud)][loud]
    values = values[(values > 65.0) & (values < 390.0)]
    if values.size < 3:
        return None
    return float(np.median(values))
