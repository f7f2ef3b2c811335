"""Train and cross-validate SER models from a manifest.

Example::

    from emotionlayer.ser import train_ser

    model, result = train_ser("path/to/manifest.csv", out="models/my-ser", features="whisper-base",
                              head="logreg", cross_validate=True)
    print(result.report.unweighted_accuracy)

Validation always leaves speakers out (a speaker is never in both the training and the test part of a
fold), because a random clip split lets the model recognise the voice instead of the emotion.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ..data.manifest import ManifestRow, read_manifest
from ..errors import ConfigError
from ..evaluation.metrics import ClassificationReport, classification_report
from ..labels import EMOTIONS, FOUR_CLASS, canonical_list, restrict
from .augment import augment as apply_augmentation
from .augment import check_augmentations
from .features import FeatureExtractor, build_features
from .heads import Head, build_head
from .model import SERMember, SERModel

PathLike = Union[str, os.PathLike]


@dataclass
class CrossValidationResult:
    """Leave-speakers-out cross-validation figures.

    Attributes:
        report: Figures over the pooled out-of-fold predictions of every clip.
        four_class: The same restricted to neutral/happy/sad/angry clips, deciding among those four
            labels only (``None`` if the data lacks one of them).
        folds: Speakers held out in each fold.
        fold_accuracy: Unweighted accuracy of each fold.
        references: True label of every clip (manifest order).
        probabilities: Out-of-fold probability table of every clip (columns: ``labels``).
        labels: Column order of ``probabilities``.
    """

    report: ClassificationReport
    four_class: ClassificationReport | None
    folds: list[list[str]]
    fold_accuracy: list[float]
    references: list[str]
    probabilities: np.ndarray
    labels: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.report.n,
            "folds": len(self.folds),
            "unweighted_accuracy": self.report.unweighted_accuracy,
            "accuracy": self.report.accuracy,
            "macro_f1": self.report.macro_f1,
            "fold_ua_std": round(float(np.std(self.fold_accuracy)), 4),
        }
        if self.four_class is not None:
            out["four_class_unweighted_accuracy"] = self.four_class.unweighted_accuracy
        return out


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="clip" if "feature" in desc else "step", leave=False)


def extract_features(
    rows: Sequence[ManifestRow],
    extractor: FeatureExtractor,
    frames: bool = False,
    augmentations: Sequence[Sequence[str]] = (),
    seed: int = 0,
    progress: bool = True,
) -> tuple[list[np.ndarray], list[int]]:
    """Features of every row, plus augmented copies.

    Args:
        rows: Manifest rows.
        extractor: The feature extractor.
        frames: Extract ``(layers, frames, dim)`` frame features instead of vectors.
        augmentations: Extra copies of each clip: one per entry, each a list of augmentation names
            applied in order (e.g. ``[["speed"], ["pitch", "noise"]]``).
        seed: Seed of the augmentation strengths.
        progress: Show a tqdm progress bar.

    Returns:
        ``(features, source)``: the features and, for each, the index of the row it came from
        (originals first, in row order, then augmented copies).
    """
    rng = np.random.default_rng(seed)
    copies = [list(check_augmentations(a)) for a in augmentations]
    bar = _progress(len(rows) * (1 + len(copies)), "features", progress)
    feats: list[np.ndarray] = []
    source: list[int] = []
    extract: Callable[[Any], np.ndarray] = extractor.extract_frames if frames else extractor.extract
    audios = []
    for i, row in enumerate(rows):
        audio = row.load_audio(16000)
        if copies:
            audios.append(audio)
        feats.append(extract(audio))
        source.append(i)
        if bar is not None:
            bar.update(1)
    for names in copies:
        for i, audio in enumerate(audios):
            feats.append(extract(apply_augmentation(audio, names, rng)))
            source.append(i)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return feats, source


def speaker_folds(speakers: Sequence[str | None], n_folds: int | None = None) -> list[list[str]]:
    """Group speakers into folds (one speaker per fold by default), deterministic order.

    Raises:
        ConfigError: rows without a speaker, or fewer than two speakers.
    """
    if any(s is None for s in speakers):
        raise ConfigError(
            "Leave-speakers-out validation needs a 'speaker' for every manifest row; fill that column "
            "(a random clip split would let the model recognise voices instead of emotions)."
        )
    unique = sorted(set(speakers))  # type: ignore[arg-type]
    if len(unique) < 2:
        raise ConfigError(f"Cross-validation needs at least two speakers; the manifest has {len(unique)}.")
    n_folds = len(unique) if not n_folds else min(int(n_folds), len(unique))
    return [unique[i::n_folds] for i in range(n_folds)]


def _as_matrix(items: Sequence[np.ndarray], frames: bool) -> Any:
    return list(items) if frames else np.stack(items)


def cross_validate_features(
    features: Sequence[np.ndarray],
    source: Sequence[int],
    rows: Sequence[ManifestRow],
    head_spec: dict[str, Any] | str,
    n_folds: int | None = None,
    frames: bool = False,
    progress: bool = False,
) -> CrossValidationResult:
    """Leave-speakers-out CV on precomputed features (augmented copies only ever train)."""
    labels_per_row = [row.emotion for row in rows]
    speakers = [row.speaker for row in rows]
    folds = speaker_folds(speakers, n_folds)
    labels = [label for label in EMOTIONS if label in set(labels_per_row)]
    labels += sorted(set(labels_per_row) - set(labels))  # type: ignore[arg-type]
    probs = np.zeros((len(rows), len(labels)))
    fold_ua: list[float] = []
    source = np.asarray(source)
    is_original = np.zeros(len(source), dtype=bool)
    is_original[: len(rows)] = True
    bar = _progress(len(folds), "cross-validation folds", progress)
    for held_out in folds:
        test_rows = [i for i, s in enumerate(speakers) if s in held_out]
        train_items = [j for j, src in enumerate(source) if speakers[src] not in held_out]
        head: Head = build_head(head_spec)
        head.fit(
            _as_matrix([features[j] for j in train_items], frames),
            [labels_per_row[source[j]] for j in train_items],
        )
        fold_probs = head.predict_proba(_as_matrix([features[i] for i in test_rows], frames))
        for k, label in enumerate(head.labels):
            probs[test_rows, labels.index(label)] = fold_probs[:, k]
        fold_ua.append(
            classification_report(
                [labels_per_row[i] for i in test_rows], [labels[int(np.argmax(probs[i]))] for i in test_rows]
            ).unweighted_accuracy
        )
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return summarise_predictions(labels_per_row, probs, labels, folds, fold_ua)


def summarise_predictions(
    references: Sequence[str | None],
    probabilities: np.ndarray,
    labels: Sequence[str],
    folds: list[list[str]] | None = None,
    fold_accuracy: list[float] | None = None,
) -> CrossValidationResult:
    """Turn out-of-fold probabilities into the full and the four-class reports."""
    labels = list(labels)
    refs = [str(r) for r in references]
    predictions = [labels[int(np.argmax(p))] for p in probabilities]
    report = classification_report(refs, predictions, labels)
    four = None
    if all(label in labels for label in FOUR_CLASS):
        keep = [i for i, r in enumerate(refs) if r in FOUR_CLASS]
        if keep:
            four_pred = []
            for i in keep:
                table = restrict(dict(zip(labels, probabilities[i], strict=True)), FOUR_CLASS)
                four_pred.append(max(table, key=table.get))
            four = classification_report([refs[i] for i in keep], four_pred, list(FOUR_CLASS))
    return CrossValidationResult(
        report, four, folds or [], fold_accuracy or [], refs, np.asarray(probabilities), labels
    )


def fit_temperature(probabilities: np.ndarray, references: Sequence[str], labels: Sequence[str]) -> float:
    """The softmax temperature that minimises the log loss of held-out probabilities (grid search).

    Held-out predictions of a classifier trained on a few hundred clips are over-confident; dividing its
    logits by a temperature above 1 makes its probabilities honest without changing any decision.
    """
    index = [list(labels).index(r) for r in references]
    logp = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, None))
    best, best_loss = 1.0, float("inf")
    for t in np.round(np.arange(0.5, 8.01, 0.25), 2):
        scaled = logp / t
        scaled -= scaled.max(axis=1, keepdims=True)
        log_norm = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        loss = -float(np.mean(log_norm[np.arange(len(index)), index]))
        if loss < best_loss - 1e-9:
            best, best_loss = float(t), loss
    return best


def _resolve_rows(manifest: PathLike | Sequence[ManifestRow], labels: Sequence[str] | None) -> list[ManifestRow]:
    rows = (
        list(read_manifest(manifest, require_emotion=True))
        if isinstance(manifest, (str, os.PathLike))
        else list(manifest)
    )
    if any(row.emotion is None for row in rows):
        raise ConfigError("Every training row needs an emotion label.")
    if labels is not None:
        wanted = canonical_list(labels)
        rows = [row for row in rows if row.emotion in wanted]
        if not rows:
            raise ConfigError(f"No manifest row has one of the labels {', '.join(wanted)}.")
    if len({row.emotion for row in rows}) < 2:
        raise ConfigError("Training needs clips of at least two different emotions.")
    return rows


def train_ser(
    manifest: PathLike | Sequence[ManifestRow],
    out: PathLike | None = None,
    features: str | dict[str, Any] = "whisper-base",
    head: str | dict[str, Any] = "logreg",
    augment: Sequence[Sequence[str]] | Sequence[str] = (),
    labels: Sequence[str] | str | None = None,
    cross_validate: bool = False,
    n_folds: int | None = None,
    name: str | None = None,
    licence: str = "",
    data_description: str = "",
    seed: int = 0,
    progress: bool = True,
    device: str = "cpu",
) -> tuple[SERModel, CrossValidationResult | None]:
    """Train an SER model on a manifest (and optionally cross-validate it leaving speakers out).

    Args:
        manifest: A CSV/JSONL manifest path, or rows already read.
        out: Folder to write the model and its model card to (``None``: do not save).
        features: Feature spec or string (``whisper-base``, ``whisper-tiny.en``, ``egemaps``,
            ``ssl:path/to/model``, joined with ``+``).
        head: Head spec or name (``logreg``, ``svm``, ``attentive``).
        augment: Augmented copies per clip, each a list of augmentation names (``speed``, ``pitch``,
            ``gain``, ``noise``); a flat list of names means one copy per name.
        labels: Train on these labels only (rows with other labels are dropped).
        cross_validate: Also run leave-speakers-out cross-validation (needs a speaker per row).
        n_folds: Number of CV folds (default: one per speaker).
        name: Model name (default: derived from the features and head).
        licence: Licence of the trained weights (inherit the data's!), written to the model card.
        data_description: One line describing the training data, for the model card.
        seed: Random seed (augmentation strengths, head initialisation).
        progress: Show tqdm progress bars.
        device: torch device for encoders and the attentive head.

    Returns:
        ``(model, cv_result)``; ``cv_result`` is ``None`` unless ``cross_validate``.
    """
    started = time.time()
    rows = _resolve_rows(manifest, labels)
    extractor = build_features(features, device=device)
    head_obj = build_head(head)
    copies: list[list[str]] = (
        [[a] for a in augment] if augment and all(isinstance(a, str) for a in augment) else [list(a) for a in augment]  # type: ignore[misc]
    )
    feats, source = extract_features(rows, extractor, head_obj.uses_frames, copies, seed, progress)
    result = None
    if cross_validate:
        result = cross_validate_features(feats, source, rows, head_obj.spec, n_folds, head_obj.uses_frames, progress)
        if hasattr(head_obj, "temperature"):
            head_obj.temperature = fit_temperature(result.probabilities, result.references, result.labels)
            result.extra["temperature"] = head_obj.temperature
    targets = [rows[i].emotion for i in source]
    x = _as_matrix(feats, head_obj.uses_frames)
    bar = _progress(getattr(head_obj, "epochs", 0), "training head", progress and head_obj.uses_frames)
    head_obj.fit(x, targets, progress=bar)  # type: ignore[arg-type]
    if bar is not None:
        bar.close()
    model_name = name or f"{extractor.name}-{head_obj.type}"
    metadata: dict[str, Any] = {
        "trained_on": {
            "manifest": os.path.basename(str(manifest)) if isinstance(manifest, (str, os.PathLike)) else "rows",
            "description": data_description,
            "clips": len(rows),
            "speakers": len({r.speaker for r in rows if r.speaker}),
            "label_counts": {label: sum(r.emotion == label for r in rows) for label in head_obj.labels},
            "augmentation": copies,
        },
        "licence": licence,
        "training_seconds": round(time.time() - started, 1),
        "software": {"python": platform.python_version()},
    }
    if result is not None:
        metadata["cross_validation"] = result.summary()
    model = SERModel([SERMember(extractor, head_obj)], name=model_name, metadata=metadata)
    if out is not None:
        model.save(out, card=model_card(model, result))
    return model, result


def model_card(model: SERModel, result: CrossValidationResult | None = None) -> str:
    """A Markdown model card: what the model is, its data, its validated accuracy and its licence."""
    meta = model.metadata
    trained = meta.get("trained_on", {})
    lines = [
        f"# SER model card: {model.name}",
        "",
        "## Model",
        "",
    ]
    for member in model.members:
        lines.append(f"- features: `{member.features.spec}`")
        lines.append(f"- head: `{member.head.spec}`")
    lines += [
        f"- labels: {', '.join(model.labels)}",
        "",
        "## Training data",
        "",
        f"- {trained.get('description') or trained.get('manifest', 'unknown')}",
        f"- {trained.get('clips', '?')} clips, {trained.get('speakers', '?')} speakers",
        f"- clips per label: {trained.get('label_counts', {})}",
        f"- augmentation: {trained.get('augmentation') or 'none'}",
        "",
        "## Validated accuracy",
        "",
    ]
    if result is not None:
        s = result.summary()
        lines += [
            f"Leave-speakers-out cross-validation, {s['folds']} folds (no speaker in both training and test):",
            "",
            "| metric | value |",
            "|---|---|",
            f"| unweighted accuracy ({len(result.labels)} classes) | {s['unweighted_accuracy']:.1%} |",
            f"| accuracy | {s['accuracy']:.1%} |",
            f"| macro F1 | {s['macro_f1']:.1%} |",
            f"| std of per-fold UA | {s['fold_ua_std']:.1%} |",
        ]
        if result.four_class is not None:
            lines.append(
                "| unweighted accuracy, 4 classes (neutral/happy/sad/angry) | "
                f"{result.four_class.unweighted_accuracy:.1%} |"
            )
        lines += [
            "",
            "Recall per label: " + ", ".join(f"{k} {v.recall:.0%}" for k, v in result.report.per_label.items()),
        ]
    else:
        lines.append("Not cross-validated (train with cross_validate=True / --cv to measure it).")
    lines += [
        "",
        "## Licence",
        "",
        meta.get("licence") or "Trained weights inherit the licence terms of their training data; state them here.",
        "",
        "## Limits",
        "",
        "Trained on the data above only: expect lower accuracy on other speakers, languages, microphones and on "
        "spontaneous (not acted) speech.",
        "",
    ]
    return "\n".join(lines)
