"""Evaluate a speech emotion recogniser on a labelled manifest.

Example::

    from emotionlayer.evaluation.ser import evaluate_ser

    report = evaluate_ser("path/to/manifest.csv", model="default", labels="neutral,happy,sad,angry")
    print(report.report.unweighted_accuracy)
    report.plot("confusion.png")

``labels`` restricts the decision to those labels (argmax over them, aliases accepted) and scores only
clips whose true label is one of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ..data.manifest import ManifestRow, read_manifest
from ..errors import ConfigError
from ..labels import canonical_list, restrict
from .metrics import ClassificationReport, classification_report, plot_confusion

if TYPE_CHECKING:
    from ..components.base import SpeechEmotionRecognizer

PathLike = Union[str, os.PathLike]


@dataclass
class SERItem:
    """One scored clip."""

    path: str
    reference: str
    prediction: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "reference": self.reference,
            "prediction": self.prediction,
            "confidence": self.confidence,
        }


@dataclass
class SEREvaluation:
    """The result of :func:`evaluate_ser`.

    Attributes:
        report: Accuracy, unweighted accuracy, macro F1, per-label scores and confusion matrix.
        model: Name of the evaluated model.
        labels: Labels the decision was made among.
        items: Every scored clip.
        skipped: Clips left out because their true label is not among ``labels``.
        seconds_per_clip: Mean prediction time.
    """

    report: ClassificationReport
    model: str
    labels: list[str]
    items: list[SERItem] = field(default_factory=list)
    skipped: int = 0
    seconds_per_clip: float = 0.0

    def to_dict(self, include_items: bool = False) -> dict[str, Any]:
        """``{"n", "accuracy", "unweighted_accuracy", "macro_f1", "per_label", "confusion"}`` (+ items)."""
        out = self.report.to_dict()
        if include_items:
            out["items"] = [item.to_dict() for item in self.items]
        return out

    def plot(self, path: PathLike, title: str | None = None) -> str:
        """Write the confusion matrix as a PNG."""
        return plot_confusion(self.report, str(path), title=title if title is not None else f"SER: {self.model}")


def build_recogniser(model: Any, device: str = "cpu") -> SpeechEmotionRecognizer:
    """Turn what a user names as a SER model into a component with ``predict(audio)``.

    Args:
        model: A component object with ``predict(audio)`` (returned as is), a registered SER backend name
            (``default``, ``dummy``...), or a model folder written by ``emotionlayer ser train``.
        device: torch device for a model folder.

    Returns:
        The SER component.

    Raises:
        ConfigError: ``model`` is neither a registered backend name nor an existing folder.
    """
    if hasattr(model, "predict"):
        return model
    from ..registry import available, create

    text = str(model)
    if text in available("ser"):
        return create("ser", text)
    if Path(text).expanduser().is_dir():
        return create("ser", "default", model=text, device=device)
    raise ConfigError(
        f"Unknown SER model {text!r}: not a backend name ({', '.join(available('ser'))}) and not a model folder. "
        "Pass a registered name or the folder written by `emotionlayer ser train`."
    )


def evaluate_ser(
    manifest: PathLike | Sequence[ManifestRow],
    model: Any = "default",
    labels: Sequence[str] | str | None = None,
    limit: int | None = None,
    progress: bool = False,
    device: str = "cpu",
) -> SEREvaluation:
    """Score a SER model on a labelled manifest.

    Args:
        manifest: CSV/JSONL manifest path (``path`` and ``emotion`` columns) or rows.
        model: A registered SER backend name (``default``, ``dummy``...), a trained model folder, or a
            component object with ``predict(audio)``.
        labels: Decide among these labels only (comma-separated string or list; aliases accepted).
            Clips whose true label is not among them are skipped. Default: every label the model knows.
        limit: Score only the first ``limit`` clips.
        progress: Show a tqdm progress bar.
        device: torch device for model folders.

    Returns:
        An :class:`SEREvaluation`.

    Raises:
        ConfigError: no clip left to score, or the model does not know a requested label.
        ManifestError: the manifest is missing or malformed.
    """
    rows = (
        list(read_manifest(manifest, require_emotion=True))
        if isinstance(manifest, (str, os.PathLike))
        else list(manifest)
    )
    recogniser = build_recogniser(model, device)
    wanted = canonical_list(labels) if labels is not None else None
    known = list(getattr(recogniser, "labels", []) or [])
    if wanted is not None and known:
        unknown = [label for label in wanted if label not in known]
        if unknown:
            raise ConfigError(
                f"The SER model does not predict {', '.join(unknown)}; it knows {', '.join(known)}. "
                "Drop those from --labels."
            )
    selected = [row for row in rows if wanted is None or row.emotion in wanted]
    skipped = len(rows) - len(selected)
    if limit is not None:
        selected = selected[: int(limit)]
    if not selected:
        raise ConfigError(
            "No clip left to score: none of the manifest's emotions is among the requested labels "
            f"({', '.join(wanted or [])})."
        )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(selected), desc="evaluating", unit="clip", leave=False)
    items: list[SERItem] = []
    spent = 0.0
    for row in selected:
        audio = row.load_audio(None)
        started = time.perf_counter()
        prediction = recogniser.predict(audio)
        spent += time.perf_counter() - started
        probs = restrict(prediction.probabilities, wanted) if wanted else prediction.probabilities
        label = max(probs, key=probs.get)
        items.append(SERItem(row.path, str(row.emotion), label, round(float(probs[label]), 6)))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    order = wanted or known or sorted({i.reference for i in items} | {i.prediction for i in items})
    order = list(order) + sorted({i.reference for i in items} - set(order))
    report = classification_report([i.reference for i in items], [i.prediction for i in items], order)
    name = getattr(recogniser, "name", type(recogniser).__name__)
    return SEREvaluation(report, str(name), list(order), items, skipped, spent / len(items))
