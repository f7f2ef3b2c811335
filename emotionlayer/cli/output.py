"""What the command line and the web API print for a turn: one JSON object, the same everywhere."""

from __future__ import annotations

from typing import Any


def turn_json(turn: Any, audio_out: str | None) -> dict[str, Any]:
    """The one JSON object `respond --json` prints for a turn (also what ``serve``'s ``/api/respond`` answers).

    Args:
        turn: The answered turn.
        audio_out: Where its spoken reply was written (``None``: nowhere).
    """
    return {
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
