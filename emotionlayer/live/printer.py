"""A live session's events as a running transcript (or JSON lines) for a terminal.

:class:`EventPrinter` turns each :class:`~emotionlayer.live.events.SessionEvent` into text and hands it to a
``write`` function, so the same printer serves the CLI (``typer.echo``), a log file or a test's list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .events import SessionEvent

#: Events printed on the reply's line (the others start a new line after an open reply).
_ON_REPLY_LINE = ("reply_text", "reply_audio", "playback_started", "latency")


class EventPrinter:
    """Show live events as they happen: one line per event, the reply's pieces on one line.

    Args:
        write: Called with each piece of text (newlines included; pieces of the reply come without one).
        as_json: Write every event as one JSON line (``event.to_dict()``) instead.

    Call the printer with each event, and :meth:`finish` at the end to close an open reply line.
    """

    def __init__(self, write: Callable[[str], None], as_json: bool = False) -> None:
        self.write = write
        self.as_json = as_json
        self._reply_open = False

    def __call__(self, event: SessionEvent) -> None:
        if self.as_json:
            self.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
            return
        if self._reply_open and event.kind not in _ON_REPLY_LINE:
            self.finish()
        if event.kind == "reply_text":
            if not self._reply_open:
                self.write(f"[{event.time:6.2f}] reply:    ")
                self._reply_open = True
            self.write(event.text)
            return
        text = event_line(event)
        if text is not None:
            self.write(text if event.kind == "latency" else text + "\n")

    def finish(self) -> None:
        """End the reply's line if one is open."""
        if self._reply_open:
            self.write("\n")
            self._reply_open = False


def _top_three(probabilities: dict[str, float]) -> str:
    top = sorted(probabilities.items(), key=lambda kv: -kv[1])[:3]
    return ", ".join(f"{label} {p:.2f}" for label, p in top)


def _first_audio(event: Any) -> str | None:
    after = event.relative()
    seconds = after.get("first_audio")
    if seconds is None:
        return None
    text = f"first reply audio {seconds:.2f} s after you stopped speaking"
    llm = after.get("first_llm_audio")
    if llm is not None and abs(llm - seconds) > 1e-6:  # an opener played first
        text += f" (the LLM's words {llm:.2f} s)"
    return text


#: What follows the time stamp, per event kind (kinds not here are left out of the transcript).
_TEXT: dict[str, Callable[[Any], str | None]] = {
    "speech_started": lambda e: "you:      ...",
    "transcript_partial": lambda e: f"          {e.text}",
    "transcript_final": lambda e: f'you said: "{e.text}"',
    "discarded": lambda e: f"(not speech: {e.reason})",
    "emotion": lambda e: f"emotion:  {e.label} ({_top_three(e.probabilities)})",
    "strategy": lambda e: f"strategy: {e.strategy}",
    "reply_text": lambda e: f"reply:    {e.text}",
    "backchannel": lambda e: f'(backchannel "{e.text}": the reply goes on)',
    "interrupted": lambda e: (
        f'(interrupted by "{e.heard}"; stopped {e.stop_seconds:.2f} s after your speech was heard)'
    ),
    "latency": _first_audio,
}


def event_line(event: SessionEvent) -> str | None:
    """One line of text for an event, stamped with its time; ``None`` for the events a transcript leaves out.

    A ``latency`` event's line starts with a newline (it follows the reply's pieces on their line).
    """
    text = _TEXT[event.kind](event) if event.kind in _TEXT else None
    if text is None:
        return None
    return ("\n" if event.kind == "latency" else "") + f"[{event.time:6.2f}] {text}"


def latency_line(summary: dict[str, dict[str, float]]) -> str | None:
    """The session's end-of-speech-to-first-audio figures in one line (``None`` when no reply was heard).

    Args:
        summary: :meth:`LiveSession.latency_summary <emotionlayer.live.session.LiveSession.latency_summary>`.
    """
    if "first_audio" not in summary:
        return None
    s = summary["first_audio"]
    line = f"End of speech to first audio over {s['n']} turn(s): median {s['p50']:.2f} s, p90 {s['p90']:.2f} s"
    llm = summary.get("first_llm_audio")
    if llm is not None and (llm["p50"], llm["p90"]) != (s["p50"], s["p90"]):
        line += f"; to the LLM's first words: median {llm['p50']:.2f} s, p90 {llm['p90']:.2f} s"
    return line
