"""The component interfaces. Each kind has one main verb; backends implement the Protocol.

(Dialogue systems, which compose components into a whole turn, have their seam in :mod:`emotionlayer.systems`.)

Backends need not inherit from anything: any class with these methods works, and
``@register(kind, name)`` (see :mod:`emotionlayer.registry`) makes it available by name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..types import Audio, EmotionPrediction, SpeakingStyle, Transcript, VocalEvent

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@runtime_checkable
class SpeechEmotionRecognizer(Protocol):
    """SER: how something was said."""

    labels: Sequence[str]

    def predict(self, audio: Audio) -> EmotionPrediction: ...


@runtime_checkable
class SpeechRecognizer(Protocol):
    """ASR: what was said."""

    def transcribe(self, audio: Audio, language: str | None = None) -> Transcript: ...


@runtime_checkable
class LanguageModel(Protocol):
    """LLM: chat messages in, reply text out; ``stream_generate`` yields text pieces as they come."""

    def generate(self, messages: Sequence[Message], **options: object) -> str: ...

    def stream_generate(self, messages: Sequence[Message], **options: object) -> Iterator[str]: ...


@runtime_checkable
class SpeechSynthesizer(Protocol):
    """TTS: text and a speaking style in, audio out. ``sample_rate`` is the rate of what it returns."""

    sample_rate: int

    def synthesize(self, text: str, style: SpeakingStyle | None = None) -> Audio: ...


@runtime_checkable
class EventDetector(Protocol):
    """Paralinguistic event detection (laugh, sigh, cough, breath, ...)."""

    def detect(self, audio: Audio) -> list[VocalEvent]: ...


@runtime_checkable
class VoiceActivityStream(Protocol):
    """Live VAD: one frame of ``frame_samples`` samples at 16 kHz in, its speech probability out."""

    frame_samples: int

    def process(self, frame: np.ndarray) -> float: ...

    def reset(self) -> None: ...


@runtime_checkable
class VoiceActivityDetector(Protocol):
    """VAD: where in the audio someone speaks (and whether anyone does at all).

    ``speech_segments`` gives ``(start, end)`` seconds of speech (empty: no speech), ``speech_probabilities``
    one probability per 32 ms frame at 16 kHz, and ``stream()`` a :class:`VoiceActivityStream` for live audio.
    """

    def speech_segments(self, audio: Audio) -> list[tuple[float, float]]: ...

    def speech_probabilities(self, audio: Audio) -> np.ndarray: ...

    def stream(self) -> VoiceActivityStream: ...
