"""Windowed paralinguistic event detection: window probabilities -> smoothed labels -> merged events."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...types import Audio, VocalEvent
from .features import audio_windows
from .model import BACKGROUND_LABELS, WindowClassifier

#: The "none of the known events" class a detector may be trained with (lip, teeth or nose sounds, screams...):
#: ``classify`` can answer it, ``detect`` never reports it as an event.
OTHER_LABEL = "other"

#: Where the packaged detector lives.
PACKAGED_MODEL_DIR = Path(__file__).resolve().parents[2] / "assets" / "events" / "detector"

_MODEL_CACHE: dict[str, WindowClassifier] = {}


def load_classifier(model_dir: str | os.PathLike | None = None) -> WindowClassifier:
    """The window classifier in ``model_dir`` (the packaged one by default), cached per process."""
    root = str(Path(model_dir).expanduser().resolve()) if model_dir else str(PACKAGED_MODEL_DIR)
    if root not in _MODEL_CACHE:
        _MODEL_CACHE[root] = WindowClassifier.load(root)
    return _MODEL_CACHE[root]


@dataclass(frozen=True)
class WindowScores:
    """Per-window class probabilities of one recording.

    Attributes:
        starts: Start time of each window (s).
        window: Window length (s).
        hop: Window hop (s).
        labels: Class names (columns of ``probabilities``).
        probabilities: (windows, labels) array.
        duration: Length of the recording (s).
    """

    starts: np.ndarray
    window: float
    hop: float
    labels: tuple[str, ...]
    probabilities: np.ndarray
    duration: float


class VocalEventModel:
    """The trained detector of vocal events (laugh, sigh, gasp, throat clearing, tsk, cough, breath) and pauses.

    The ``events`` component that serves it is ``components.events.default`` (the
    :class:`~emotionlayer.components.base.EventDetector` protocol); this is the model behind it, as
    :class:`~emotionlayer.ser.model.SERModel` is the SER's. It was called ``EventDetector`` before, a name
    still importable from this module with a deprecation message.

    Args:
        model_dir: Folder of a trained detector (``model.npz`` + ``config.json``); the packaged one if ``None``.
        min_confidence: Events whose mean window probability is below this are dropped.
        smooth: Windows in the moving average over probabilities (odd; 1 disables smoothing).
        min_pause: Shortest silence between speech reported as a ``pause`` event (s); 0 disables pauses.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        min_confidence: float = 0.5,
        smooth: int = 3,
        min_pause: float = 0.3,
    ) -> None:
        self.model_dir = model_dir
        self.min_confidence = float(min_confidence)
        self.smooth = max(int(smooth), 1)
        self.min_pause = float(min_pause)

    @property
    def classifier(self) -> WindowClassifier:
        """The window classifier (loaded on first use)."""
        return load_classifier(self.model_dir)

    @property
    def labels(self) -> tuple[str, ...]:
        """Event labels :meth:`detect` can report (``pause`` included when pauses are on; never ``other``)."""
        extra = ("pause",) if self.min_pause > 0 else ()
        return tuple(label for label in self.classifier.event_labels if label != OTHER_LABEL) + extra

    def window_scores(self, audio: Audio) -> WindowScores:
        """Class probabilities for every window of ``audio`` (smoothed over ``smooth`` windows)."""
        model = self.classifier
        config = model.feature_config
        samples = audio.resample(config.sample_rate).samples
        feats, starts = audio_windows(samples, config)
        probs = model.predict_proba(feats)
        if self.smooth > 1 and len(probs) > 1:
            kernel = np.ones(self.smooth) / self.smooth
            padded = np.pad(probs, ((self.smooth // 2, self.smooth // 2), (0, 0)), mode="edge")
            probs = np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(probs.shape[1])], axis=1)
        return WindowScores(starts, config.window, config.hop, model.labels, probs, len(samples) / config.sample_rate)

    def events_from_scores(self, scores: WindowScores, include_other: bool = False) -> list[VocalEvent]:
        """Merge runs of windows with the same event label into events.

        Args:
            scores: Window probabilities from :meth:`window_scores`.
            include_other: Also report runs of the :data:`OTHER_LABEL` class (a detector trained with it);
                by default they are dropped, as they are no paralinguistic event.
        """
        if len(scores.starts) == 0:
            return []
        best = np.argmax(scores.probabilities, axis=1)
        centre_start = scores.starts + (scores.window - scores.hop) / 2.0
        centre_end = centre_start + scores.hop
        if len(scores.starts) == 1:
            centre_start, centre_end = np.array([0.0]), np.array([scores.duration])
        centre_start[0] = 0.0
        centre_end[-1] = max(centre_end[-1], scores.duration)
        events: list[VocalEvent] = []
        runs: list[tuple[str, int, int]] = []
        i = 0
        while i < len(best):
            j = i
            while j + 1 < len(best) and best[j + 1] == best[i]:
                j += 1
            runs.append((scores.labels[best[i]], i, j))
            i = j + 1
        for index, (label, i, j) in enumerate(runs):
            start, end = float(centre_start[i]), float(min(centre_end[j], scores.duration))
            if label == "silence":
                between_speech = (
                    0 < index < len(runs) - 1 and runs[index - 1][0] == "speech" and runs[index + 1][0] == "speech"
                )
                if self.min_pause > 0 and between_speech and end - start >= self.min_pause:
                    confidence = float(scores.probabilities[i : j + 1, best[i]].mean())
                    events.append(VocalEvent("pause", round(start, 3), round(end, 3), round(confidence, 4)))
                continue
            if label in BACKGROUND_LABELS or (label == OTHER_LABEL and not include_other):
                continue
            confidence = float(scores.probabilities[i : j + 1, best[i]].mean())
            if confidence >= self.min_confidence:
                events.append(VocalEvent(label, round(start, 3), round(end, 3), round(confidence, 4)))
        return events

    def detect(self, audio: Audio) -> list[VocalEvent]:
        """Events in ``audio``, in time order, with label, start, end (s) and confidence."""
        return self.events_from_scores(self.window_scores(audio))

    def classify(self, audio: Audio) -> tuple[str, dict[str, float]]:
        """One event label for a whole clip (for clips that hold one kind of event).

        The label is the event class with the largest confidence-weighted detected duration; if nothing
        is detected, the event class with the highest mean probability over the clip's non-silent windows.
        A detector trained with the :data:`OTHER_LABEL` class can answer ``other`` (a sound it has no
        label for).

        Returns:
            ``(label, scores)``: scores are the share of each event label, summing to 1.
        """
        scores = self.window_scores(audio)
        events = self.events_from_scores(scores, include_other=True)
        event_labels = [label for label in scores.labels if label not in BACKGROUND_LABELS]
        weight = dict.fromkeys(event_labels, 0.0)
        for event in events:
            if event.label in weight:
                weight[event.label] += (event.end - event.start) * event.confidence
        total = sum(weight.values())
        if total <= 0:
            columns = [scores.labels.index(label) for label in event_labels]
            silent = scores.labels.index("silence") if "silence" in scores.labels else None
            rows = scores.probabilities
            if silent is not None:
                keep = np.argmax(rows, axis=1) != silent
                rows = rows[keep] if keep.any() else rows
            mean = rows[:, columns].mean(axis=0)
            weight = {label: float(value) for label, value in zip(event_labels, mean, strict=False)}
            total = sum(weight.values()) or 1.0
        shares = {label: value / total for label, value in weight.items()}
        return max(shares, key=lambda k: shares[k]), shares


def __getattr__(name: str) -> object:
    # The old name of VocalEventModel; EventDetector is the components' protocol.
    if name == "EventDetector":
        import warnings

        warnings.warn(
            "paralinguistics.detection.detector.EventDetector is now VocalEventModel "
            "(EventDetector is the events component protocol in emotionlayer.components.base).",
            DeprecationWarning,
            stacklevel=2,
        )
        return VocalEventModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
