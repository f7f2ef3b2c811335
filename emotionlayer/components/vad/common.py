"""What the VAD backends share: 32 ms frames at 16 kHz, and one way of turning frame probabilities into segments.

A backend implements one thing, :meth:`FrameVAD.stream`, which returns a
:class:`~emotionlayer.components.base.VoiceActivityStream` (an object with ``process(frame) -> float`` and
``reset()``): the speech probability of one frame of
:data:`FRAME_SAMPLES` samples at :data:`SAMPLE_RATE`, frame after frame, keeping whatever state the model
needs between them. :class:`FrameVAD` then gives it the batch forms, ``speech_probabilities(audio)`` and
``speech_segments(audio)``, so a whole clip and a live stream are judged by the same model, frame by frame.
"""

from __future__ import annotations

import numpy as np

from ...audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE
from ...errors import AudioError, ConfigError
from ...types import Audio
from ..base import VoiceActivityStream


def check_frame(frame: np.ndarray) -> np.ndarray:
    """``frame`` as a contiguous float32 vector of :data:`FRAME_SAMPLES` samples.

    Raises:
        AudioError: it is not one frame of that length.
    """
    samples = np.ascontiguousarray(np.asarray(frame, dtype=np.float32).reshape(-1))
    if samples.size != FRAME_SAMPLES:
        raise AudioError(
            f"A VAD stream takes frames of exactly {FRAME_SAMPLES} samples at {SAMPLE_RATE} Hz "
            f"({FRAME_SECONDS * 1000:.0f} ms); got {samples.size}. Buffer the audio into frames of that size."
        )
    return samples


def frames_of(audio: Audio) -> np.ndarray:
    """``audio`` at 16 kHz cut into frames, shape ``(n_frames, FRAME_SAMPLES)``; the last one is zero-padded."""
    samples = np.asarray(audio.resample(SAMPLE_RATE).samples, dtype=np.float32)
    pad = (-samples.size) % FRAME_SAMPLES
    if pad:
        samples = np.concatenate([samples, np.zeros(pad, dtype=np.float32)])
    return samples.reshape(-1, FRAME_SAMPLES)


def segments_from_probabilities(
    probabilities: np.ndarray,
    duration: float,
    threshold: float = 0.5,
    min_speech_seconds: float = 0.25,
    min_silence_seconds: float = 0.1,
    pad_seconds: float = 0.03,
) -> list[tuple[float, float]]:
    """Speech segments (start, end) in seconds from one speech probability per 32 ms frame.

    Speech starts at a frame whose probability reaches ``threshold`` and ends once the probability has
    stayed below ``threshold - 0.15`` (hysteresis, so a wavering frame does not split a word) for
    ``min_silence_seconds``. Segments shorter than ``min_speech_seconds`` are dropped (a click, a bump);
    the rest are widened by ``pad_seconds`` on each side, merged where they then overlap, and clipped to
    ``[0, duration]``. This is silero VAD's own rule, written once for every backend here.

    Args:
        probabilities: One probability per frame of :data:`FRAME_SECONDS`.
        duration: Length of the audio in seconds (the last frame may be padded past it).
        threshold: Probability at which a frame counts as speech.
        min_speech_seconds: Shortest segment kept.
        min_silence_seconds: Silence that ends a segment.
        pad_seconds: Margin added on each side of a segment.
    """
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be between 0 and 1, got {threshold}.")
    low = max(threshold - 0.15, 0.01)
    raw: list[tuple[float, float]] = []
    start: float | None = None
    silence_from: float | None = None
    for i, p in enumerate(np.asarray(probabilities, dtype=np.float64).reshape(-1)):
        t = i * FRAME_SECONDS
        if start is None:
            if p >= threshold:
                start, silence_from = t, None
            continue
        if p >= threshold:
            silence_from = None
        elif p < low and silence_from is None:
            silence_from = t
        if silence_from is not None and t - silence_from >= min_silence_seconds:
            raw.append((start, silence_from))
            start = silence_from = None
    if start is not None:
        raw.append((start, duration if silence_from is None else silence_from))
    segments: list[tuple[float, float]] = []
    for begin, end in raw:
        end = min(end, duration)
        if end - begin < min_speech_seconds:
            continue
        begin, end = max(0.0, begin - pad_seconds), min(duration, end + pad_seconds)
        if segments and begin <= segments[-1][1]:
            segments[-1] = (segments[-1][0], end)
        else:
            segments.append((begin, end))
    return [(round(b, 4), round(e, 4)) for b, e in segments]


class FrameVAD:
    """Base of the VAD backends: the batch forms, built on the backend's frame-by-frame :meth:`stream`.

    Args:
        threshold: Probability at which a frame counts as speech.
        min_speech_seconds: Shortest speech segment reported (shorter bursts are not speech).
        min_silence_seconds: Silence that ends a segment.
        pad_seconds: Margin added on each side of a segment.
    """

    name = "vad"
    frame_seconds: float = FRAME_SECONDS
    sample_rate: int = SAMPLE_RATE

    def __init__(
        self,
        threshold: float = 0.5,
        min_speech_seconds: float = 0.25,
        min_silence_seconds: float = 0.1,
        pad_seconds: float = 0.03,
    ) -> None:
        if not 0.0 < float(threshold) < 1.0:
            raise ConfigError(f"threshold must be between 0 and 1, got {threshold}.")
        for key, value in (
            ("min_speech_seconds", min_speech_seconds),
            ("min_silence_seconds", min_silence_seconds),
            ("pad_seconds", pad_seconds),
        ):
            if float(value) < 0:
                raise ConfigError(f"{key} must be >= 0, got {value}.")
        self.threshold = float(threshold)
        self.min_speech_seconds = float(min_speech_seconds)
        self.min_silence_seconds = float(min_silence_seconds)
        self.pad_seconds = float(pad_seconds)

    def stream(self) -> VoiceActivityStream:
        """A new stream with its own state (implemented by each backend)."""
        raise NotImplementedError

    def speech_probabilities(self, audio: Audio) -> np.ndarray:
        """The speech probability of every 32 ms frame of ``audio`` (resampled to 16 kHz), as float32.

        Frame ``i`` covers ``[i * 0.032, (i + 1) * 0.032)`` seconds; the last one is zero-padded.
        """
        stream = self.stream()
        return np.array([stream.process(frame) for frame in frames_of(audio)], dtype=np.float32)

    def speech_segments(self, audio: Audio) -> list[tuple[float, float]]:
        """Where someone speaks in ``audio``: ``(start, end)`` pairs in seconds, in time order.

        An empty list means no speech was found (silence, noise, music, hum).
        """
        return segments_from_probabilities(
            self.speech_probabilities(audio),
            audio.duration,
            threshold=self.threshold,
            min_speech_seconds=self.min_speech_seconds,
            min_silence_seconds=self.min_silence_seconds,
            pad_seconds=self.pad_seconds,
        )

    def speech_seconds(self, audio: Audio) -> float:
        """How many seconds of ``audio`` are speech (the summed length of :meth:`speech_segments`)."""
        return float(sum(end - start for start, end in self.speech_segments(audio)))
