"""An energy VAD: a frame is "speech" when it is loud enough. No dependency, no model.

It cannot tell speech from noise, music or hum (all of them are loud); it tells *sound* from silence.
Use it in tests (where a tone stands in for speech), where no model can be installed, or in front of a
clean close-talking microphone. The packaged default is :mod:`~emotionlayer.components.vad.silero`.
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...registry import register
from .common import FRAME_SAMPLES, FrameVAD, check_frame


class EnergyStream:
    """Per-frame speech probability from loudness: a logistic curve around the threshold level."""

    frame_samples = FRAME_SAMPLES

    def __init__(self, threshold_db: float, slope_db: float) -> None:
        self.threshold_db = threshold_db
        self.slope_db = slope_db

    def reset(self) -> None:
        """Nothing to forget: each frame is judged on its own."""

    def process(self, frame: np.ndarray) -> float:
        """Probability in [0, 1]: 0.5 at ``threshold_db`` dBFS RMS, near 1 well above it, near 0 below."""
        samples = check_frame(frame).astype(np.float64)
        rms = float(np.sqrt(np.mean(samples * samples)))
        level = 20.0 * np.log10(rms) if rms > 0 else -200.0
        return float(1.0 / (1.0 + np.exp(-(level - self.threshold_db) / self.slope_db)))


@register("vad", "energy")
class EnergyVAD(FrameVAD):
    """RMS threshold: any sound louder than ``threshold_db`` counts (noise and music too). No dependency.

    Args:
        threshold_db: Frame RMS level (dBFS) at which a frame is as likely speech as not.
        slope_db: How sharply the probability rises around the threshold (dB per logistic unit).
        threshold: Probability at which a frame counts as speech.
        min_speech_seconds: Shortest segment reported.
        min_silence_seconds: Silence that ends a segment.
        pad_seconds: Margin added on each side of a segment.
    """

    requires: tuple[str, ...] = ()
    extra = None
    name = "energy-vad"

    def __init__(
        self,
        threshold_db: float = -45.0,
        slope_db: float = 2.0,
        threshold: float = 0.5,
        min_speech_seconds: float = 0.25,
        min_silence_seconds: float = 0.1,
        pad_seconds: float = 0.03,
    ) -> None:
        super().__init__(threshold, min_speech_seconds, min_silence_seconds, pad_seconds)
        if float(slope_db) <= 0:
            raise ConfigError(f"slope_db must be > 0, got {slope_db}.")
        self.threshold_db = float(threshold_db)
        self.slope_db = float(slope_db)
        self.name = f"energy-vad({self.threshold_db:g} dBFS)"

    def stream(self) -> EnergyStream:
        """A new :class:`EnergyStream`."""
        return EnergyStream(self.threshold_db, self.slope_db)
