"""The dialogue-system seam: anything that answers a spoken turn.

The cascade (:class:`~emotionlayer.pipeline.CascadePipeline`) and the end-to-end models answer the same two
calls, so the CLI, the evaluator, the live mode and notebooks treat them alike:

- ``respond(utterance, history=None) -> Turn``: one whole turn;
- ``stream(utterance, history=None) -> Iterator[StreamEvent]``: the same turn as events while they happen,
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
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np

from ..audio import SAMPLE_RATE, AudioSource, load_audio
from ..errors import EmotionLayerError
from ..types import Audio, Dialogue, EmotionPrediction, Transcript, Turn, Utterance

UtteranceLike = Union[Utterance, AudioSource, str]

#: The kinds of :class:`StreamEvent`, in the order a turn produces them ("text" and "audio" interleave).
EVENT_KINDS: tuple[str, ...] = ("perceived", "prompt", "text", "audio", "turn")


@dataclass(frozen=True)
class Perception:
    """What a system heard: the words, how they were said, and the seconds each recogniser took.

    ``speech_detected`` is false when the system's speech gate heard no speech (its transcript is then
    empty); the turn carries it on as :attr:`~emotionlayer.types.Turn.speech_detected`.
    """

    transcript: Transcript
    emotion: EmotionPrediction
    timings: dict[str, float] = field(default_factory=dict)
    speech_detected: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "transcript": self.transcript.to_dict(),
            "emotion": self.emotion.to_dict(),
            "timings": dict(self.timings),
            "speech_detected": self.speech_detected,
        }


@dataclass(frozen=True)
class StreamEvent:
    """One thing that happened while a system answered a turn.

    ``kind`` is ``"perceived"`` (``perception`` set), ``"prompt"`` (``messages`` set, plus ``strategy``
    when the system chose one), ``"text"`` (``text`` holds a new piece of the reply), ``"audio"`` (``audio``
    holds one spoken sentence, ``text`` that sentence) or ``"turn"`` (``turn`` holds the finished
    :class:`~emotionlayer.types.Turn`). ``time`` is seconds since the turn started.
    """

    kind: str
    time: float
    text: str = ""
    audio: Audio | None = None
    perception: Perception | None = None
    messages: tuple[dict[str, str], ...] = ()
    strategy: str = ""
    turn: Turn | None = None
    #: The system's own object behind the event, for in-process callers (e.g. the cascade's
    #: ``RenderedPrompt``). Never serialised.
    detail: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise EmotionLayerError(f"Unknown stream event kind {self.kind!r}; valid kinds: {', '.join(EVENT_KINDS)}.")

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        """A JSON-ready dict holding only the fields this kind of event uses (for web clients).

        Audio samples are left out unless ``include_samples`` is true (they can be large).
        """
        out: dict[str, Any] = {"kind": self.kind, "time": round(self.time, 6)}
        if self.kind == "perceived" and self.perception is not None:
            out["perception"] = self.perception.to_dict()
        elif self.kind == "prompt":
            out["messages"] = [dict(m) for m in self.messages]
            out["strategy"] = self.strategy
        elif self.kind == "text":
            out["text"] = self.text
        elif self.kind == "audio":
            out["text"] = self.text
            out["audio"] = self.audio.to_dict(include_samples=include_samples) if self.audio is not None else None
        elif self.kind == "turn" and self.turn is not None:
            turn = self.turn.to_dict()
            if not include_samples and turn.get("audio"):
                turn["audio"].pop("samples", None)
            out["turn"] = turn
        return out


@runtime_checkable
class DialogueSystem(Protocol):
    """Anything that answers a spoken turn: the cascade and end-to-end models alike."""

    def respond(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Turn: ...

    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[StreamEvent]: ...


def as_utterance(utterance: UtteranceLike, max_seconds: float | None = None) -> Utterance:
    """Accept an :class:`Utterance`, an :class:`Audio`, a path, file bytes or an array (16 kHz assumed).

    The audio is loaded and validated (:func:`emotionlayer.audio.load_audio`); an error says what to fix.
    """
    if isinstance(utterance, Utterance):
        if utterance.audio is not None:
            audio = load_audio(utterance.audio, max_seconds=max_seconds)
            if audio is not utterance.audio:
                return Utterance(audio, utterance.text, utterance.emotion, utterance.id, utterance.speaker, utterance.language)
        return utterance
    if isinstance(utterance, np.ndarray):
        return Utterance(load_audio(utterance, source_rate=SAMPLE_RATE, max_seconds=max_seconds))
    return Utterance(load_audio(utterance, max_seconds=max_seconds))


def turn_from_stream(events: Iterator[StreamEvent]) -> Turn:
    """Run a system's ``stream`` to the end and return its :class:`Turn` (how ``respond`` is built)."""
    try:
        for event in events:
            if event.turn is not None:
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
