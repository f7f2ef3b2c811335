"""Live conversation: streaming turns with end-of-turn detection, barge-in and latency accounting.

See ``docs/live.md``. The parts:

- :class:`LiveSession` (:mod:`.session`): audio frames in, typed events (:mod:`.events`) and reply audio out;
- :class:`LiveConfig`, :class:`TurnDetector`, :func:`phrase_finished`, :func:`is_backchannel` (:mod:`.turns`):
  the end-of-turn rule and the backchannel filter;
- :mod:`.sources`: files played as a microphone, scripted conversations, the microphone and speaker;
- :class:`EventPrinter` (:mod:`.printer`): the events as a running transcript or JSON lines;
- :class:`ConversationRecorder` (:mod:`.recording`): the conversation as one stereo WAV.
"""

from .events import LiveEvent, SessionEvent, TurnLatency, latency_summary
from .printer import EventPrinter, latency_line
from .recording import ConversationRecorder
from .session import INTERRUPTED_NOTE, LiveSession, Playback
from .turns import LiveConfig, TurnDetector, is_backchannel, phrase_finished

__all__ = [
    "INTERRUPTED_NOTE",
    "ConversationRecorder",
    "EventPrinter",
    "LiveConfig",
    "LiveEvent",
    "LiveSession",
    "SessionEvent",
    "Playback",
    "TurnDetector",
    "TurnLatency",
    "is_backchannel",
    "latency_line",
    "latency_summary",
    "phrase_finished",
]
