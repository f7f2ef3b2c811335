"""The packaged paralinguistic event detector (``events`` backend ``default``)."""

from __future__ import annotations

from ...paralinguistics.detection.detector import PACKAGED_MODEL_DIR, VocalEventModel
from ...paralinguistics.detection.model import CONFIG_FILE, MODEL_FILE
from ...registry import register
from ...types import Audio, VocalEvent


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

    def classify(self, audio: Audio) -> tuple[str, dict[str, float]]:
        """One event label for a clip holding one kind of event, with each label's share."""
        return self.detector.classify(audio)
