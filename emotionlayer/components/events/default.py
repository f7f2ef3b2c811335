"""The packaged paralinguistic event detector (``events`` backend ``default``)."""

from __future__ import annotations

import numpy as np

from ...paralinguistics.detection.detector import PACKAGED_MODEL_DIR, VocalEventModel
from ...paralinguistics.detection.model import CONFIG_FILE, MODEL_FILE
from ...registry import register
from ...types import Audio, HeardEvent, VocalEvent

#: An event ending this close (s) to the first speech window, or starting this close to the last, is
#: "before" or "after" the words (window boundaries are good to about 0.1 s).
PLACE_TOLERANCE = 0.1


@register("events", "default")
class DefaultEventDetector:
    """Window-level MLP detector of laugh, sigh, gasp, throat clearing, tsk, cough and breath (plus pauses).

    Trained on emotionlayer's synthesised paralinguistic speech (piper speech with event-bank clips
    inserted) and isolated bank clips; see docs/paralinguistics.md for how it does on real recordings.

    Args:
        model_dir: Folder of a detector trained with ``emotionlayer events train``; the packaged one if ``None``.
        min_confidence: Events whose mean window probability is below this are dropped.
        smooth: Windows in the moving average over probabilities.
        min_pause: Shortest silence between speech reported as ``pause`` (seconds); 0 turns pauses off.
    """

    requires: tuple[str, ...] = ("librosa",)
    extra = None

    def __init__(
        self,
        model_dir: str | None = None,
        min_confidence: float = 0.5,
        smooth: int = 3,
        min_pause: float = 0.3,
    ) -> None:
        self.detector = VocalEventModel(model_dir, min_confidence=min_confidence, smooth=smooth, min_pause=min_pause)
        self.name = f"emotionlayer-events({model_dir})" if model_dir else "emotionlayer-events-default"

    @classmethod
    def check_usable(cls) -> str | None:
        """Why the packaged detector cannot run here, or ``None``."""
        for file in (MODEL_FILE, CONFIG_FILE):
            if not (PACKAGED_MODEL_DIR / file).is_file():
                return f"The packaged event detector is missing ({PACKAGED_MODEL_DIR / file}); reinstall emotionlayer."
        return None

    @property
    def labels(self) -> tuple[str, ...]:
        """The event labels it reports."""
        return self.detector.labels

    def warmup(self) -> None:
        """Load the model now rather than on the first call."""
        _ = self.detector.classifier

    def detect(self, audio: Audio) -> list[VocalEvent]:
        """Events in ``audio`` (label, start and end in seconds, confidence), in time order."""
        return self.detector.detect(audio)

    def detect_in_turn(self, audio: Audio) -> list[HeardEvent]:
        """The vocal events of a user's turn, each placed against their words (``before``, ``during``,
        ``after``), from one pass of the detector. Pauses are left out: they are no vocal event.

        Where the words are comes from the detector's own ``speech`` windows, so a laugh (which a VAD may
        call speech) is not counted as words.
        """
        scores = self.detector.window_scores(audio)
        events = [e for e in self.detector.events_from_scores(scores) if e.label != "pause"]
        speech = speech_span(scores)
        return [HeardEvent(e.label, e.start, e.end, e.confidence, when=place(e, speech)) for e in events]

    def classify(self, audio: Audio) -> tuple[str, dict[str, float]]:
        """One event label for a clip holding one kind of event, with each label's share."""
        return self.detector.classify(audio)


def speech_span(scores) -> tuple[float, float] | None:
    """From the start of the first to the end of the last window whose most probable class is ``speech``
    (window centres, as events are timed), or ``None`` when no window is speech."""
    if "speech" not in scores.labels or len(scores.starts) == 0:
        return None
    is_speech = np.argmax(scores.probabilities, axis=1) == scores.labels.index("speech")
    if not is_speech.any():
        return None
    centre = scores.starts + (scores.window - scores.hop) / 2.0
    first, last = int(np.argmax(is_speech)), len(is_speech) - 1 - int(np.argmax(is_speech[::-1]))
    return float(centre[first]), float(min(centre[last] + scores.hop, scores.duration))


def place(event: VocalEvent, speech: tuple[float, float] | None) -> str:
    """``before``, ``during`` or ``after`` the words in ``speech`` (``""`` when there are none)."""
    if speech is None:
        return ""
    if event.end <= speech[0] + PLACE_TOLERANCE:
        return "before"
    if event.start >= speech[1] - PLACE_TOLERANCE:
        return "after"
    return "during"
