"""The one place audio enters emotionlayer: load, mix down, resample, validate.

``load_audio`` accepts a path (wav, flac, ogg, mp3), raw file bytes, a NumPy array or an
:class:`~emotionlayer.types.Audio`, and returns a validated mono float32 ``Audio``. Problems are reported
as :class:`~emotionlayer.errors.AudioError` with a message that says how to fix the input.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from .errors import AudioError, EmotionLayerError

logger = logging.getLogger(__name__)

#: The sample rate of every speech model here (whisper, the speech encoders, the SER, the VAD): 16 kHz mono.
SAMPLE_RATE = 16000
#: Samples in one frame of live audio: 32 ms at 16 kHz, the frame silero VAD is trained on and the live
#: loop takes.
FRAME_SAMPLES = 512
#: Seconds in one frame.
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
#: A turn whose ASR no-speech probability (whisper's) is at least this holds no speech: the default of the
#: cascade's speech gate (``run.no_speech_threshold``) and of a live session's (``LiveConfig``).
NO_SPEECH_THRESHOLD = 0.8


@dataclass(frozen=True, eq=False)
class Audio:
    """A mono float32 waveform and its sample rate.

    Build it with :func:`emotionlayer.audio.load_audio` (from a path, bytes or an array) so that it is
    validated; the constructor itself only normalises dtype and shape.

    Attributes:
        samples: 1-D float32 array in [-1, 1].
        sample_rate: Samples per second.
        path: Where the audio came from, if a file.
    """

    samples: np.ndarray
    sample_rate: int
    path: str | None = None

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise EmotionLayerError(
                f"Audio samples must be 1-D (mono), got shape {samples.shape}. "
                "Use emotionlayer.audio.load_audio(), which mixes channels down."
            )
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", int(self.sample_rate))

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / float(self.sample_rate) if self.sample_rate else 0.0

    def resample(self, sample_rate: int) -> Audio:
        """Return this audio at another sample rate (the same object if it already is)."""
        return resample(self, sample_rate)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Audio):
            return NotImplemented
        return (
            self.sample_rate == other.sample_rate
            and self.samples.shape == other.samples.shape
            and bool(np.array_equal(self.samples, other.samples))
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        """A JSON-ready description; samples are included only when asked (they can be large)."""
        out: dict[str, Any] = {
            "sample_rate": self.sample_rate,
            "duration": round(self.duration, 6),
            "path": self.path,
        }
        if include_samples:
            out["samples"] = self.samples.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Audio:
        """Rebuild from :meth:`to_dict` output: from the samples if present, else by loading ``path``."""
        if "samples" in data:
            return cls(np.asarray(data["samples"], dtype=np.float32), data["sample_rate"], data.get("path"))
        if data.get("path"):
            return load_audio(data["path"])
        raise EmotionLayerError("An Audio dict needs either 'samples' or a 'path' to load from.")


AudioSource = Union[str, os.PathLike, bytes, bytearray, np.ndarray, Audio]

#: Longest input accepted by default, in seconds. Longer recordings should be split first.
DEFAULT_MAX_SECONDS = 120.0
#: Shortest input accepted, in seconds.
MIN_SECONDS = 0.1
#: Peak level (full scale = 1.0) below which a recording counts as silent (about -80 dBFS).
SILENCE_PEAK = 1e-4


def _decode(data: Union[str, os.PathLike, io.BytesIO], label: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        info = sf.info(data)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError with terse messages
        raise AudioError(
            f"Could not read {label} as audio ({exc}). Supported formats are WAV, FLAC, OGG and MP3; "
            "convert the file (e.g. `ffmpeg -i input.m4a output.wav`) and try again."
        ) from exc
    if isinstance(data, io.BytesIO):
        data.seek(0)
    if info.frames == 0:
        raise AudioError(f"{label} contains no audio samples. Record or choose a non-empty file.")
    if max_seconds is not None and info.duration > max_seconds:
        raise AudioError(
            f"{label} is {info.duration:.1f} s long; the limit is {max_seconds:.0f} s. Split it into shorter "
            "turns (e.g. `sox in.wav out.wav trim 0 60 : newfile : restart`) or raise the limit with max_seconds."
        )
    try:
        samples, sample_rate = sf.read(data, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"Could not decode {label} ({exc}). The file may be truncated or corrupt.") from exc
    return samples, int(sample_rate)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Mix a (frames, channels) or (channels, frames) array down to one channel."""
    samples = np.asarray(samples)
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise AudioError(f"Audio arrays must be 1-D or 2-D (frames x channels); got shape {samples.shape}.")
    # Treat the shorter axis as channels: (2, 48000) and (48000, 2) are both stereo.
    channel_axis = 0 if samples.shape[0] < samples.shape[1] else 1
    return samples.mean(axis=channel_axis)


def resample(audio: Audio, sample_rate: int) -> Audio:
    """Return ``audio`` at ``sample_rate`` (soxr high quality)."""
    if audio.sample_rate == sample_rate:
        return audio
    import librosa

    samples = librosa.resample(audio.samples, orig_sr=audio.sample_rate, target_sr=sample_rate, res_type="soxr_hq")
    return Audio(samples.astype(np.float32), sample_rate, audio.path)


def validate(audio: Audio, label: str = "The audio", max_seconds: float | None = DEFAULT_MAX_SECONDS) -> Audio:
    """Check that audio is usable speech input; raise :class:`AudioError` saying what to fix if not."""
    samples = audio.samples
    if samples.size == 0:
        raise AudioError(f"{label} has zero samples. Pass a recording that contains speech.")
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise AudioError(
            f"{label} contains {bad} NaN or infinite samples. Clean the signal (e.g. np.nan_to_num) before passing it."
        )
    if audio.sample_rate < 4000:
        raise AudioError(f"{label} has sample rate {audio.sample_rate} Hz; at least 8000 Hz is needed for speech.")
    if audio.duration < MIN_SECONDS:
        raise AudioError(
            f"{label} is {audio.duration * 1000:.0f} ms long; at least {MIN_SECONDS * 1000:.0f} ms is needed."
        )
    if max_seconds is not None and audio.duration > max_seconds:
        raise AudioError(
            f"{label} is {audio.duration:.1f} s long; the limit is {max_seconds:.0f} s. "
            "Split it into shorter turns or raise the limit with max_seconds."
        )
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioError(f"{label} is silent (peak below -80 dBFS). Check the microphone or the file.")
    return audio


def load_audio(
    source: AudioSource,
    sample_rate: int | None = None,
    *,
    source_rate: int | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    check: bool = True,
) -> Audio:
    """Load audio from a path, file bytes, an array or an ``Audio``, as validated mono float32.

    Args:
        source: A path to a WAV/FLAC/OGG/MP3 file, the bytes of such a file, a NumPy array
            (then ``source_rate`` is required) or an :class:`Audio`.
        sample_rate: Resample to this rate; ``None`` keeps the original rate.
        source_rate: Sample rate of an array ``source``.
        max_seconds: Refuse longer input (checked before decoding, so a huge file never fills memory).
            ``None`` disables the limit.
        check: Validate the result (non-empty, finite, not silent, within limits).

    Returns:
        A mono float32 :class:`Audio`.

    Raises:
        AudioError: with a message that names the problem and how to fix it.
    """
    path: str | None = None
    if isinstance(source, Audio):
        audio = source
        label = f"Audio from {source.path}" if source.path else "The audio"
    elif isinstance(source, (bytes, bytearray)):
        label = "The audio bytes"
        if len(source) == 0:
            raise AudioError("The audio bytes are empty. Pass the contents of a WAV/FLAC/OGG/MP3 file.")
        samples, rate = _decode(io.BytesIO(bytes(source)), label, max_seconds)
        audio = Audio(to_mono(samples), rate)
    elif isinstance(source, np.ndarray) or (
        isinstance(source, (list, tuple)) and source and not isinstance(source[0], str)
    ):
        label = "The audio array"
        if source_rate is None:
            raise AudioError("An audio array needs its sample rate: load_audio(array, source_rate=16000).")
        array = np.asarray(source)
        if array.dtype.kind == "i":  # PCM integers -> [-1, 1]
            array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
        audio = Audio(to_mono(array).astype(np.float32), source_rate)
    elif isinstance(source, (str, os.PathLike)):
        file = Path(source).expanduser()
        path = str(file)
        label = f"Audio file {path}"
        if not file.exists():
            raise AudioError(f"No such audio file: {path}. Check the path (relative paths start at {os.getcwd()}).")
        if file.is_dir():
            raise AudioError(f"{path} is a folder, not an audio file. Pass one WAV/FLAC/OGG/MP3 file.")
        if file.stat().st_size == 0:
            raise AudioError(f"Audio file {path} is empty (0 bytes). Record again or choose another file.")
        samples, rate = _decode(path, label, max_seconds)
        audio = Audio(to_mono(samples), rate, path)
    else:
        raise AudioError(
            f"Cannot load audio from a {type(source).__name__}. Pass a file path, file bytes, a NumPy array or an "
            "Audio."
        )
    if check:
        validate(audio, label, max_seconds)
    if sample_rate is not None:
        audio = resample(audio, sample_rate)
    return audio


def save_audio(audio: Audio, path: Union[str, os.PathLike]) -> str:
    """Write ``audio`` as 16-bit PCM WAV atomically (a killed write never leaves a half file)."""
    import soundfile as sf

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    sf.write(str(tmp), np.clip(audio.samples, -1.0, 1.0), audio.sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, target)
    return str(target)


def rms_dbfs(samples: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))
