"""Classification metrics shared by every evaluator (SER, dialogue emotion accuracy, events).

All functions take plain label sequences (strings), so they work for any label set. The emotion
literature's names are used: *accuracy* is weighted accuracy (correct / total) and *unweighted accuracy*
(UA) is the mean of per-class recalls (balanced accuracy), which does not reward predicting the most
frequent class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class LabelScores:
    """Precision, recall, F1 and support of one label."""

    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


@dataclass(frozen=True)
class ClassificationReport:
    """Every figure of a classification run.

    Attributes:
        n: Number of examples.
        accuracy: Correct / total (weighted accuracy).
        unweighted_accuracy: Mean recall over labels that occur in the references (balanced accuracy).
        macro_f1: Mean F1 over labels that occur in the references.
        per_label: Label -> scores.
        labels: Row/column order of ``confusion``.
        confusion: ``confusion[i][j]`` = how many examples of ``labels[i]`` were predicted as ``labels[j]``.
    """

    n: int
    accuracy: float
    unweighted_accuracy: float
    macro_f1: float
    per_label: dict[str, LabelScores]
    labels: list[str]
    confusion: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by ``emotionlayer evaluate ser --json``."""
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "unweighted_accuracy": self.unweighted_accuracy,
            "macro_f1": self.macro_f1,
            "per_label": {k: v.to_dict() for k, v in self.per_label.items()},
            "confusion": {"labels": list(self.labels), "matrix": [list(r) for r in self.confusion]},
        }


def confusion_matrix(references: Sequence[str], predictions: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts ``(len(labels), len(labels))``; rows are references, columns predictions."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for ref, pred in zip(references, predictions, strict=True):
        if ref not in index or pred not in index:
            missing = ref if ref not in index else pred
            raise ConfigError(f"Label {missing!r} is not in the label list {list(labels)}; add it or filter the data.")
        matrix[index[ref], index[pred]] += 1
    return matrix


def classification_report(
    references: Sequence[str],
    predictions: Sequence[str],
    labels: Sequence[str] | None = None,
) -> ClassificationReport:
    """Accuracy, unweighted accuracy, macro F1, per-label scores and the confusion matrix.

    Args:
        references: True labels.
        predictions: Predicted labels, same length.
        labels: Label order for the matrix; default: sorted union of references and predictions.
            Averages (UA, macro F1) are over the labels present in ``references``.

    Raises:
        ConfigError: lengths differ, nothing to score, or a label outside ``labels``.
    """
    references, predictions = list(references), list(predictions)
    if len(references) != len(predictions):
        raise ConfigError(f"{len(references)} references but {len(predictions)} predictions; they must pair up.")
    if not references:
        raise ConfigError("Nothing to score: no references were given.")
    if labels is None:
        labels = sorted(set(references) | set(predictions))
    labels = list(labels)
    matrix = confusion_matrix(references, predictions, labels)
    per_label: dict[str, LabelScores] = {}
    recalls, f1s = [], []
    for i, label in enumerate(labels):
        tp = float(matrix[i, i])
        support = int(matrix[i].sum())
        predicted = float(matrix[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = LabelScores(round(precision, 6), round(recall, 6), round(f1, 6), support)
        if support:
            recalls.append(recall)
            f1s.append(f1)
    n = len(references)
    return ClassificationReport(
        n=n,
        accuracy=round(float(np.trace(matrix)) / n, 6),
        unweighted_accuracy=round(float(np.mean(recalls)), 6),
        macro_f1=round(float(np.mean(f1s)), 6),
        per_label=per_label,
        labels=labels,
        confusion=matrix.tolist(),
    )


def unweighted_accuracy(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Mean per-class recall over the classes present in ``references``."""
    return classification_report(references, predictions).unweighted_accuracy


def plot_confusion(report: ClassificationReport, path: str, title: str = "", normalise: bool = True) -> str:
    """Write the confusion matrix of ``report`` as a PNG (rows: truth, columns: prediction).

    Args:
        report: A :class:`ClassificationReport`.
        path: Output PNG path.
        title: Plot title; a summary line with accuracy and UA is added below it.
        normalise: Colour by row share (recall) and print counts in the cells.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    matrix = np.asarray(report.confusion, dtype=float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalise else matrix
    size = max(4.0, 0.7 * len(report.labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    ax.set_xticks(range(len(report.labels)), report.labels, rotation=45, ha="right")
    ax.set_yticks(range(len(report.labels)), report.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j, i, str(int(matrix[i, j])), ha="center", va="center", color="white" if shares[i, j] > 0.5 else "black"
            )
    summary = (
        f"n={report.n}  accuracy={report.accuracy:.1%}  UA={report.unweighted_accuracy:.1%}  "
        f"macro-F1={report.macro_f1:.1%}"
    )
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
