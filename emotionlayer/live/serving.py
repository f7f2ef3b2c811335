"""What a server needs to answer several people with one set of models: admission, conversations, limits.

- :class:`Admission`: one turn on the models at a time, a bounded first-come-first-served queue of turns
  waiting for them (beyond it :class:`ServerBusy` at once, with a ``retry_after`` estimate), and a deadline
  per turn (:class:`TurnTimeout`, raised while waiting or between two events of the turn's stream, which is
  then closed, so the models are free again).
- :class:`SessionStore`: conversations by id, each with its history (the last ``max_turns`` turns), removed
  after ``idle_seconds`` without a turn; at most ``max_sessions`` at once.
- :class:`SlotSystem` and :class:`SlotModel`: a dialogue system (or an ASR) whose model calls wait for the
  admission's slot, so that a live conversation's background turns never run on the models at the same
  time as another conversation's.
- :func:`answer`: one turn through a system's ``stream()``, stopped at a deadline.

Nothing here knows about HTTP; ``emotionlayer serve`` (:mod:`emotionlayer.cli.serve`) maps the errors to
status codes.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from ..errors import EmotionLayerError
from ..systems.base import TurnFinished
from ..types import Dialogue, Turn

#: Default limits of ``emotionlayer serve``: turns waiting for the models (beyond the one running) ...
DEFAULT_MAX_WAITING = 4
#: ... seconds a request may take, waiting included (0: no limit) ...
DEFAULT_TURN_TIMEOUT = 120.0
#: ... conversations kept at once ...
DEFAULT_MAX_SESSIONS = 100
#: ... turns of history each keeps (the prompt shows fewer: the config's ``prompt.history_turns``) ...
DEFAULT_SESSION_TURNS = 20
#: ... and how long a conversation lives without a turn (30 minutes).
DEFAULT_SESSION_IDLE_SECONDS = 1800.0

_SESSION_ID = re.compile(r"[0-9a-f]{32}")


class ServerBusy(EmotionLayerError):
    """No room now (the queue of waiting turns, or the conversations, are full); try again after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int, reason: str = "queue_full") -> None:
        super().__init__(message)
        self.retry_after = int(retry_after)
        self.reason = reason


class TurnTimeout(EmotionLayerError):
    """A turn ran (or waited) past its deadline; it was stopped."""


class UnknownSession(EmotionLayerError):
    """A conversation id this server does not hold (never created, ended, or expired)."""


class Admission:
    """The models answer one turn at a time; at most ``max_waiting`` more turns wait for them, in order.

    Thread-safe. Use :meth:`slot` around everything that runs on the shared models.

    Args:
        max_waiting: Turns that may wait while one runs (0: none, every turn that finds the models busy is
            refused). Turns that pass ``limited=False`` (a live conversation's) always wait, but count.
        timeout: Seconds a request may take from :meth:`deadline`, waiting included (``None`` or 0: no limit).
    """

    def __init__(self, max_waiting: int = DEFAULT_MAX_WAITING, timeout: float | None = DEFAULT_TURN_TIMEOUT) -> None:
        self.max_waiting = max(0, int(max_waiting))
        self.timeout = float(timeout) if timeout and timeout > 0 else None
        self._cond = threading.Condition()
        self._queue: deque[int] = deque()
        self._tickets = 0
        self._busy = False
        self._durations: deque[float] = deque(maxlen=20)

    @property
    def waiting(self) -> int:
        """Turns waiting for the models now."""
        return len(self._queue)

    @property
    def running(self) -> int:
        """Turns running on the models now (0 or 1)."""
        return int(self._busy)

    def deadline(self, start: float | None = None) -> float | None:
        """The :func:`time.monotonic` time by which a request that starts now (or at ``start``) must be done."""
        if self.timeout is None:
            return None
        return (time.monotonic() if start is None else start) + self.timeout

    def retry_after(self) -> int:
        """Whole seconds after which a refused turn may find room: the recent mean turn time per turn ahead."""
        mean = sum(self._durations) / len(self._durations) if self._durations else 5.0
        return max(1, min(600, math.ceil(mean * (self.waiting + 1))))

    @contextmanager
    def slot(self, deadline: float | None = None, limited: bool = True) -> Iterator[float]:
        """Hold the models for the block; yield the seconds spent waiting for them.

        Raises:
            ServerBusy: ``limited`` and ``max_waiting`` turns already wait (raised at once).
            TurnTimeout: ``deadline`` passed while waiting.
        """
        start = time.monotonic()
        with self._cond:
            if limited and (self._busy or self._queue) and len(self._queue) >= self.max_waiting:
                raise ServerBusy(
                    f"The server is busy: one turn is being answered and {len(self._queue)} are waiting (the limit "
                    f"is {self.max_waiting}). Try again in {self.retry_after()} s.",
                    self.retry_after(),
                )
            ticket = self._tickets
            self._tickets += 1
            self._queue.append(ticket)
            try:
                self._wait_for(ticket, deadline)
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._busy = True
        began = time.monotonic()
        try:
            yield began - start
        finally:
            with self._cond:
                self._busy = False
                self._durations.append(time.monotonic() - began)
                self._cond.notify_all()

    def _wait_for(self, ticket: int, deadline: float | None) -> None:
        """Wait (holding the condition) until ``ticket`` is first in line and the models are free."""
        while self._busy or self._queue[0] != ticket:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TurnTimeout(
                    f"The turn waited for the models past its time limit ({self.timeout:g} s) and was dropped; "
                    "try again when the server is less busy (GET /health shows the queue)."
                )
            self._cond.wait(remaining)


def answer(system: Any, utterance: Any, history: Dialogue | None = None, deadline: float | None = None) -> Turn:
    """One turn through ``system.stream(utterance, history)``, its stream closed at ``deadline`` (monotonic).

    Closing the stream stops the system's LLM and TTS at their next step, so the models are free soon after.

    Raises:
        TurnTimeout: the deadline passed before the turn was done.
    """
    stream = system.stream(utterance, history)
    try:
        for event in stream:
            if isinstance(event, TurnFinished) and event.turn is not None:
                return event.turn
            if deadline is not None and time.monotonic() >= deadline:
                raise TurnTimeout(
                    "The turn took longer than this server's time limit and was stopped. Send a shorter "
                    "recording, or try again when the server is less busy."
                )
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    raise EmotionLayerError("The dialogue system finished without producing a turn; this is a bug, please report it.")


class SlotModel:
    """A model (an ASR, anything with ``transcribe``) whose calls hold ``admission``'s slot; other attributes pass."""

    def __init__(self, model: Any, admission: Admission) -> None:
        self._model = model
        self._admission = admission

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        with self._admission.slot(limited=False):
            return self._model.transcribe(*args, **kwargs)

    def warmup(self) -> None:
        warm = getattr(self._model, "warmup", None)
        if callable(warm):
            with self._admission.slot(limited=False):
                warm()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class SlotSystem:
    """A dialogue system whose turns (``stream``, ``respond``), warm-up and prompt priming hold the slot.

    The slot is held from the stream's first event until it ends or is closed. Warm-up and priming run once
    per wrapped system (``warmed``), however many live conversations start.

    Args:
        system: The shared dialogue system.
        admission: The server's :class:`Admission`.
    """

    def __init__(self, system: Any, admission: Admission) -> None:
        self._system = system
        self._admission = admission
        self._warm_lock = threading.Lock()
        self.warmed = False

    def stream(self, utterance: Any, history: Dialogue | None = None) -> Iterator[Any]:
        with self._admission.slot(limited=False):
            inner = self._system.stream(utterance, history)
            try:
                yield from inner
            finally:
                close = getattr(inner, "close", None)
                if close is not None:
                    close()  # stops the system's LLM and TTS when the live session drops the reply

    def respond(self, utterance: Any, history: Dialogue | None = None) -> Turn:
        return answer(self, utterance, history)

    def warmup(self) -> None:
        self._warm_once()

    def prime_prompts(self) -> int:
        return 0  # done by warmup(), once

    def _warm_once(self) -> None:
        with self._warm_lock:
            if self.warmed:
                return
            with self._admission.slot(limited=False):
                for step in ("warmup", "prime_prompts"):
                    call = getattr(self._system, step, None)
                    if callable(call):
                        call()
            self.warmed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._system, name)


@dataclass
class Conversation:
    """One conversation a server holds: its id, history (oldest turn first) and when it was last used."""

    id: str
    history: Dialogue
    created: float
    last_used: float
    turns: int = 0  # answered in total (the history keeps only the last ones)
    holders: int = 0  # requests or sockets using it now: it does not expire meanwhile


class SessionStore:
    """Conversations by id, bounded in number, turns kept, and idle time. Thread-safe.

    Args:
        max_sessions: Most conversations at once (0: no limit); creating one more raises :class:`ServerBusy`.
        max_turns: Turns of history kept per conversation (oldest dropped first; 0: no limit).
        idle_seconds: A conversation with no turn for this long is removed (0: never).
        clock: Seconds now (default :func:`time.monotonic`); tests pass their own.
        on_expire: Called with the number of conversations that expired, whenever some do.
    """

    def __init__(
        self,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_turns: int = DEFAULT_SESSION_TURNS,
        idle_seconds: float = DEFAULT_SESSION_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        on_expire: Callable[[int], None] | None = None,
    ) -> None:
        self._on_expire = on_expire
        self.max_sessions = max(0, int(max_sessions))
        self.max_turns = max(0, int(max_turns))
        self.idle_seconds = max(0.0, float(idle_seconds))
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Conversation] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()  # recently expired ids, for a clearer 404
        self.created_total = 0
        self.expired_total = 0

    def create(self) -> Conversation:
        """A new, empty conversation.

        Raises:
            ServerBusy: ``max_sessions`` conversations are held (``retry_after``: until the oldest idle one ends).
        """
        with self._lock:
            self._prune()
            if self.max_sessions and len(self._sessions) >= self.max_sessions:
                raise ServerBusy(
                    f"The server holds its limit of {self.max_sessions} conversations. Try again in "
                    f"{self._next_expiry()} s, or send turns without a session.",
                    self._next_expiry(),
                    reason="sessions_full",
                )
            now = self._clock()
            conversation = Conversation(secrets.token_hex(16), Dialogue(), now, now)
            self._sessions[conversation.id] = conversation
            self.created_total += 1
            return conversation

    def get(self, session_id: str, touch: bool = True) -> Conversation:
        """The conversation (with ``touch``, its last use set to now: it lives ``idle_seconds`` more).

        Raises:
            UnknownSession: no such conversation (the message says how to start one).
        """
        with self._lock:
            self._prune()
            conversation = self._sessions.get(session_id) if isinstance(session_id, str) else None
            if conversation is None:
                raise UnknownSession(self.unknown_message(session_id))
            if touch:
                conversation.last_used = self._clock()
            return conversation

    @contextmanager
    def hold(self, session_id: str) -> Iterator[Conversation]:
        """The conversation, kept from expiring for the block (a turn being answered, a live socket)."""
        conversation = self.get(session_id)
        with self._lock:
            conversation.holders += 1
        try:
            yield conversation
        finally:
            with self._lock:
                conversation.holders -= 1
                conversation.last_used = self._clock()

    def history(self, session_id: str) -> Dialogue:
        """The conversation's history as the next turn's prompt should see it."""
        return self.get(session_id, touch=False).history

    def record(self, session_id: str, turn: Turn) -> int:
        """Add an answered turn (without its audio) to the history, dropping the oldest past ``max_turns``.

        Returns:
            The conversation's number of turns answered in total.
        """
        with self._lock:
            conversation = self._sessions.get(session_id)
            if conversation is None:
                raise UnknownSession(self.unknown_message(session_id))
            turns = conversation.history.turns + (replace(turn, audio=None),)
            if self.max_turns:
                turns = turns[-self.max_turns :]
            conversation.history = Dialogue(turns)
            conversation.turns += 1
            conversation.last_used = self._clock()
            return conversation.turns

    def delete(self, session_id: str) -> bool:
        """End a conversation now; whether it existed."""
        with self._lock:
            return self._sessions.pop(session_id, None) is not None

    def prune(self) -> int:
        """Remove the conversations idle for ``idle_seconds``; return how many went."""
        with self._lock:
            return self._prune()

    def __len__(self) -> int:
        with self._lock:
            self._prune()
            return len(self._sessions)

    def seconds_left(self, conversation: Conversation) -> float | None:
        """Seconds until the conversation expires if no turn comes (``None``: never)."""
        if not self.idle_seconds:
            return None
        return max(0.0, self.idle_seconds - (self._clock() - conversation.last_used))

    def unknown_message(self, session_id: Any) -> str:
        """The message for an id this server does not hold: what happened, and how to start a new conversation."""
        how = "Start a new conversation: POST /api/sessions, and send the id it returns as the 'session' field."
        if isinstance(session_id, str) and session_id in self._ended:
            minutes = self.idle_seconds / 60
            return f"The conversation {session_id!r} expired after {minutes:g} minutes without a turn. {how}"
        if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
            return f"{session_id!r} is not a conversation id (32 hex digits). {how}"
        return f"No conversation {session_id!r} on this server (unknown, ended, or the server restarted). {how}"

    def _next_expiry(self) -> int:
        idle = [c for c in self._sessions.values() if not c.holders]
        if not self.idle_seconds or not idle:
            return 60
        oldest = min(c.last_used for c in idle)
        return max(1, math.ceil(self.idle_seconds - (self._clock() - oldest)))

    def _prune(self) -> int:
        if not self.idle_seconds:
            return 0
        now = self._clock()
        gone = [k for k, c in self._sessions.items() if not c.holders and now - c.last_used >= self.idle_seconds]
        for key in gone:
            del self._sessions[key]
            self._ended[key] = None
            while len(self._ended) > 1000:
                self._ended.popitem(last=False)
        self.expired_total += len(gone)
        if gone and self._on_expire is not None:
            self._on_expire(len(gone))
        return len(gone)


def trim(history: Dialogue, max_turns: int) -> Dialogue:
    """The last ``max_turns`` turns of ``history`` (all of them when ``max_turns`` is 0)."""
    if max_turns and len(history) > max_turns:
        return Dialogue(history.turns[-max_turns:])
    return history
