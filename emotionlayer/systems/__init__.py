"""Dialogue systems: every way of answering a spoken turn, behind one seam.

:mod:`emotionlayer.systems.base` defines the seam (:class:`DialogueSystem`: ``respond`` and ``stream``),
the events a streamed turn yields and :func:`build_system`. The systems themselves live where their code
does (the cascade in :mod:`emotionlayer.pipeline`, end-to-end models under :mod:`emotionlayer.models`) and
are registered in the ``system`` registry kind; :mod:`emotionlayer.systems.builtin` lists the built-in ones.
"""

from .base import (
    EVENT_KINDS,
    DialogueSystem,
    Perceived,
    Perception,
    PromptRendered,
    SentenceAudio,
    StreamEvent,
    TextPiece,
    TurnEvent,
    TurnFinished,
    UtteranceLike,
    as_utterance,
    build_system,
    turn_from_stream,
)

__all__ = [
    "EVENT_KINDS",
    "DialogueSystem",
    "Perceived",
    "Perception",
    "PromptRendered",
    "SentenceAudio",
    "StreamEvent",
    "TextPiece",
    "TurnEvent",
    "TurnFinished",
    "UtteranceLike",
    "as_utterance",
    "build_system",
    "turn_from_stream",
]
