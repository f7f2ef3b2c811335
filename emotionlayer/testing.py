"""Fake components and audio for tests of code built on emotionlayer.

They are deterministic, need no model, and implement the real Protocols, so a pipeline built from them
behaves like a real one (timings, streaming, history) in milliseconds. Importing this module also
registers them as the ``dummy`` backend of each kind, so a config can name them::

    import emotionlayer.testing
    from emotionlayer.pipeline import CascadePipeline

    pipe = CascadePipeline.from_config({"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy"})
    turn = pipe.respond(emotionlayer.testing.tone(1.0))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .labels import EMOTIONS
from .registry import register
from .types import Audio, EmotionPrediction, SpeakingStyle, Transcript


def tone(seconds: float = 1.0, sample_rate: int = 16000, frequency: float = 220.0, amplitude: float = 0.3) -> Audio:
    """A sine tone with a short fade in and out: valid, non-silent audio for tests."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    samples = amplitude * np.sin(2 * np.pi * frequency * t)
    fade = min(len(t) // 10, int(0.01 * sample_rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    return Audio(samples.astype(np.float32), sample_rate)


@register("ser", "dummy")
class DummySER:
    """Fake SER: always predicts ``label`` with probability ``confidence``, the rest spread evenly."""

    requires: tuple[str, ...] = ()
    extra = None
    labels = EMOTIONS

    def __init__(self, label: str = "neutral", confidence: float = 0.8) -> None:
        self.label = label
        self.confidence = confidence
        self.name = f"dummy-ser({label})"
        self.calls = 0

    def predict(self, audio: Audio) -> EmotionPrediction:
        self.calls += 1
        rest = (1.0 - self.confidence) / (len(EMOTIONS) - 1)
        probs = {e: (self.confidence if e == self.label else rest) for e in EMOTIONS}
        return EmotionPrediction.from_probabilities(probs, model=self.name)


@register("asr", "dummy")
class DummyASR:
    """Fake ASR: returns ``text`` for any audio."""

    requires: tuple[str, ...] = ()
    extra = None

    def __init__(self, text: str = "my phone won't turn on") -> None:
        self.text = text
        self.name = "dummy-asr"
        self.calls = 0

    def transcribe(self, audio: Audio, language: str | None = None) -> Transcript:
        self.calls += 1
        return Transcript(self.text, language or "en", model=self.name)


@register("llm", "dummy")
class DummyLLM:
    """Fake LLM: answers with ``reply`` (or echoes the last user message), streamed word by word."""

    requires: tuple[str, ...] = ()
    extra = None

    def __init__(self, reply: str | None = "I hear you. Let's sort this out together.") -> None:
        self.reply = reply
        self.name = "dummy-llm"
        self.last_messages: list[dict[str, str]] = []

    def _answer(self, messages: Sequence[dict[str, str]]) -> str:
        self.last_messages = [dict(m) for m in messages]
        if self.reply is not None:
            return self.reply
        return f"You said: {messages[-1]['content']}"

    def generate(self, messages: Sequence[dict[str, str]], **options: object) -> str:
        return self._answer(messages)

    def stream_generate(self, messages: Sequence[dict[str, str]], **options: object) -> Iterator[str]:
        words = self._answer(messages).split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word


@register("tts", "dummy")
class DummyTTS:
    """Fake TTS: a tone 60 ms per character whose pitch, tempo and level follow the speaking style."""

    requires: tuple[str, ...] = ()
    extra = None

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self.name = "dummy-tts"
        self.calls: list[tuple[str, SpeakingStyle | None]] = []

    def synthesize(self, text: str, style: SpeakingStyle | None = None) -> Audio:
        self.calls.append((text, style))
        style = style or SpeakingStyle()
        seconds = max(0.2, 0.06 * len(text) / style.rate)
        frequency = 180.0 * 2 ** (style.pitch_semitones / 12.0)
        return tone(seconds, self.sample_rate, frequency, amplitude=min(0.9, 0.3 * style.volume))
