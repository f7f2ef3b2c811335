"""What every emotionlayer TTS backend shares: tag handling, style limits, pitch shifting, streaming.

A backend subclasses :class:`SentenceSynthesizer` and implements one method,
``_synthesize_text(text, style) -> Iterator[np.ndarray]``, which turns a run of words (no tags) into one
float32 array per sentence at ``self.sample_rate`` with the style's rate and pitch applied. The base
class then gives it:

* ``synthesize(text, style=None) -> Audio`` and ``synthesize_stream(text, style=None) -> Iterator[Audio]``
  (one chunk per sentence, so a pipeline can start playing the first sentence while the rest is made);
* paralinguistic tags (:mod:`~emotionlayer.paralinguistics.tags`) that are never spoken as words:
  ``[pause]`` becomes silence, other tags are rendered by the optional ``event_renderer`` or dropped
  with a logged note;
* speaking-style limits: a value a backend cannot express is clamped to the nearest one it can, and the
  clamping is logged (never ignored silently);
* loudness: ``style.volume`` is applied as a gain with a soft limiter, so loud styles do not clip.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from ...errors import ConfigError
from ...paralinguistics.tags import TagSegment, TextSegment, split_tags
from ...types import Audio, SpeakingStyle

logger = logging.getLogger(__name__)

#: ``event_renderer(label, context_audio, sample_rate) -> samples or None``: audio to insert for a tag.
#: ``label`` is one of :data:`~emotionlayer.paralinguistics.tags.TAGS` (never ``"pause"``, which is
#: always silence); ``context_audio`` is the speech just before the tag (possibly empty), so that the
#: renderer can match its level and pitch. Returning ``None`` drops the tag (with a logged note).
EventRenderer = Callable[[str, np.ndarray, int], "np.ndarray | None"]

#: Peak level of neutral speech before the style's gain (about -3 dBFS), leaving room for louder styles.
HEADROOM_PEAK = 0.7

@dataclass(frozen=True)
class StyleLimits:
    """The range of each speaking-style field a backend can express.

    Attributes:
        rate: (slowest, fastest) speaking-rate factor.
        pitch_semitones: (lowest, highest) pitch shift.
        volume: (quietest, loudest) gain factor.
    """

    rate: tuple[float, float] = (0.5, 2.0)
    pitch_semitones: tuple[float, float] = (-6.0, 6.0)
    volume: tuple[float, float] = (0.0, 2.0)


def silence(seconds: float, sample_rate: int) -> np.ndarray:
    """``seconds`` of digital silence as float32."""
    return np.zeros(max(0, int(round(seconds * sample_rate))), dtype=np.float32)


def pitch_ratio(semitones: float) -> float:
    """Frequency ratio of a shift by ``semitones`` (12 semitones = one octave = ratio 2)."""
    return float(2.0 ** (semitones / 12.0))


def resample_by_ratio(samples: np.ndarray, ratio: float) -> np.ndarray:
    """Play ``samples`` ``ratio`` times faster: pitch and tempo both rise by ``ratio``.

    Used with a synthesis that was made ``ratio`` times slower, this shifts pitch while keeping the
    intended tempo (the "tape-speed" method). Formants move with the pitch, which is inaudible as an
    artefact for a few semitones and costs a fraction of a millisecond per second of audio.
    """
    if abs(ratio - 1.0) < 1e-6 or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples.astype(np.float32), ratio, 1.0, quality="HQ").astype(np.float32)


def shift_pitch_phase_vocoder(samples: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping duration (librosa phase vocoder + resampling)."""
    if abs(semitones) < 1e-3 or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    import librosa

    shifted = librosa.effects.pitch_shift(samples.astype(np.float32), sr=sample_rate, n_steps=semitones)
    return shifted.astype(np.float32)


def apply_gain(samples: np.ndarray, gain: float, ceiling: float = 0.98) -> np.ndarray:
    """Multiply by ``gain``; peaks above ``ceiling`` are soft-limited (tanh) instead of clipped."""
    out = samples.astype(np.float32) * np.float32(gain)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > ceiling:
        knee = 0.8 * ceiling
        over = np.abs(out) > knee
        span = ceiling - knee
        out[over] = np.sign(out[over]) * (knee + span * np.tanh((np.abs(out[over]) - knee) / span))
    return out


class SentenceSynthesizer:
    """Base class of emotionlayer's TTS backends (see the module docstring).

    Subclasses set ``sample_rate`` (a property is fine), ``name``, ``limits`` and implement
    :meth:`_synthesize_text`.

    Args:
        event_renderer: Optional ``(label, context_audio, sample_rate) -> np.ndarray | None`` that supplies
            the audio for a paralinguistic tag such as ``[laugh]``; without it such tags are dropped and
            logged. ``[pause]`` is always silence.
        pause_seconds: Length of a bare ``[pause]`` (``[pause 0.8s]`` sets its own).
        sentence_silence: Silence put between two sentences, in seconds.
    """

    name: str = "tts"
    limits: StyleLimits = StyleLimits()

    def __init__(
        self,
        event_renderer: EventRenderer | None = None,
        pause_seconds: float = 0.5,
        sentence_silence: float = 0.12,
    ) -> None:
        if event_renderer is not None and not callable(event_renderer):
            raise ConfigError(
                "event_renderer must be a callable (label, context_audio, sample_rate) -> array or None; "
                f"got {type(event_renderer).__name__}."
            )
        if pause_seconds < 0 or sentence_silence < 0:
            raise ConfigError("pause_seconds and sentence_silence must be >= 0 seconds.")
        self.event_renderer = event_renderer
        self.pause_seconds = float(pause_seconds)
        self.sentence_silence = float(sentence_silence)
        self._noted: set[str] = set()

    # --- to implement ---------------------------------------------------------------------------
    sample_rate: int

    def _synthesize_text(self, text: str, style: SpeakingStyle) -> Iterator[np.ndarray]:
        """Yield one float32 array per sentence of ``text`` (no tags), rate and pitch applied."""
        raise NotImplementedError

    # --- shared behaviour -----------------------------------------------------------------------
    def _note(self, message: str) -> None:
        """Log ``message`` at INFO once per backend instance (style mappings repeat every sentence)."""
        if message not in self._noted:
            self._noted.add(message)
            logger.info("%s: %s", self.name, message)

    def resolve_style(self, style: SpeakingStyle | None) -> SpeakingStyle:
        """The style this backend will actually render: each field clamped to :attr:`limits`.

        A clamped field is logged (once per instance), so that no part of a style is ignored silently.
        """
        style = style or SpeakingStyle()
        changes: dict[str, float] = {}
        for field_name in ("rate", "pitch_semitones", "volume"):
            value = float(getattr(style, field_name))
            low, high = getattr(self.limits, field_name)
            if not math.isfinite(value):
                raise ConfigError(f"SpeakingStyle.{field_name} must be a finite number; got {value!r}.")
            clamped = min(max(value, low), high)
            if clamped != value:
                self._note(
                    f"style {style.name!r}: {field_name}={value:g} is outside what this backend can express "
                    f"({low:g}..{high:g}); using {clamped:g}"
                )
                changes[field_name] = clamped
        return replace(style, **changes) if changes else style

    def _finish(self, samples: np.ndarray, style: SpeakingStyle) -> np.ndarray:
        """Bring a sentence to the common level (peak :data:`HEADROOM_PEAK`) and apply the style's volume."""
        peak = float(np.max(np.abs(samples))) if samples.size else 0.0
        if peak < 1e-6:
            return samples.astype(np.float32)
        return apply_gain(samples, HEADROOM_PEAK / peak * style.volume)

    def _render_tag(self, tag: TagSegment, context: np.ndarray) -> np.ndarray | None:
        if tag.known and tag.label == "pause":
            seconds = self.pause_seconds if tag.seconds is None else tag.seconds
            return silence(seconds, self.sample_rate)
        if tag.known and self.event_renderer is not None:
            rendered = self.event_renderer(tag.label, context, self.sample_rate)
            if rendered is not None:
                return np.asarray(rendered, dtype=np.float32).reshape(-1)
            logger.info("%s: the event renderer gave no audio for %s; dropped it", self.name, tag.raw)
            return None
        reason = "no event_renderer is set" if tag.known else "it is not a known paralinguistic tag"
        logger.info("%s: dropped %s from the text (%s; it is not read aloud)", self.name, tag.raw, reason)
        return None

    def synthesize_stream(self, text: str, style: SpeakingStyle | None = None) -> Iterator[Audio]:
        """Speak ``text`` one sentence at a time.

        Args:
            text: Reply text; paralinguistic tags in it are rendered or dropped, never read aloud.
            style: How to speak; ``None`` is neutral.

        Yields:
            One :class:`Audio` per sentence at :attr:`sample_rate` (a tag between sentences comes as
            its own chunk; the silence between sentences leads the next chunk).
        """
        resolved = self.resolve_style(style)
        context = np.zeros(0, dtype=np.float32)
        spoken_before = False
        for segment in split_tags(text):
            if isinstance(segment, TagSegment):
                rendered = self._render_tag(segment, context)
                if rendered is not None and rendered.size:
                    yield Audio(rendered, self.sample_rate)
                    spoken_before = False  # a tag already separates what comes next
                continue
            assert isinstance(segment, TextSegment)
            for sentence in self._synthesize_text(segment.text, resolved):
                sentence = self._finish(sentence, resolved)
                if spoken_before and self.sentence_silence > 0:
                    sentence = np.concatenate([silence(self.sentence_silence, self.sample_rate), sentence])
                context = sentence
                spoken_before = True
                yield Audio(sentence, self.sample_rate)

    def synthesize(self, text: str, style: SpeakingStyle | None = None) -> Audio:
        """Speak ``text`` in ``style``.

        Args:
            text: Reply text; paralinguistic tags in it are rendered or dropped, never read aloud.
            style: How to speak; ``None`` is neutral.

        Returns:
            Mono float32 :class:`Audio` at :attr:`sample_rate` (empty if the text had nothing to say).
        """
        chunks = [chunk.samples for chunk in self.synthesize_stream(text, style)]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return Audio(samples, self.sample_rate)
