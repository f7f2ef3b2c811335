"""The window classifier behind the event detector: a small MLP stored as plain arrays.

Training uses scikit-learn's ``MLPClassifier``; the trained weights are exported to ``model.npz`` (no
pickle, so loading runs no code and does not depend on the scikit-learn version) and a ``config.json``
holding the labels, the feature settings and how the model was trained. Inference is a few NumPy matrix
products.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelNotFoundError
from .features import FeatureConfig

#: Window classes that are not events.
BACKGROUND_LABELS: tuple[str, ...] = ("silence", "speech")

MODEL_FILE = "model.npz"
CONFIG_FILE = "config.json"


@dataclass
class WindowClassifier:
    """Standardise -> ReLU MLP -> softmax over :attr:`labels`.

    Attributes:
        labels: Class names, ``silence`` and ``speech`` included.
        mean: Feature means for standardisation.
        scale: Feature standard deviations.
        weights: Layer weight matrices (in, out).
        biases: Layer bias vectors.
        feature_config: How features are computed.
        info: Free-form training facts (data, figures), saved in ``config.json``.
        members: Other classifiers (same labels and features) whose probabilities are averaged with
            this one's: an ensemble, see :func:`combine`.
    """

    labels: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    feature_config: FeatureConfig = field(default_factory=FeatureConfig)
    info: dict[str, Any] = field(default_factory=dict)
    members: list[WindowClassifier] = field(default_factory=list)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities, (windows, labels) (the mean over the ensemble, if there are members)."""
        probs = self._own_proba(features)
        if self.members:
            probs = (probs + sum(m._own_proba(features) for m in self.members)) / (1 + len(self.members))
        return probs

    def _own_proba(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=False)):
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = np.maximum(x, 0.0)
        x = x - x.max(axis=1, keepdims=True)
        e = np.exp(x)
        return e / e.sum(axis=1, keepdims=True)

    @property
    def event_labels(self) -> tuple[str, ...]:
        """Labels that are events (everything but silence and speech)."""
        return tuple(label for label in self.labels if label not in BACKGROUND_LABELS)

    def _arrays(self, prefix: str) -> dict[str, np.ndarray]:
        arrays = {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"{prefix}w{i}"] = w.astype(np.float32)
            arrays[f"{prefix}b{i}"] = b.astype(np.float32)
        return arrays

    def save(self, directory: str | Path) -> Path:
        """Write ``model.npz`` and ``config.json`` into ``directory`` (created)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        arrays = self._arrays("")
        for k, member in enumerate(self.members):
            arrays.update(member._arrays(f"m{k}_"))
        np.savez_compressed(out / MODEL_FILE, **arrays)
        config = {
            "format": "emotionlayer-events-mlp/1",
            "labels": list(self.labels),
            "layers": len(self.weights),
            "members": [len(m.weights) for m in self.members],
            "features": self.feature_config.to_dict(),
            "info": self.info,
        }
        (out / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> WindowClassifier:
        """Read a model written by :meth:`save`.

        Raises:
            ModelNotFoundError: the folder lacks ``model.npz`` or ``config.json``.
        """
        root = Path(directory).expanduser()
        if not (root / MODEL_FILE).is_file() or not (root / CONFIG_FILE).is_file():
            raise ModelNotFoundError(
                f"No event detector in {root} (needs {MODEL_FILE} and {CONFIG_FILE}). Train one with "
                "`emotionlayer events train --manifest M --out DIR`, or omit model_dir to use the packaged one."
            )
        config = json.loads((root / CONFIG_FILE).read_text(encoding="utf-8"))
        labels = tuple(config["labels"])
        features = FeatureConfig.from_dict(config.get("features", {}))

        def build(data: Any, prefix: str, layers: int, info: dict[str, Any]) -> WindowClassifier:
            return cls(
                labels=labels,
                mean=data[f"{prefix}mean"].astype(np.float32),
                scale=data[f"{prefix}scale"].astype(np.float32),
                weights=[data[f"{prefix}w{i}"].astype(np.float32) for i in range(layers)],
                biases=[data[f"{prefix}b{i}"].astype(np.float32) for i in range(layers)],
                feature_config=features,
                info=info,
            )

        with np.load(root / MODEL_FILE, allow_pickle=False) as data:
            model = build(data, "", int(config["layers"]), dict(config.get("info", {})))
            model.members = [build(data, f"m{k}_", int(n), {}) for k, n in enumerate(config.get("members", []))]
        return model


def combine(models: list[WindowClassifier], info: dict[str, Any] | None = None) -> WindowClassifier:
    """An ensemble that averages the probabilities of ``models`` (same labels and features).

    Raises:
        ConfigError: the models disagree on labels or features.
    """
    from ...errors import ConfigError

    if not models:
        raise ConfigError("combine() needs at least one model.")
    first = models[0]
    for other in models[1:]:
        if other.labels != first.labels or other.feature_config != first.feature_config:
            raise ConfigError("Only detectors with the same labels and feature settings can be combined.")
    flat = [m for model in models for m in [model, *model.members]]
    head = flat[0]
    return WindowClassifier(
        head.labels,
        head.mean,
        head.scale,
        head.weights,
        head.biases,
        head.feature_config,
        info or dict(head.info),
        [WindowClassifier(m.labels, m.mean, m.scale, m.weights, m.biases, m.feature_config) for m in flat[1:]],
    )


def fit_classifier(
    features: np.ndarray,
    labels: np.ndarray,
    label_names: tuple[str, ...],
    hidden: tuple[int, ...] = (128, 64),
    seed: int = 0,
    max_iter: int = 200,
    feature_config: FeatureConfig | None = None,
    balance: bool = True,
) -> WindowClassifier:
    """Train the MLP on window features.

    Args:
        features: (windows, dims) matrix.
        labels: Integer class per window (index into ``label_names``).
        label_names: Class names.
        hidden: Hidden layer sizes.
        seed: Random seed.
        max_iter: Training epochs at most (early stopping on a 10% validation split).
        feature_config: Feature settings to store with the model.
        balance: Resample so every class has the same number of windows (events are rare next to speech).

    Returns:
        The trained :class:`WindowClassifier`.
    """
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(seed)
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels, dtype=int)
    if balance:
        present = np.unique(y)
        target = int(np.median([np.sum(y == c) for c in present]))
        index = np.concatenate(
            [rng.choice(np.flatnonzero(y == c), size=target, replace=np.sum(y == c) < target) for c in present]
        )
        x, y = x[index], y[index]
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    model = MLPClassifier(
        hidden_layer_sizes=hidden,
        alpha=1e-3,
        batch_size=256,
        learning_rate_init=1e-3,
        max_iter=max_iter,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=seed,
    )
    model.fit((x - mean) / scale, y)
    weights = [w.astype(np.float32) for w in model.coefs_]
    biases = [b.astype(np.float32) for b in model.intercepts_]
    # sklearn orders the output units by model.classes_; expand to every label index (absent ones get -inf).
    out_w = np.zeros((weights[-1].shape[0], len(label_names)), dtype=np.float32)
    out_b = np.full(len(label_names), -30.0, dtype=np.float32)
    if len(model.classes_) == 2 and weights[-1].shape[1] == 1:  # binary: one logistic unit
        out_w[:, model.classes_[1]] = weights[-1][:, 0]
        out_b[model.classes_[1]] = biases[-1][0]
        out_b[model.classes_[0]] = 0.0
    else:
        for column, cls in enumerate(model.classes_):
            out_w[:, cls] = weights[-1][:, column]
            out_b[cls] = biases[-1][column]
    weights[-1], biases[-1] = out_w, out_b
    return WindowClassifier(
        labels=tuple(label_names),
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        weights=weights,
        biases=biases,
        feature_config=feature_config or FeatureConfig(),
        info={"epochs": int(model.n_iter_), "best_validation_accuracy": float(max(model.validation_scores_ or [0.0]))},
    )
