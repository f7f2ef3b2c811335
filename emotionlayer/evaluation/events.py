"""Evaluating paralinguistic event detectors on clip-level labels.

A manifest (CSV or JSONL) lists clips with columns ``path`` and ``label``; each clip holds one kind of
event (a recording of someone coughing, a laugh...). The detector gives each clip one label (the event
label it detects for longest, weighted by confidence; see
:meth:`emotionlayer.paralinguistics.detection.detector.VocalEventModel.classify`) and the figures are
accuracy, macro F1 (over the labels present in the manifest) and precision/recall/F1 per label.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .metrics import ClassificationReport, classification_report


@dataclass(frozen=True)
class EventEvaluation:
    """Clip-level figures of an event detector.

    Attributes:
        report: Accuracy, macro F1, per-label scores and the confusion matrix.
        model: Name of the detector.
        predictions: One dict per clip: path, label, predicted, scores.
        seconds_per_clip: Mean detection time.
    """

    report: ClassificationReport
    model: str
    predictions: list[dict[str, Any]] = field(default_factory=list)
    seconds_per_clip: float = 0.0

    def to_dict(self, include_predictions: bool = False) -> dict[str, Any]:
        """``{"n", "accuracy", "macro_f1", "per_label", ...}``, the JSON of ``emotionlayer evaluate events``."""
        out = self.report.to_dict()
        out = {
            "n": out["n"],
            "accuracy": out["accuracy"],
            "macro_f1": out["macro_f1"],
            "per_label": out["per_label"],
            "unweighted_accuracy": out["unweighted_accuracy"],
            "confusion": out["confusion"],
            "model": self.model,
            "seconds_per_clip": round(self.seconds_per_clip, 4),
        }
        if include_predictions:
            out["predictions"] = self.predictions
        return out


def evaluate_events(
    manifest: str | os.PathLike,
    detector: Any = None,
    limit: int | None = None,
) -> EventEvaluation:
    """Run an event detector over a clip-level manifest and score it.

    Args:
        manifest: CSV or JSONL with ``path`` (relative to the manifest) and ``label`` per clip.
        detector: An ``events`` component with ``classify(audio)`` (or only ``detect``); the packaged
            ``default`` detector when ``None``.
        limit: Score only the first ``limit`` clips.

    Returns:
        An :class:`EventEvaluation`.

    Raises:
        ConfigError: the manifest has no usable rows.
    """
    from ..audio import load_audio
    from ..data.manifest import read_event_manifest

    if detector is None:
        from ..registry import create

        detector = create("events", "default")
    rows = [r for r in read_event_manifest(manifest) if r.label]
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise ConfigError(f"{manifest} has no rows with a label. Give a manifest with columns path,label.")
    references, predicted, details = [], [], []
    started = time.perf_counter()
    for row in rows:
        audio = load_audio(row.path, max_seconds=None)
        label, scores = _classify(detector, audio)
        references.append(row.label)
        predicted.append(label)
        details.append(
            {
                "path": row.path,
                "label": row.label,
                "predicted": label,
                "scores": {k: round(v, 4) for k, v in scores.items()},
            }
        )
    elapsed = (time.perf_counter() - started) / len(rows)
    report = classification_report(references, predicted)
    return EventEvaluation(report, str(getattr(detector, "name", type(detector).__name__)), details, elapsed)


def _classify(detector: Any, audio: Any) -> tuple[str, dict[str, float]]:
    if hasattr(detector, "classify"):
        return detector.classify(audio)
    weight: dict[str, float] = {}
    for event in detector.detect(audio):
        if event.label != "pause":
            weight[event.label] = weight.get(event.label, 0.0) + (event.end - event.start) * event.confidence
    if not weight:
        return "none", {}
    total = sum(weight.values())
    shares = {k: v / total for k, v in weight.items()}
    return max(shares, key=lambda k: shares[k]), shares


def _iou(a: Any, b: Any) -> float:
    inter = max(0.0, min(a.end, b.end) - max(a.start, b.start))
    union = max(a.end, b.end) - min(a.start, b.start)
    return inter / union if union > 0 else 0.0


def score_event_timing(
    references: Sequence[Sequence[Any]],
    predictions: Sequence[Sequence[Any]],
    min_overlap: float = 0.3,
    ignore: Sequence[str] = ("pause",),
) -> dict[str, Any]:
    """Event-level precision, recall and F1 per label, matching events by time.

    A predicted event matches a reference event of the same label when their intersection over union
    is at least ``min_overlap`` (each reference matches at most one prediction, best overlap first).

    Args:
        references: Per recording, the true events (objects with label, start, end).
        predictions: Per recording, the detected events.
        min_overlap: Intersection-over-union needed for a match.
        ignore: Labels left out of the scores.

    Returns:
        ``{"per_label": {label: {precision, recall, f1, support}}, "micro_f1", "macro_f1",
        "onset_error_s", "n_recordings"}``; ``onset_error_s`` is the mean absolute start-time error of
        matched events.
    """
    if len(references) != len(predictions):
        raise ConfigError(f"{len(references)} reference lists but {len(predictions)} prediction lists.")
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    onset_errors: list[float] = []
    for refs, preds in zip(references, predictions, strict=True):
        refs = [r for r in refs if r.label not in ignore]
        preds = [p for p in preds if p.label not in ignore]
        used: set[int] = set()
        for ref in refs:
            candidates = [(i, _iou(ref, p)) for i, p in enumerate(preds) if i not in used and p.label == ref.label]
            candidates = [c for c in candidates if c[1] >= min_overlap]
            if candidates:
                best = max(candidates, key=lambda c: c[1])[0]
                used.add(best)
                tp[ref.label] = tp.get(ref.label, 0) + 1
                onset_errors.append(abs(preds[best].start - ref.start))
            else:
                fn[ref.label] = fn.get(ref.label, 0) + 1
        for i, pred in enumerate(preds):
            if i not in used:
                fp[pred.label] = fp.get(pred.label, 0) + 1
    per_label: dict[str, dict[str, float]] = {}
    for label in sorted(set(tp) | set(fp) | set(fn)):
        t, f_p, f_n = tp.get(label, 0), fp.get(label, 0), fn.get(label, 0)
        precision = t / (t + f_p) if t + f_p else 0.0
        recall = t / (t + f_n) if t + f_n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": t + f_n,
        }
    total_tp, total_fp, total_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    micro = 2 * total_tp / (2 * total_tp + total_fp + total_fn) if total_tp + total_fp + total_fn else 0.0
    supported = [v["f1"] for v in per_label.values() if v["support"]]
    return {
        "n_recordings": len(references),
        "per_label": per_label,
        "micro_f1": round(micro, 4),
        "macro_f1": round(float(sum(supported) / len(supported)), 4) if supported else 0.0,
        "onset_error_s": round(float(sum(onset_errors) / len(onset_errors)), 4) if onset_errors else None,
    }


def evaluate_event_timing(
    manifest: str | os.PathLike, detector: Any = None, min_overlap: float = 0.3
) -> dict[str, Any]:
    """Run a detector over a manifest with timed ``events`` (e.g. from ``events make-data``) and score by time.

    Returns:
        The dict of :func:`score_event_timing`.

    Raises:
        ConfigError: no row of the manifest has events.
    """
    from ..audio import load_audio
    from ..data.manifest import read_event_manifest

    if detector is None:
        from ..registry import create

        detector = create("events", "default")
    rows = [r for r in read_event_manifest(manifest) if r.events is not None]
    if not rows:
        raise ConfigError(
            f"{manifest} has no rows with 'events'. Use a manifest.jsonl from `emotionlayer events make-data`."
        )
    predictions = [detector.detect(load_audio(r.path, max_seconds=None)) for r in rows]
    return score_event_timing([list(r.events or ()) for r in rows], predictions, min_overlap)
