"""Typed records that flow through emotionlayer.

Every record is a frozen dataclass with ``to_dict`` / ``from_dict`` so that turns, dialogues and
predictions can be written to JSON and read back unchanged. :class:`Audio` is defined in
:mod:`emotionlayer.audio` (where audio enters the library) and re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .audio import Audio
from .errors import EmotionLayerError
from .labels import canonical


@dataclass(frozen=True)
class Transcript:
    """What was said.

    Attributes:
        text: The recognised text.
        language: ISO 639-1 code, if known.
        model: The ASR model that produced it.
        no_speech_prob: The ASR's own probability that the audio held no speech (whisper's "no speech"
            token; the lowest over the transcript's segments), or ``None`` when the backend gives none.
    """

    text: str
    language: str | None = None
    model: str = ""
    no_speech_prob: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "language": self.language,
            "model": self.model,
            "no_speech_prob": self.no_speech_prob,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        no_speech = data.get("no_speech_prob")
        return cls(
            text=data["text"],
            language=data.get("language"),
            model=data.get("model", ""),
            no_speech_prob=None if no_speech is None else float(no_speech),
        )


@dataclass(frozen=True)
class EmotionPrediction:
    """How it was said: a label and a probability for every label the model knows.

    Attributes:
        label: The predicted canonical label (the most probable one).
        probabilities: Label -> probability; the values sum to 1.
        model: The SER model that produced it.
    """

    label: str
    probabilities: dict[str, float]
    model: str = ""

    def __post_init__(self) -> None:
        probs = {canonical(k): float(v) for k, v in self.probabilities.items()}
        total = sum(probs.values())
        if not probs or not math.isfinite(total) or total <= 0:
            raise EmotionLayerError(
                f"EmotionPrediction needs positive, finite probabilities; got {self.probabilities!r}."
            )
        if abs(total - 1.0) > 1e-9:  # renormalise only when needed, so JSON round-trips are exact
            probs = {k: v / total for k, v in probs.items()}
        object.__setattr__(self, "probabilities", probs)
        object.__setattr__(self, "label", canonical(self.label))

    @classmethod
    def from_probabilities(cls, probabilities: dict[str, float], model: str = "") -> EmotionPrediction:
        """Build a prediction whose label is the argmax of ``probabilities``."""
        label = max(probabilities, key=lambda k: probabilities[k])
        return cls(label=label, probabilities=dict(probabilities), model=model)

    @classmethod
    def certain(cls, label: str, model: str = "given") -> EmotionPrediction:
        """A prediction that puts all probability on one label (for typed input with a known emotion)."""
        return cls(label=label, probabilities={canonical(label): 1.0}, model=model)

    @property
    def confidence(self) -> float:
        """Probability of the predicted label."""
        return self.probabilities.get(self.label, 0.0)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable labels with their probabilities, most probable first."""
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "probabilities": dict(self.probabilities), "model": self.model}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmotionPrediction:
        return cls(label=data["label"], probabilities=data["probabilities"], model=data.get("model", ""))


@dataclass(frozen=True)
class SpeakingStyle:
    """How an answer should sound. Every TTS backend accepts this one object.

    A backend that cannot express a field maps it to the nearest thing it can and logs that it did.

    Attributes:
        name: Style name (``warm``, ``calm``, ``bright``, ...).
        rate: Speaking-rate factor; 1.0 is the voice's normal tempo, 1.2 is 20% faster.
        pitch_semitones: Pitch shift in semitones (+2 is higher, -2 lower).
        volume: Loudness factor; 1.0 leaves it unchanged.
        emotion: The emotion the voice should carry, for backends that take one (e.g. a reference clip).
    """

    name: str = "neutral"
    rate: float = 1.0
    pitch_semitones: float = 0.0
    volume: float = 1.0
    emotion: str = "neutral"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rate": self.rate,
            "pitch_semitones": self.pitch_semitones,
            "volume": self.volume,
            "emotion": self.emotion,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeakingStyle:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class VocalEvent:
    """A paralinguistic (vocal) event found in (or inserted into) speech: [laugh], [sigh], [cough]...

    Called ``Event`` before; that name is still importable (an alias), but "event" alone also names a live
    session's and a system's turn events.

    Attributes:
        label: Canonical event label (``laugh``, ``sigh``, ``breath``, ``cough``, ...).
        start: Start time in seconds from the beginning of the audio.
        end: End time in seconds.
        confidence: How sure the detector is (1.0 for events that were inserted, so known exactly).
    """

    label: str
    start: float
    end: float
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.end < self.start:
            raise EmotionLayerError(
                f"A VocalEvent needs finite times with end >= start; got start={self.start}, end={self.end}."
            )

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": self.start, "end": self.end, "confidence": self.confidence}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VocalEvent:
        return cls(
            label=str(data["label"]),
            start=float(data["start"]),
            end=float(data["end"]),
            confidence=float(data.get("confidence", 1.0)),
        )


#: The old name of :class:`VocalEvent`.
Event = VocalEvent

#: Where a :class:`HeardEvent` falls against the user's words.
EVENT_PLACES: tuple[str, ...] = ("before", "during", "after")


@dataclass(frozen=True)
class HeardEvent(VocalEvent):
    """A vocal event heard in the user's turn (a laugh before they spoke, a sigh after), placed against
    their words.

    Attributes:
        when: ``before``, ``during`` or ``after`` the user's words; empty when the detector could not
            tell where the words were.

    In JSON the detector's confidence is ``score``: ``{"label", "start", "end", "score", "when"}``.
    """

    when: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": self.start, "end": self.end, "score": self.confidence, "when": self.when}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeardEvent:
        return cls(
            label=str(data["label"]),
            start=float(data["start"]),
            end=float(data["end"]),
            confidence=float(data.get("score", data.get("confidence", 1.0))),
            when=str(data.get("when") or ""),
        )


@dataclass(frozen=True)
class Utterance:
    """One input turn: speech, or typed text with an optional known emotion.

    Attributes:
        audio: The speech, if spoken.
        text: Known text (skips ASR when given without audio, or serves as reference).
        emotion: Known emotion (skips SER when given).
        id: Optional identifier.
        speaker: Optional speaker identifier.
        language: Optional language code.
    """

    audio: Audio | None = None
    text: str | None = None
    emotion: str | None = None
    id: str | None = None
    speaker: str | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        if self.audio is None and not (self.text and self.text.strip()):
            raise EmotionLayerError("An Utterance needs audio or non-empty text.")
        if self.emotion is not None:
            object.__setattr__(self, "emotion", canonical(self.emotion))

    def to_dict(self) -> dict[str, Any]:
        return {
            "audio": self.audio.to_dict() if self.audio is not None else None,
            "text": self.text,
            "emotion": self.emotion,
            "id": self.id,
            "speaker": self.speaker,
            "language": self.language,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Utterance:
        audio = Audio.from_dict(data["audio"]) if data.get("audio") else None
        return cls(
            audio=audio,
            text=data.get("text"),
            emotion=data.get("emotion"),
            id=data.get("id"),
            speaker=data.get("speaker"),
            language=data.get("language"),
        )


@dataclass(frozen=True)
class Response:
    """The system's answer: its words, the empathy strategy behind them and how to say them.

    ``opener`` is the start of ``text`` that was spoken from audio made ahead of time (the strategy's opener,
    ``run.opener``), the LLM having written the rest; empty when the whole reply is the LLM's.
    """

    text: str
    style: SpeakingStyle = field(default_factory=SpeakingStyle)
    strategy: str = ""
    opener: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {"text": self.text, "style": self.style.to_dict(), "strategy": self.strategy}
        if self.opener:
            out["opener"] = self.opener
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Response:
        return cls(
            text=data["text"],
            style=SpeakingStyle.from_dict(data.get("style") or {}),
            strategy=data.get("strategy", ""),
            opener=data.get("opener", ""),
        )


@dataclass(frozen=True)
class Turn:
    """One exchange: what was heard, how, what was asked of the LLM, and the spoken answer.

    Attributes:
        transcript: What the user said (empty text when the system makes no transcript).
        emotion: How the user said it.
        prompt: The rendered chat messages sent to the LLM.
        response: The answer and its speaking style.
        audio: The spoken answer, if synthesised.
        audio_path: Where the spoken answer was written, if it was.
        timings: Seconds per stage, an open mapping: each system reports its own stages (the cascade:
            ``ser``, ``asr``, ``llm``, ``tts``) plus ``total`` and ``time_to_first_audio``.
        system: The name of the dialogue system that answered (``cascade``, ``echat``, ...).
        speech_detected: Whether the system heard speech in the input. ``False`` when its speech gate
            found none (silence, noise, music): then nothing was made up, the emotion is a uniform
            "no-speech" prediction and the response is a short request to say it again.
        events: Vocal events heard in the user's audio (laugh, sigh, cough...: label, start, end and the
            detector's confidence as ``score`` in JSON), when the system listens for them (the cascade with
            ``run.detect_events``); empty otherwise.
        guard: What the reply guard did, when the config has one: how many replies were written
            (``tries``), which was spoken (``chosen``) and the checks of each (``scores``: relevance,
            invented facts, strategy clash...). ``None`` without a guard.
    """

    transcript: Transcript
    emotion: EmotionPrediction
    response: Response
    prompt: tuple[dict[str, str], ...] = ()
    audio: Audio | None = None
    audio_path: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    system: str = ""
    speech_detected: bool = True
    events: tuple[HeardEvent, ...] = ()
    guard: dict[str, Any] | None = None

    def with_audio_path(self, path: str) -> Turn:
        return replace(self, audio_path=path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "transcript": self.transcript.to_dict(),
            "emotion": self.emotion.to_dict(),
            "prompt": [dict(m) for m in self.prompt],
            "response": self.response.to_dict(),
            "audio": self.audio.to_dict() if self.audio is not None else None,
            "audio_path": self.audio_path,
            "timings": dict(self.timings),
            "system": self.system,
            "speech_detected": self.speech_detected,
            "events": [event.to_dict() for event in self.events],
            **({"guard": self.guard} if self.guard is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        audio = None
        if data.get("audio") and ("samples" in data["audio"]):
            audio = Audio.from_dict(data["audio"])
        return cls(
            transcript=Transcript.from_dict(data["transcript"]),
            emotion=EmotionPrediction.from_dict(data["emotion"]),
            prompt=tuple(dict(m) for m in data.get("prompt", ())),
            response=Response.from_dict(data["response"]),
            audio=audio,
            audio_path=data.get("audio_path"),
            timings=dict(data.get("timings", {})),
            system=data.get("system", ""),
            speech_detected=bool(data.get("speech_detected", True)),
            events=tuple(HeardEvent.from_dict(event) for event in data.get("events") or ()),
            guard=data.get("guard"),
        )


@dataclass(frozen=True)
class Dialogue:
    """The history of a conversation, oldest turn first. Immutable: :meth:`add` returns a new one."""

    turns: tuple[Turn, ...] = ()

    def add(self, turn: Turn) -> Dialogue:
        """Return a dialogue with ``turn`` appended."""
        return Dialogue(self.turns + (turn,))

    def __len__(self) -> int:
        return len(self.turns)

    def __iter__(self):
        return iter(self.turns)

    def to_dict(self) -> dict[str, Any]:
        return {"turns": [t.to_dict() for t in self.turns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dialogue:
        return cls(tuple(Turn.from_dict(t) for t in data.get("turns", ())))
