"""Stage 7: check a finished clip automatically before it enters the corpus.

Three checks, all run on every clip so that each one's pass rate is known:

- **detector**: the event detector must report an event (any label, ``pause`` included) overlapping the
  inserted span. Whether its label is the inserted one is recorded (``label_match``) and reported as a rate,
  but not required by default (``require_label=True`` makes it so): the packaged detector was trained on
  synthetic speech and confuses neighbouring labels on real recordings, so requiring the label would
  reject mostly the detector's errors.
- **asr**: the clip as it is (event left in) is transcribed; the CER against the text must be at most
  ``max_cer`` (an event heard as words, or that swallows a word, fails).
- **clipping**: the peak must be below ``peak_limit``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...types import Audio
from .text import character_error_rate, language_code

__all__ = ["ClipCheck", "verify_clip"]


@dataclass
class ClipCheck:
    """The outcome of :func:`verify_clip`.

    Attributes:
        accepted: Whether every required check passed.
        failed: The names of the checks that failed (``detector``, ``label``, ``asr``, ``clipping``).
        reasons: One line per failure.
        detected: The detector's events overlapping the inserted span (label, start, end, confidence).
        detector_label: Label of the overlapping event with the most overlap times confidence (None if none).
        detector_score: Its confidence.
        label_match: Whether some overlapping event has the inserted label.
        asr_text: What the ASR heard in the clip.
        asr_cer: Its CER against the clip's text.
        peak: The clip's peak (full scale 1.0).
        seconds: Time per check.
    """

    accepted: bool
    failed: list[str]
    reasons: list[str]
    detected: list[dict[str, Any]]
    detector_label: str | None
    detector_score: float | None
    label_match: bool
    asr_text: str
    asr_cer: float
    peak: float
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """All failures in one line."""
        return "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "failed": list(self.failed),
            "reasons": list(self.reasons),
            "detector": {
                "found": bool(self.detected),
                "label": self.detector_label,
                "score": None if self.detector_score is None else round(self.detector_score, 4),
                "label_match": self.label_match,
                "events": self.detected,
            },
            "asr": {"text": self.asr_text, "cer": round(self.asr_cer, 4)},
            "peak": round(self.peak, 4),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def verify_clip(
    audio: Audio,
    span: tuple[float, float],
    label: str,
    text: str,
    asr: Any,
    detector: Any,
    language: str | None = None,
    max_cer: float = 0.15,
    peak_limit: float = 0.999,
    require_label: bool = False,
) -> ClipCheck:
    """Check a clip with an inserted event.

    Args:
        audio: The finished clip.
        span: The inserted event's ``(start, end)`` in seconds.
        label: The inserted label.
        text: The clip's words (without the tag).
        asr: An ASR with ``transcribe(audio, language=None)``.
        detector: An event detector with ``detect(audio) -> [VocalEvent]``
            (``registry.create("events", "default")``).
        language: Language code.
        max_cer: Largest CER of the clip's transcript against ``text``.
        peak_limit: The peak must be below this.
        require_label: Also require an overlapping event of the inserted label.

    Returns:
        A :class:`ClipCheck`.
    """
    failed: list[str] = []
    reasons: list[str] = []
    seconds: dict[str, float] = {}
    peak = float(np.max(np.abs(audio.samples))) if audio.samples.size else 0.0
    if peak >= peak_limit:
        failed.append("clipping")
        reasons.append(f"peak {peak:.4f} reaches {peak_limit} (clipping)")

    start = time.perf_counter()
    events = detector.detect(audio)
    seconds["detector"] = time.perf_counter() - start
    begin, end = span
    overlapping = [e for e in events if e.start < end and e.end > begin]
    detected = [
        {"label": e.label, "start": round(e.start, 3), "end": round(e.end, 3), "confidence": round(e.confidence, 4)}
        for e in overlapping
    ]
    best = max(overlapping, key=lambda e: (min(e.end, end) - max(e.start, begin)) * e.confidence, default=None)
    label_match = any(e.label == label for e in overlapping)
    if not overlapping:
        failed.append("detector")
        reasons.append(f"the detector found no event at {begin:.2f}-{end:.2f} s")
    elif require_label and not label_match:
        failed.append("label")
        reasons.append(f"the detector heard {best.label if best else '?'} where {label} was inserted")

    start = time.perf_counter()
    heard = asr.transcribe(audio, language=language_code(language)).text
    seconds["asr"] = time.perf_counter() - start
    cer = character_error_rate(text, heard, language)
    if cer > max_cer:
        failed.append("asr")
        reasons.append(f"ASR of the clip has CER {cer:.2f} against its text (more than {max_cer}): {heard!r}")
    return ClipCheck(
        accepted=not failed,
        failed=failed,
        reasons=reasons,
        detected=detected,
        detector_label=best.label if best else None,
        detector_score=float(best.confidence) if best else None,
        label_match=label_match,
        asr_text=heard,
        asr_cer=cer,
        peak=peak,
        seconds=seconds,
    )
