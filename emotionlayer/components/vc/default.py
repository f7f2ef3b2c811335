"""The default voice converter: matches an event clip to the speaker's pitch, timbre and loudness, offline.

Three steps, each measured on the speaker's own speech (the ``reference``, the speech the event goes into):

1. **Pitch** (voiced events only: not tsk, gasp, breath, cough, nor a clip with under 40% voiced frames).
   The event keeps its own height above the voice: a laugh sits well above speech, a sigh near it, throat
   clearing below. The target is the speaker's median F0 times the event's ratio to its base pitch, when
   that is known (the bank's synthetic clips record the base pitch they were made for in ``synth.json``),
   else the label's typical ratio (:data:`TYPICAL_PITCH_RATIO`, measured on the packaged bank). The shift
   (``librosa.effects.pitch_shift``, which keeps the length) is limited to +-``max_shift`` semitones.
2. **Spectral envelope.** The long-term envelope of the speaker's voiced frames against the event's
   (mean power spectrum, cepstrally smoothed: resonances and channel colour, not harmonics) gives a
   smooth equaliser, its gains limited to +-``max_gain_db``, applied in the STFT domain; for unvoiced
   events at ``unvoiced_envelope`` strength, so a click stays a click.
3. **Loudness.** The event's active level is set :data:`~emotionlayer.paralinguistics.bank.RELATIVE_LEVEL_DB`
   from the speaker's (a laugh 2 dB under the speech, a sigh 8 dB), and turned down if it would peak over 0.95.

The output is at the reference's sample rate. NumPy, SciPy and librosa only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ...registry import register
from ...types import Audio
from .common import PEAK, UNVOICED_LABELS, frame_signal, limit_peak, match_level, spectral_envelope, voiced_f0

logger = logging.getLogger(__name__)

#: Median pitch of an event over the base pitch of the voice making it (the packaged bank's synthetic
#: clips: ``pitch / base pitch`` in docs/paralinguistics.md). Labels not listed keep the speaker's pitch.
TYPICAL_PITCH_RATIO: dict[str, float] = {"laugh": 1.65, "sigh": 1.10, "throat_clearing": 0.67}

#: Below this share of voiced frames among its loud ones, an event is not pitch-shifted: a breathy sigh (about
#: a third voiced) is mostly noise, and moving that noise with the pitch makes it another sound.
MIN_VOICED_SHARE = 0.4


@dataclass(frozen=True)
class Conversion:
    """What :meth:`DefaultVoiceConverter.convert` measured and did (``last`` on the converter)."""

    label: str | None
    event_f0: float | None
    speaker_f0: float | None
    target_f0: float | None
    shift_semitones: float
    voiced_share: float
    max_gain_db: float
    level_change_db: float


def _base_f0_of(path: str | None) -> float | None:
    """The base pitch a bank clip was synthesised for, from the ``synth.json`` next to it."""
    if not path:
        return None
    meta = Path(path).parent / "synth.json"
    if not meta.is_file():
        return None
    try:
        info = json.loads(meta.read_text(encoding="utf-8")).get(Path(path).name, {})
    except (OSError, ValueError):
        return None
    value = info.get("f0") if isinstance(info, dict) else None
    return float(value) if value else None


@register("vc", "default")
class DefaultVoiceConverter:
    """Pitch, spectral-envelope and loudness matching of an event clip to the speaker (offline, no model).

    Args:
        max_shift: Largest pitch shift, in semitones (either way).
        max_gain_db: Largest gain of the envelope equaliser at any frequency, in dB (either way).
        unvoiced_envelope: Strength (0-1) of the envelope match for unvoiced events.
        match_pitch: Shift the pitch of voiced events.
        match_envelope: Equalise towards the speaker's spectral envelope.
        match_level: Set the level against the speaker's by the label's offset.
        n_fft: FFT size of the envelope analysis and of the equaliser (at the reference's rate).
        peak: Highest peak of the result.
    """

    requires = ("librosa", "scipy")
    extra = None
    name = "default voice conversion (pitch, spectral envelope, loudness)"

    def __init__(
        self,
        max_shift: float = 8.0,
        max_gain_db: float = 12.0,
        unvoiced_envelope: float = 0.5,
        match_pitch: bool = True,
        match_envelope: bool = True,
        match_level: bool = True,
        n_fft: int = 1024,
        smoothing_ms: float = 0.6,
        peak: float = PEAK,
    ) -> None:
        if max_shift < 0 or max_gain_db < 0:
            raise ConfigError(f"max_shift and max_gain_db must be >= 0, got {max_shift} and {max_gain_db}.")
        if not 0.0 <= unvoiced_envelope <= 1.0:
            raise ConfigError(f"unvoiced_envelope is a strength from 0 to 1, got {unvoiced_envelope}.")
        if n_fft < 64 or n_fft & (n_fft - 1):
            raise ConfigError(f"n_fft must be a power of two of at least 64, got {n_fft}.")
        if not 0.0 < peak <= 1.0:
            raise ConfigError(f"peak must be in (0, 1], got {peak}.")
        self.max_shift = float(max_shift)
        self.max_gain_db = float(max_gain_db)
        self.unvoiced_envelope = float(unvoiced_envelope)
        self.match_pitch = bool(match_pitch)
        self.match_envelope = bool(match_envelope)
        self.match_level = bool(match_level)
        self.n_fft = int(n_fft)
        self.smoothing_ms = float(smoothing_ms)
        self.peak = float(peak)
        #: What the last :meth:`convert` measured and did.
        self.last: Conversion | None = None

    def convert(self, event: Audio, reference: Audio, label: str | None = None, base_f0: float | None = None) -> Audio:
        """The event clip matched to the speaker of ``reference``, at ``reference``'s sample rate.

        Args:
            event: The event clip (a laugh, a sigh...), any sample rate.
            reference: Speech of the speaker the event goes next to (a few seconds of voiced speech is best).
            label: The event's label: decides whether the pitch is matched, the pitch ratio it keeps and
                its loudness offset. ``None``: voicing is measured, the speaker's pitch is the target and
                the level offset is -6 dB.
            base_f0: The base pitch of the voice the event was made with, if known (read from the bank's
                ``synth.json`` when ``event.path`` is a bank clip).
        """
        sr = int(reference.sample_rate)
        speech = np.asarray(reference.samples, dtype=np.float32)
        samples = np.asarray(event.resample(sr).samples, dtype=np.float32)
        if samples.size == 0 or not np.any(samples):
            raise ConfigError("The event clip to convert is empty or silent.")
        if not np.all(np.isfinite(samples)) or not np.all(np.isfinite(speech)):
            raise ConfigError("The event clip or the reference speech holds NaN or infinite samples.")
        event_f0, share = voiced_f0(samples, sr)
        voiced = label not in UNVOICED_LABELS and event_f0 is not None and share >= MIN_VOICED_SHARE
        speaker_f0 = voiced_f0(speech, sr, fmax=400.0)[0] if speech.size else None
        shift, target = 0.0, None
        if self.match_pitch and voiced and speaker_f0 is not None and event_f0 is not None:
            base = base_f0 or _base_f0_of(event.path)
            ratio = event_f0 / base if base else TYPICAL_PITCH_RATIO.get(label or "", 1.0)
            target = speaker_f0 * ratio
            shift = float(np.clip(12.0 * np.log2(target / event_f0), -self.max_shift, self.max_shift))
            if abs(shift) >= 0.1:
                samples = _shift_pitch(samples, sr, shift, self.n_fft, _bandwidth(samples, sr, self.n_fft))
        gain_db = 0.0
        if self.match_envelope and speech.size:
            strength = 1.0 if voiced else self.unvoiced_envelope
            samples, gain_db = self._equalise(samples, speech, sr, strength)
        samples = _tidy_edges(samples, sr)
        before = samples
        if self.match_level:
            samples = match_level(samples, sr, speech, label, self.peak)
        else:
            samples = limit_peak(samples, self.peak)
        change = _level_change(before, samples, sr)
        self.last = Conversion(label, event_f0, speaker_f0, target, shift, share, gain_db, change)
        return Audio(samples.astype(np.float32), sr)

    def _equalise(self, samples: np.ndarray, speech: np.ndarray, sr: int, strength: float) -> tuple[np.ndarray, float]:
        """Filter ``samples`` towards the speaker's long-term envelope; returns them and the largest |gain|."""
        from scipy.signal import istft, stft

        n_fft = self.n_fft
        gains = self.equaliser(samples, speech, sr) * strength
        if not np.any(gains):
            return samples, 0.0
        hop = n_fft // 4
        padded = np.pad(samples, (0, max(n_fft - len(samples), 0)))  # a tongue click can be shorter than n_fft
        _, _, spec = stft(padded, nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft, boundary="even", padded=True)
        spec *= (10.0 ** (gains / 20.0))[:, None]
        _, out = istft(spec, nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft, boundary=True)
        return np.asarray(out[: len(samples)], dtype=np.float32), float(np.max(np.abs(gains)))

    def equaliser(self, samples: np.ndarray, speech: np.ndarray, sr: int) -> np.ndarray:
        """Gain (dB) per FFT bin that moves the event's long-term envelope to the speaker's.

        Only where both have energy (within 50 dB of their peaks, 60 Hz to 0.45 x the rate) is the
        difference used; beyond that band the gain at its edge is held. The mean gain in the band is
        removed (level is step 3) and the gains are limited to +-``max_gain_db``.
        """
        n_fft = self.n_fft
        mine = spectral_envelope(samples, sr, n_fft, frames="active", lifter_ms=self.smoothing_ms)
        theirs = spectral_envelope(speech, sr, n_fft, frames="voiced", lifter_ms=self.smoothing_ms)
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
        band = (freqs >= 60.0) & (freqs <= 0.45 * sr) & (mine >= mine.max() - 50.0) & (theirs >= theirs.max() - 50.0)
        if int(band.sum()) < 4:
            return np.zeros_like(freqs)
        diff = theirs - mine
        diff = diff - float(np.mean(diff[band]))
        inside = np.flatnonzero(band)
        held = np.interp(np.arange(len(freqs)), inside, diff[inside])  # constant beyond the band's ends
        return np.clip(held, -self.max_gain_db, self.max_gain_db)


def wsola(samples: np.ndarray, length: int, sr: int, frame_ms: float = 40.0, tolerance_ms: float = 10.0) -> np.ndarray:
    """Time-stretch ``samples`` to ``length`` samples without changing their pitch (WSOLA).

    Waveform-similarity overlap-add (Verhelst and Roelands, 1993): Hann frames of ``frame_ms`` at half-frame
    hops, each taken from within ``tolerance_ms`` of its nominal place where it best continues the frame
    before. Working on the waveform, it keeps bursts and clicks sharp where a phase vocoder smears them.
    """
    x = np.asarray(samples, dtype=np.float64)
    n = max(int(frame_ms * 1e-3 * sr) // 2 * 2, 16)
    hop = n // 2
    tol = max(int(tolerance_ms * 1e-3 * sr), 1)
    analysis_hop = hop * len(x) / max(length, 1)
    window = np.hanning(n + 1)[:n]
    padded = np.pad(x, (tol, tol + 2 * n))
    frames = length // hop + 2
    out = np.zeros(frames * hop + n)
    norm = np.zeros_like(out)
    previous: int | None = None
    for k in range(frames):
        nominal = int(round(k * analysis_hop)) + tol
        if previous is None:
            position = nominal
        else:
            natural = padded[previous + hop : previous + hop + n]
            search = padded[max(nominal - tol, 0) : nominal + tol + n]
            position = max(nominal - tol, 0) + int(np.argmax(np.correlate(search, natural, mode="valid")))
        out[k * hop : k * hop + n] += padded[position : position + n] * window
        norm[k * hop : k * hop + n] += window
        previous = position
    # frame 0 is centred on sample n/2 of the output; drop the half frame of fade-in before it
    out = out / np.maximum(norm, 1e-3)
    return out[:length].astype(np.float32)


def _bandwidth(samples: np.ndarray, sr: int, n_fft: int, floor_db: float = 70.0) -> float:
    """The highest frequency the clip holds: where its mean spectrum last comes within ``floor_db`` of its peak
    (a 16 kHz recording resampled to 22.05 kHz stops at 8 kHz)."""
    frames = frame_signal(samples, sr, n_fft / sr)
    power = np.mean(np.abs(np.fft.rfft(frames * np.hanning(frames.shape[1]), axis=1)) ** 2, axis=0)
    if power.size == 0 or float(power.max()) <= 0:
        return 0.5 * sr
    above = np.flatnonzero(power >= power.max() * 10 ** (-floor_db / 10.0))
    return float(np.fft.rfftfreq(frames.shape[1], 1.0 / sr)[above[-1]])


def _shift_pitch(
    samples: np.ndarray, sr: int, semitones: float, n_fft: int, bandwidth: float | None = None
) -> np.ndarray:
    """The clip ``semitones`` higher or lower, the same length: resampled, then stretched back (:func:`wsola`).

    Shifting down leaves nothing above ``bandwidth * 2**(semitones/12)`` (``bandwidth``: the highest
    frequency the clip holds, ``sr/2`` by default); that band (breath noise and aspiration, which have no
    pitch) is taken from the original, so the shifted clip is not dulled.
    """
    import librosa
    from scipy.signal import istft, stft

    ratio = 2.0 ** (semitones / 12.0)
    squeezed = librosa.resample(samples, orig_sr=sr, target_sr=sr / ratio, res_type="soxr_hq")
    shifted = wsola(squeezed, len(samples), sr)
    if semitones >= 0:
        return shifted
    edge = (bandwidth or 0.5 * sr) * ratio * 0.95
    hop = n_fft // 4
    options = {"fs": sr, "nperseg": n_fft, "noverlap": n_fft - hop, "nfft": n_fft}
    pad = max(n_fft - len(samples), 0)
    freqs, _, low = stft(np.pad(shifted, (0, pad)), **options)
    _, _, high = stft(np.pad(samples, (0, pad)), **options)
    width = max(int(0.05 * len(freqs)), 1)  # a short crossfade between the two bands
    ramp = np.clip((freqs - edge) / (width * freqs[1]) + 0.5, 0.0, 1.0)[:, None]
    _, out = istft(low * (1.0 - ramp) + high * ramp, **options)
    return np.asarray(out[: len(samples)], dtype=np.float32)


def _tidy_edges(samples: np.ndarray, sr: int, fade_seconds: float = 0.005) -> np.ndarray:
    """No DC offset, and 5 ms fades, so the clip starts and ends at zero wherever it is inserted."""
    samples = np.asarray(samples, dtype=np.float32) - np.float32(np.mean(samples))
    fade = min(int(fade_seconds * sr), len(samples) // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        samples = samples.copy()
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    return samples


def _level_change(before: np.ndarray, after: np.ndarray, sr: int) -> float:
    from ...paralinguistics.dsp import active_level_db

    a = active_level_db(np.asarray(before, dtype=np.float32), sr)
    b = active_level_db(np.asarray(after, dtype=np.float32), sr)
    return 0.0 if a is None or b is None else float(b - a)
