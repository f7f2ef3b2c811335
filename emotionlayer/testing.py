"""Fake components and audio for tests of code built on emotionlayer.

They are deterministic, need no model, and implement the real Protocols, so a pipeline built from them
behaves like a real one (timings, streaming, history) in milliseconds. Importing this module also
registers them as the ``dummy`` backend of each kind, so a config can name them::

    import emotionlayer.testing
    from emotionlayer.pipeline import CascadePipeline

    dummies = {"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy", "vad": "energy"}
    pipe = CascadePipeline.from_config(dummies)
    turn = pipe.respond(emotionlayer.testing.tone(1.0))

The fakes hear a tone as speech; the packaged VAD (silero) rightly does not, so a dummy config names the
``energy`` VAD (which hears any loud sound) for the cascade's speech gate, or turns the gate off
(``"run": {"speech_gate": False}``). :func:`white_noise`, :func:`music` and :func:`hum` are
non-speech to test a gate with.

It also registers :class:`EchoSystem` as the dialogue system ``echo``: a toy system with its own timing
stages, for testing code that drives any system (``emotionlayer respond clip.wav --system echo``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .labels import EMOTIONS
from .registry import register
from .systems.base import (
    Perceived,
    Perception,
    SentenceAudio,
    TextPiece,
    TurnEvent,
    TurnFinished,
    UtteranceLike,
    as_utterance,
    turn_from_stream,
)
from .types import Audio, Dialogue, EmotionPrediction, Response, SpeakingStyle, Transcript, Turn


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


def white_noise(seconds: float = 3.0, sample_rate: int = 16000, amplitude: float = 0.1, seed: int = 0) -> Audio:
    """Gaussian white noise (RMS ``amplitude``): loud, and not speech."""
    rng = np.random.default_rng(seed)
    samples = amplitude * rng.standard_normal(int(seconds * sample_rate))
    return Audio(np.clip(samples, -1.0, 1.0).astype(np.float32), sample_rate)


def music(seconds: float = 3.0, sample_rate: int = 16000, amplitude: float = 0.1) -> Audio:
    """A music-like melody: half-second notes of a C major scale, each a sum of three harmonics that decays."""
    scale = (261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 493.88, 523.25)
    note = int(0.5 * sample_rate)
    t = np.arange(note) / sample_rate
    notes = []
    for i in range(int(np.ceil(seconds * sample_rate / note))):
        f = scale[i % len(scale)]
        notes.append(sum(amplitude / k * np.sin(2 * np.pi * f * k * t) for k in (1, 2, 3)) * np.exp(-3.0 * t))
    return Audio(np.concatenate(notes)[: int(seconds * sample_rate)].astype(np.float32), sample_rate)


def hum(
    seconds: float = 3.0, sample_rate: int = 16000, frequency: float = 50.0, amplitude: float = 0.05, seed: int = 0
) -> Audio:
    """A silent room with mains hum: ``frequency`` and its second harmonic, plus faint hiss."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    samples = amplitude * (np.sin(2 * np.pi * frequency * t) + 0.4 * np.sin(2 * np.pi * 2 * frequency * t))
    samples += 0.002 * rng.standard_normal(t.size)
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


@register("system", "echo")
class EchoSystem:
    """Toy dialogue system: repeats what it heard, in a tone, and reports its own stages (listen, echo, voice).

    It needs no model and no config, so tests of code that drives *any* dialogue system (the CLI, the
    evaluator, a live session) can run it in milliseconds. ``delay`` seconds pass after every word it
    streams, so a test can close the stream while it is still talking.

    Args:
        emotion: The emotion it "hears" when the utterance does not say one.
        delay: Seconds to wait after each streamed word.
    """

    name = "echo"
    requires: tuple[str, ...] = ()
    extra = None

    def __init__(self, emotion: str = "neutral", delay: float = 0.0) -> None:
        self.emotion = emotion
        self.delay = delay
        self.words_streamed = 0

    @classmethod
    def from_config(cls, config: Any = None, emotion: str = "neutral", delay: float = 0.0) -> EchoSystem:
        """Build it (the pipeline config is not needed)."""
        return cls(emotion=emotion, delay=delay)

    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[TurnEvent]:
        """Yield perceived, text (word by word), audio and turn events."""
        start = time.perf_counter()
        utt = as_utterance(utterance)
        heard = utt.text if utt.text else f"{utt.audio.duration:.1f} seconds of sound" if utt.audio else ""
        perception = Perception(
            Transcript(heard, "en", model="echo"), EmotionPrediction.certain(utt.emotion or self.emotion, model="echo")
        )
        listen = time.perf_counter() - start
        yield Perceived(time.perf_counter() - start, perception=perception)
        reply = f"Turn {len(history or ()) + 1}: you said {heard}."
        t = time.perf_counter()
        for i, word in enumerate(reply.split(" ")):
            self.words_streamed += 1
            yield TextPiece(time.perf_counter() - start, text=word if i == 0 else " " + word)
            if self.delay:
                time.sleep(self.delay)
        echo = time.perf_counter() - t
        t = time.perf_counter()
        audio = tone(0.3)
        voice = time.perf_counter() - t
        first_audio = time.perf_counter() - start
        yield SentenceAudio(first_audio, text=reply, audio=audio)
        turn = Turn(
            transcript=perception.transcript,
            emotion=perception.emotion,
            response=Response(reply, strategy="echo"),
            audio=audio,
            timings={
                "listen": listen,
                "echo": echo,
                "voice": voice,
                "total": time.perf_counter() - start,
                "time_to_first_audio": first_audio,
            },
            system=self.name,
        )
        yield TurnFinished(time.perf_counter() - start, turn=turn)

    def respond(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Turn:
        """The whole turn."""
        return turn_from_stream(self.stream(utterance, history))
