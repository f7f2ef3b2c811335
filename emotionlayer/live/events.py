"""What a live session tells its user interface: typed records (:class:`SessionEvent`), one class per kind,
each with ``to_dict``. (A system's events within one turn are :class:`~emotionlayer.systems.base.TurnEvent`;
a laugh or a sigh in speech is a :class:`~emotionlayer.types.VocalEvent`.)

Every event has ``time`` (seconds of the session clock: the audio time of the input stream, see
:class:`~emotionlayer.live.session.LiveSession`) and ``turn`` (the user turn it belongs to, from 1).
``to_dict()`` gives a JSON-ready dict with a ``kind`` key (audio samples only with ``include_samples``).

A kind is declared once, in its class statement: ``class ReplyText(SessionEvent, kind="reply_text")`` makes
a frozen dataclass whose ``kind`` is ``"reply_text"``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..types import Audio, Turn

try:
    from typing import dataclass_transform  # tells type checkers that subclasses are dataclasses
except ImportError:  # Python 3.10: the same classes, without the hint

    def dataclass_transform(**_: Any) -> Any:
        return lambda cls: cls


@dataclass_transform(frozen_default=True)
@dataclass(frozen=True)
class SessionEvent:
    """Base of the live events: ``kind`` names the class, ``time`` is the session clock, ``turn`` the user turn.

    A subclass names its kind in the class statement and is made a frozen dataclass.
    """

    kind: ClassVar[str] = "event"
    time: float
    turn: int

    def __init_subclass__(cls, kind: str = "", **options: Any) -> None:
        super().__init_subclass__(**options)
        if kind:
            cls.kind = kind
        dataclass(frozen=True)(cls)

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Audio):
                value = value.to_dict(include_samples=include_samples)
            elif isinstance(value, Turn):
                value = value.to_dict()
                if not include_samples and value.get("audio"):
                    value["audio"].pop("samples", None)
            elif isinstance(value, float):
                value = round(value, 4)
            out[f.name] = value
        return out


class SpeechStarted(SessionEvent, kind="speech_started"):
    """The user started speaking (``start``: where the speech began, before the VAD was sure)."""

    start: float


class TranscriptPartial(SessionEvent, kind="transcript_partial"):
    """What the user said so far (the growing turn, transcribed in the background)."""

    text: str


class EndOfTurn(SessionEvent, kind="end_of_turn"):
    """The user finished: ``speech_end`` is the end of the last voiced frame, ``finished`` whether the
    phrase read as finished (the shorter wait) and ``silence`` the silence waited for."""

    speech_end: float
    finished: bool
    silence: float


class TranscriptFinal(SessionEvent, kind="transcript_final"):
    """The whole turn's transcript."""

    text: str
    model: str = ""


class Discarded(SessionEvent, kind="discarded"):
    """Sound the VAD took for speech in which the ASR found no words: no reply."""

    reason: str


class EmotionHeard(SessionEvent, kind="emotion"):
    """How the user sounded: a label and a probability per label."""

    label: str
    probabilities: dict[str, float] = field(default_factory=dict)
    model: str = ""


class StrategyChosen(SessionEvent, kind="strategy"):
    """The empathy strategy the system chose (systems with a prompt)."""

    strategy: str


class ReplyText(SessionEvent, kind="reply_text"):
    """A new piece of the reply text (``opener``: the reply's opener, not written by the LLM)."""

    text: str
    opener: bool = False

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        return _without_false_opener(super().to_dict(include_samples))


class ReplyAudio(SessionEvent, kind="reply_audio"):
    """One spoken sentence, queued for playback (``opener``: the reply's opener, synthesised ahead of time
    and spoken before the LLM's sentences; see ``run.opener``)."""

    text: str
    audio: Audio
    opener: bool = False

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        return _without_false_opener(super().to_dict(include_samples))


def _without_false_opener(out: dict[str, Any]) -> dict[str, Any]:
    """An event's dict with ``opener`` only when it is true (what clients saw before openers existed)."""
    if not out.get("opener"):
        out.pop("opener", None)
    return out


class PlaybackStarted(SessionEvent, kind="playback_started"):
    """The first sample of the reply went to the output."""


class Backchannel(SessionEvent, kind="backchannel"):
    """The user spoke during the reply but did not take the turn ("uh-huh", a cough): playback goes on.

    ``paused`` is how long playback was paused while it was being decided (0 when it never was).
    """

    text: str
    paused: float = 0.0


class Interrupted(SessionEvent, kind="interrupted"):
    """The user took the turn while the reply played: playback and generation stopped.

    ``spoken`` is the part of the reply the user heard (kept in the history), ``dropped`` the rest,
    ``heard`` what the user said, ``stop_seconds`` the time from detecting the user's speech to playback stopping
    (paused at once with ``pause_on_speech``), ``decide_seconds`` the time from detecting it to deciding it was
    an interruption (its transcript was not a backchannel), when generation was stopped too.
    """

    spoken: str
    dropped: str
    heard: str
    stop_seconds: float
    decide_seconds: float = 0.0


class TurnLatency(SessionEvent, kind="latency"):
    """Where the time went in one turn, on the session clock (seconds; ``None`` where it did not happen).

    The ``*_after_speech`` values of :meth:`relative` are measured from ``speech_end`` (the end of the last
    voiced frame of the user's speech). ``first_audio`` is when the reply's first sound was heard (its opener,
    with ``run.opener``), ``first_llm_audio`` when the first words the LLM wrote were (the same moment
    without an opener); ``llm_first_token`` is the LLM's first piece of text (an opener is not one), and
    ``first_sentence`` when the first audio was ready (the opener's, at once, when there is one).
    """

    speech_end: float | None = None
    end_of_turn: float | None = None
    asr_final: float | None = None
    llm_first_token: float | None = None
    first_sentence: float | None = None
    first_audio: float | None = None
    first_llm_audio: float | None = None

    MOMENTS: ClassVar[tuple[str, ...]] = (
        "end_of_turn",
        "asr_final",
        "llm_first_token",
        "first_sentence",
        "first_audio",
        "first_llm_audio",
    )

    def relative(self) -> dict[str, float]:
        """Seconds from the end of speech to each moment that happened."""
        if self.speech_end is None:
            return {}
        return {m: getattr(self, m) - self.speech_end for m in self.MOMENTS if getattr(self, m) is not None}

    def to_dict(self, include_samples: bool = False) -> dict[str, Any]:
        out = super().to_dict(include_samples)
        out["after_speech"] = {k: round(v, 4) for k, v in self.relative().items()}
        return out


class TurnDone(SessionEvent, kind="turn_done"):
    """A reply ended (played to the end, or ``interrupted``); ``record`` is the turn as kept in the history."""

    record: Turn
    interrupted: bool = False


#: Old names: a live event was a ``LiveEvent``, and the strategy event ``Strategy`` (the empathy strategy
#: itself is :class:`emotionlayer.config.Strategy`).
LiveEvent = SessionEvent
Strategy = StrategyChosen


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(latencies: list[TurnLatency]) -> dict[str, dict[str, float]]:
    """p50 and p90 over turns of the seconds from the end of speech to each moment, and how many turns had it."""
    out: dict[str, dict[str, float]] = {}
    for moment in TurnLatency.MOMENTS:
        values = [r[moment] for r in (lat.relative() for lat in latencies) if moment in r]
        if values:
            out[moment] = {"p50": statistics.median(values), "p90": percentile(values, 90), "n": len(values)}
    return out
