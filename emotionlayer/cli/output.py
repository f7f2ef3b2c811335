"""What the command line and the web API print for a turn: one JSON object, the same everywhere."""

from __future__ import annotations

from typing import Any


def turn_json(turn: Any, audio_out: str | None) -> dict[str, Any]:
    """The one JSON object `respond --json` prints for a turn (also what ``serve``'s ``/api/respond`` answers).

    ``events`` (a list of ``{label, start, end, score, when}``) is there when the system listened for vocal
    events in the user's audio (``run.detect_events``, or ``respond --events``), even when it heard none.

    Args:
        turn: The answered turn.
        audio_out: Where its spoken reply was written (``None``: nowhere).
    """
    out = {
        "system": turn.system,
        "transcript": turn.transcript.text,
        "emotion": {"label": turn.emotion.label, "probabilities": turn.emotion.probabilities},
        "response": {
            "text": turn.response.text,
            "style": turn.response.style.to_dict(),
            "strategy": turn.response.strategy,
        },
        "audio_out": audio_out,
        "timings": {k: round(float(v), 4) for k, v in turn.timings.items()},
        "speech_detected": turn.speech_detected,
    }
    if turn.events or "events" in turn.timings:  # the system listened for vocal events (run.detect_events)
        out["events"] = [event.to_dict() for event in turn.events]
    return out
