"""Stage 6: put an event into real speech at a verified split point, with its exact span in samples.

The event goes into a short stretch of the recording's own room tone (its quietest 60 ms, mirrored and
repeated) so the background noise runs on under it instead of dropping to digital silence;
the joins are crossfaded. A ``pause`` is room tone alone, of a chosen length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...types import Audio
from ..bank import DEFAULT_SPEECH_LEVEL_DB, RELATIVE_LEVEL_DB
from ..dsp import active_level_db

__all__ = ["Insertion", "insert_event", "match_level", "pause_audio", "room_tone"]


@dataclass
class Insertion:
    """The result of :func:`insert_event`.

    Attributes:
        audio: The speech with the event in it.
        start: Where the event starts, in seconds (``start_sample / sample_rate``).
        end: Where it ends.
        start_sample: First sample of the event.
        end_sample: One past its last sample (``audio.samples[start_sample:end_sample]`` is the event, over
            the room tone).
        point_sample: Where the source was cut.
    """

    audio: Audio
    start: float
    end: float
    start_sample: int
    end_sample: int
    point_sample: int

    def event_dict(self, label: str) -> dict[str, Any]:
        """One manifest ``events`` entry."""
        return {
            "label": label,
            "start": round(self.start, 4),
            "end": round(self.end, 4),
            "start_sample": self.start_sample,
            "end_sample": self.end_sample,
        }


def pause_audio(seconds: float, sample_rate: int) -> Audio:
    """Silence of ``seconds`` (the ``pause`` event: :func:`insert_event` fills it with room tone)."""
    if seconds <= 0:
        raise ConfigError(f"A pause must be longer than 0 s, got {seconds}.")
    return Audio(np.zeros(int(round(seconds * sample_rate)), dtype=np.float32), sample_rate)


def room_tone(samples: np.ndarray, length: int, sample_rate: int, window: float = 0.06) -> np.ndarray:
    """``length`` samples of the recording's background: its quietest ``window`` seconds, mirrored and repeated.

    Playing the quietest stretch (the pause before or after the speech, usually) forwards then backwards,
    over and over, keeps the background's level and colour without clicks at the turns. Stretches holding
    digital silence (exact zeros, as some encoders pad a recording) are passed over when there is another.
    """
    from ..dsp import frame_power

    if length <= 0:
        return np.zeros(max(length, 0), dtype=np.float32)
    frame = max(int(0.01 * sample_rate), 1)
    power = frame_power(np.asarray(samples, dtype=np.float32), sample_rate, 0.01)
    span = max(int(round(window / 0.01)), 1)
    if power.size <= span:
        return np.zeros(length, dtype=np.float32)
    sums = np.convolve(power, np.ones(span), mode="valid")
    # Digital silence (zero padding an encoder or editor added) is not the room's sound: a join filled with it
    # drops to nothing. Use the quietest stretch without such frames when the recording has one.
    digital = np.convolve((power <= 1e-10).astype(np.float64), np.ones(span), mode="valid") > 0
    if not digital.all():
        sums = np.where(digital, np.inf, sums)
    start = int(np.argmin(sums)) * frame
    excerpt = np.asarray(samples[start : start + span * frame], dtype=np.float32)
    excerpt = excerpt - float(np.mean(excerpt))
    cycle = np.concatenate([excerpt, excerpt[::-1]])
    return np.tile(cycle, int(np.ceil(length / cycle.size)))[:length].astype(np.float32)


def match_level(event: np.ndarray, speech: np.ndarray, sample_rate: int, label: str) -> np.ndarray:
    """Scale ``event`` so its active level sits :data:`~emotionlayer.paralinguistics.bank.RELATIVE_LEVEL_DB`
    of ``label`` from the speech's (as the event bank does), peaking at 0.95 at most."""
    event = np.asarray(event, dtype=np.float32)
    level = active_level_db(event, sample_rate)
    if level is None:
        return event
    speech_level = active_level_db(np.asarray(speech, dtype=np.float32), sample_rate)
    target = (speech_level if speech_level is not None else DEFAULT_SPEECH_LEVEL_DB) + RELATIVE_LEVEL_DB.get(
        label, -6.0
    )
    out = event * np.float32(10 ** ((target - level) / 20.0))
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0.95:
        out *= np.float32(0.95 / peak)
    return out.astype(np.float32)


def insert_event(
    audio: Audio,
    point_seconds: float,
    event_audio: Audio | np.ndarray,
    pad: float = 0.08,
    crossfade: float = 0.01,
    fill_room_tone: bool = True,
) -> Insertion:
    """Insert ``event_audio`` into ``audio`` at ``point_seconds``.

    The source is cut at the point; ``pad`` seconds, the event and ``pad`` seconds more are put in between
    (on the recording's room tone, see :func:`room_tone`, or digital silence), and both joins crossfade over
    ``crossfade`` seconds. The event's own samples are added unchanged, so its span is exact to the sample.

    Args:
        audio: The speech.
        point_seconds: Where to insert (a verified split point).
        event_audio: The event (resampled to ``audio``'s rate if an :class:`Audio` at another rate; a bare
            array must be at ``audio``'s rate). For a pause pass :func:`pause_audio`.
        pad: Silence on each side of the event, in seconds (at least ``crossfade``).
        crossfade: Length of each crossfade, in seconds.
        fill_room_tone: Fill the inserted stretch with the recording's background instead of zeros.

    Returns:
        An :class:`Insertion` with the new audio and the event's exact span.

    Raises:
        ConfigError: the point is outside the audio, or the event is empty.
    """
    rate = audio.sample_rate
    if isinstance(event_audio, Audio):
        event = event_audio.resample(rate).samples
    else:
        event = np.asarray(event_audio, dtype=np.float32).reshape(-1)
    if event.size == 0:
        raise ConfigError("The event to insert is empty.")
    samples = audio.samples
    cut = int(round(point_seconds * rate))
    fade = max(int(round(crossfade * rate)), 0)
    pad_samples = max(int(round(pad * rate)), fade)
    if not fade <= cut <= len(samples) - fade:
        raise ConfigError(
            f"Insertion point {point_seconds:.3f} s is outside the audio (0-{audio.duration:.3f} s, less the "
            f"{crossfade} s crossfades)."
        )
    length = 2 * pad_samples + event.size
    bed = room_tone(samples, length, rate) if fill_room_tone else np.zeros(length, dtype=np.float32)
    bed[pad_samples : pad_samples + event.size] += event
    if fade:
        ramp = np.sin(np.linspace(0.0, np.pi / 2.0, fade, dtype=np.float32)) ** 2
        first = samples[cut - fade : cut] * ramp[::-1] + bed[:fade] * ramp
        second = bed[length - fade :] * ramp[::-1] + samples[cut : cut + fade] * ramp
        out = np.concatenate([samples[: cut - fade], first, bed[fade : length - fade], second, samples[cut + fade :]])
    else:
        out = np.concatenate([samples[:cut], bed, samples[cut:]])
    start = cut - fade + pad_samples
    end = start + event.size
    return Insertion(Audio(out.astype(np.float32), rate), start / rate, end / rate, start, end, cut)
