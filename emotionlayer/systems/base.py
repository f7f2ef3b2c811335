"""The dialogue-system seam: anything that answers a spoken turn.

The cascade (:class:`~emotionlayer.pipeline.CascadePipeline`) and the end-to-end models answer the same two
calls, so the CLI, the evaluator, the live mode and notebooks treat them alike:

- ``respond(utterance, history=None) -> Turn``: one whole turn;
- ``stream(utterance, history=None) -> Iterator[TurnEvent]``: the same turn as events while they happen,
  the last one carrying the :class:`~emotionlayer.types.Turn`. Closing the iterator early (``close()``,
  ``break`` out of a ``for`` loop, or dropping it) stops generation and synthesis and frees their threads.

A system is registered under a name in the ``system`` registry kind and built from a
:class:`~emotionlayer.config.PipelineConfig` with :func:`build_system`::

    from emotionlayer.registry import register

    @register("system", "my-system")
    class MySystem:
        @classmethod
        def from_config(cls, config, **params): ...
        def respond(self, utterance, history=None): ...
        def stream(self, utterance, history=None): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol, Union, runtime_checkable

import numpy as np

from ..audio import SAMPLE_RATE, AudioSource, load_audio
from ..errors import EmotionLayerError
from ..types import Audio, Dialogue, EmotionPrediction, HeardEvent, Transcript, Turn, Utterance

try:
    from typing import dataclass_transform  # tells type checkers that subclasses are dataclasses
except ImportError:  # Python 3.10: the same classes, without the hint

    def dataclass_transform(**_: Any) -> Any:
        return lambda cls: cls


UtteranceLike = Union[Utterance, AudioSource, str]

#: The kinds of :class:`TurnEvent`, in the order a turn produces them ("text" and "audio" interleave).
EVENT_KINDS: tuple[str, ...] = ("perceived", "prompt", "text", "audio", "turn")


@dataclass(frozen=True)
class Perception:
    """What a system heard: the words, how they were said, and the seconds each recogniser took.

    ``speech_detected`` is false when the system's speech gate heard no speech (its transcript is then
    empty); the turn carries it on as :attr:`~emotionlayer.types.Turn.speech_detected`. ``events`` are the
    vocal events (laugh, sigh, cough...) heard in the user's audio, when the system listens for them (the
    cascade with ``run.detect_events``); the turn carries them on as :attr:`~emotionlayer.types.Turn.events`.
    """

    transcript: Transcript
    emotion: EmotionPrediction
    timings: dict[str, float] = field(default_factory=dict)
    speech_detected: bool = True
    events: tuple[HeardEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "transcript": self.transcript.to_dict(),
            "emotion": self.emotion.to_dict(),
            "timings": dict(self.timings),
            "speech_detected": self.speech_detected,
            "events": [event.to_dict() for event in self.events],
        }


class _OldEventCall(type):
    """Lets ``TurnEvent(kind, time, **fields)`` (the old ``StreamEvent`` call) build the class of that kind."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is not TurnEvent:
            return super().__call__(*args, **kwargs)
        kind, *rest = args if args else (kwargs.pop("kind", ""),)
        event_class = _EVENT_CLASSES.get(kind)
        if event_class is None:
            raise EmotionLayerError(f"Unknown stream event kind {kind!r}; valid kinds: {', '.join(EVENT_KINDS)}.")
        names = {f.name for f in fields(event_class)}
        # The old class had every field on every kind: the ones this kind lacks are left out when unset.
        kept = {k: v for k, v in kwargs.items() if k in names or _OLD_DEFAULTS.get(k, ...) != v}
        return event_class(*rest, **kept)


@dataclass_transform(frozen_default=True)
@dataclass(frozen=True)
class TurnEvent(metaclass=_OldEventCall):
    """One thing that happened while a system answered a turn; ``time`` is seconds since the turn started.

    One class per kind (:data:`EVENT_KINDS`), each declaring its kind in its class statement:
    :class:`Perceived`, :class:`PromptRendered`, :class:`TextPiece`, :class:`SentenceAudio`,
    :class:`TurnFinished`. ``to_dict()`` gives a JSON-ready dict with ``kind``, ``time`` and the fields of
    that kind. This was ``StreamEvent`` (still an alias), one class with a kind string; the old call
    ``StreamEvent("text", time, text=...)`` still builds a :class:`TextPiece`.
    """

    kind: ClassVar[str] = "event"
    time: float

    def __init_subclass__(cls, kind: str = "", **options: Any) -> None:
        super().__init_subclass__(**options)
        if kind:
            cls.kind = kind
            _EVENT_CLASSES[kind] = cls
        dataclass(frozen=True)(cls)

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        """A JSON-ready dict holding only the fields this kind of event uses (for web clients).

        Audio samples are left out unless ``include_samples`` is true (they can be large).
        """
        return {"kind": self.kind, "time": round(self.time, 6)}


_EVENT_CLASSES: dict[str, type[TurnEvent]] = {}
#: The old one-class event's defaults, for the old call (see :class:`_OldEventCall`).
_OLD_DEFAULTS: dict[str, Any] = {
    "text": "",
    "audio": None,
    "perception": None,
    "messages": (),
    "strategy": "",
    "turn": None,
    "detail": None,
}


class Perceived(TurnEvent, kind="perceived"):
    """The system heard the turn: :class:`Perception` (words, emotion, timings)."""

    perception: Perception | None = None

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        out = super().to_dict(include_samples)
        if self.perception is not None:
            out["perception"] = self.perception.to_dict()
        return out


class PromptRendered(TurnEvent, kind="prompt"):
    """The prompt the system sends its language model: chat ``messages`` and the ``strategy`` it chose
    (empty when it chose none)."""

    messages: tuple[dict[str, str], ...] = ()
    strategy: str = ""
    #: The system's own object behind the prompt, for in-process callers (e.g. the cascade's
    #: ``RenderedPrompt``). Never serialised.
    detail: Any = field(default=None, compare=False, repr=False)

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        out = super().to_dict(include_samples)
        out["messages"] = [dict(m) for m in self.messages]
        out["strategy"] = self.strategy
        return out


class TextPiece(TurnEvent, kind="text"):
    """A new piece of the reply text; ``opener``: the reply's opener, spoken from audio made ahead of time
    (``run.opener``), not written by the LLM."""

    text: str = ""
    opener: bool = False

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        out = {**super().to_dict(include_samples), "text": self.text}
        if self.opener:
            out["opener"] = True
        return out


class SentenceAudio(TurnEvent, kind="audio"):
    """One spoken sentence: its ``text`` and its ``audio``; ``opener``: the reply's opener (``run.opener``),
    synthesised ahead of time, not a sentence the LLM wrote."""

    text: str = ""
    audio: Audio | None = None
    opener: bool = False

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        out = {**super().to_dict(include_samples), "text": self.text}
        out["audio"] = self.audio.to_dict(include_samples=include_samples) if self.audio is not None else None
        if self.opener:
            out["opener"] = True
        return out


class TurnFinished(TurnEvent, kind="turn"):
    """The finished :class:`~emotionlayer.types.Turn` (the last event of a turn)."""

    turn: Turn | None = None

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        out = super().to_dict(include_samples)
        if self.turn is not None:
            turn = self.turn.to_dict()
            if not include_samples and turn.get("audio"):
                turn["audio"].pop("samples", None)
            out["turn"] = turn
        return out


#: The old name of :class:`TurnEvent`.
StreamEvent = TurnEvent


@runtime_checkable
class DialogueSystem(Protocol):
    """Anything that answers a spoken turn: the cascade and end-to-end models alike."""

    def respond(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Turn: ...

    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[TurnEvent]: ...


def as_utterance(utterance: UtteranceLike, max_seconds: float | None = None) -> Utterance:
    """Accept an :class:`Utterance`, an :class:`Audio`, a path, file bytes or an array (16 kHz assumed).

    The audio is loaded and validated (:func:`emotionlayer.audio.load_audio`); an error says what to fix.
    """
    if isinstance(utterance, Utterance):
        if utterance.audio is not None:
            audio = load_audio(utterance.audio, max_seconds=max_seconds)
            if audio is not utterance.audio:
                return Utterance(
                    audio, utterance.text, utterance.emotion, utterance.id, utterance.speaker, utterance.language
                )
        return utterance
    if isinstance(utterance, np.ndarray):
        return Utterance(load_audio(utterance, source_rate=SAMPLE_RATE, max_seconds=max_seconds))
    return Utterance(load_audio(utterance, max_seconds=max_seconds))


def turn_from_stream(events: Iterator[TurnEvent]) -> Turn:
    """Run a system's ``stream`` to the end and return its :class:`Turn` (how ``respond`` is built)."""
    try:
        for event in events:
            if isinstance(event, TurnFinished) and event.turn is not None:
                return event.turn
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    raise EmotionLayerError("The dialogue system finished without producing a turn; this is a bug, please report it.")


def build_system(config: Any = None, system: str | None = None, **params: Any) -> DialogueSystem:
    """Build the dialogue system a config names (``system:`` section), or the one named here.

    Args:
        config: A :class:`~emotionlayer.config.PipelineConfig`, a path to a YAML/JSON file, a dict, or
            ``None`` for the packaged offline default.
        system: A registered system name (``cascade``, ...) or a spec ``NAME:KEY=VALUE,...``; overrides
            the config's ``system`` section, its parameters replacing the config's.
        **params: More parameters for the system, over those of the config or the spec.

    Raises:
        UnknownComponentError: no system has that name (the message lists the registered ones).
        ConfigError: a parameter the system does not take (the message lists the ones it does).
    """
    from .. import registry
    from ..config import PipelineConfig

    config = PipelineConfig.coerce(config)
    name, system_params = config.system.name, dict(config.system.params)
    if system is not None:
        name, system_params = registry.parse_spec(system)
    system_params.update(params)
    return registry.create("system", name, config=config, **system_params)
