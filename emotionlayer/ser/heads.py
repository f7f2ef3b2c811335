"""Classifier heads that turn features into emotion probabilities.

Every head is stored as plain arrays (``.npz``, read with ``allow_pickle=False``) and JSON, so loading a
model folder runs no code; a pickled head from an older version is refused with a message saying how
to convert it.

* ``logreg``: standardisation + multinomial logistic regression (scikit-learn to train; stored as plain
  arrays and applied with NumPy).
* ``svm``: standardisation + RBF support vector machine with Platt-scaled probabilities (scikit-learn to
  train; its support vectors, dual coefficients and calibration are stored as arrays and applied with
  NumPy, giving the same probabilities as scikit-learn).
* ``attentive``: a PyTorch head over frame features of every encoder layer: a learned softmax-weighted
  sum over layers, attentive statistics pooling over time, and an MLP (its ``state_dict`` stored as arrays).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelNotFoundError, UnsafeFileError
from ..files import is_pickle


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class Head:
    """Base class. ``fit(X, y)``, ``predict_proba(X) -> (n, len(labels))``, ``save``/``load``."""

    type: str = ""
    uses_frames: bool = False

    def __init__(self) -> None:
        self.labels: list[str] = []

    @property
    def params(self) -> dict[str, Any]:
        return {}

    @property
    def spec(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}

    def fit(self, features: Any, labels: Sequence[str], progress: Any = None) -> Head:
        raise NotImplementedError

    def predict_proba(self, features: Any) -> np.ndarray:
        raise NotImplementedError

    def save(self, folder: Path) -> None:
        raise NotImplementedError

    def load_weights(self, folder: Path) -> Head:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not self.labels:
            raise ConfigError(f"The {self.type} head is not trained yet. Call fit() or load a trained model.")


class LogisticHead(Head):
    """Standardised features + multinomial logistic regression.

    Args:
        C: Inverse L2 regularisation strength (smaller = stronger).
        class_weight: ``balanced`` weighs classes inversely to their frequency; ``none`` does not.
        max_iter: Solver iterations.
        clip: Clip standardised features to +-``clip`` (training statistics), so that speech unlike the
            training data cannot push a few features to extreme values and the answer to certainty.
            ``None`` disables it.
        temperature: Divide the logits by this before the softmax (>1 = less confident). Fitted on
            held-out predictions by :func:`emotionlayer.ser.train.train_ser` when it cross-validates.
    """

    type = "logreg"

    def __init__(
        self,
        C: float = 0.1,
        class_weight: str = "balanced",
        max_iter: int = 3000,
        clip: float | None = 4.0,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.C = float(C)
        self.class_weight = class_weight
        self.max_iter = int(max_iter)
        self.clip = None if clip is None else float(clip)
        self.temperature = float(temperature)
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "class_weight": self.class_weight,
            "max_iter": self.max_iter,
            "clip": self.clip,
            "temperature": self.temperature,
        }

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.scale
        return np.clip(z, -self.clip, self.clip) if self.clip is not None else z

    def fit(self, features: np.ndarray, labels: Sequence[str], progress: Any = None) -> LogisticHead:
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(features, dtype=np.float64)
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0)
        self.scale[self.scale < 1e-8] = 1.0
        model = LogisticRegression(
            C=self.C,
            class_weight=None if self.class_weight == "none" else self.class_weight,
            max_iter=self.max_iter,
        )
        model.fit(self._standardise(x), list(labels))
        self.labels = [str(c) for c in model.classes_]
        coef, intercept = model.coef_, model.intercept_
        if len(self.labels) == 2:  # sklearn stores one row for two classes
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        self.coef, self.intercept = coef.astype(np.float32), intercept.astype(np.float32)
        return self

    def logits(self, features: np.ndarray) -> np.ndarray:
        self._check_fitted()
        x = self._standardise(np.atleast_2d(np.asarray(features, dtype=np.float32)))
        return x.astype(np.float32) @ self.coef.T + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return _softmax(self.logits(features) / self.temperature)

    def save(self, folder: Path) -> None:
        self._check_fitted()
        np.savez(
            folder / "head_logreg.npz",
            mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32),
            coef=self.coef,
            intercept=self.intercept,
        )

    def load_weights(self, folder: Path) -> LogisticHead:
        with np.load(folder / "head_logreg.npz", allow_pickle=False) as data:
            self.mean, self.scale = data["mean"], data["scale"]
            self.coef, self.intercept = data["coef"], data["intercept"]
        return self


class SVMHead(Head):
    """Standardised features + RBF SVM with Platt-scaled probabilities.

    Trained with scikit-learn (``SVC`` inside a sigmoid ``CalibratedClassifierCV``); applied with NumPy
    from the arrays it is stored as (``head_svm.npz``), which give the same probabilities.

    Args:
        C: Margin penalty.
        gamma: RBF width (``scale`` = 1 / (n_features * var)).
        class_weight: ``balanced`` or ``none``.
    """

    type = "svm"
    _ARRAYS = ("mean", "scale", "support_vectors", "dual_coef", "intercept", "n_support", "gamma", "calib_a", "calib_b")

    def __init__(self, C: float = 3.0, gamma: str | float = "scale", class_weight: str = "balanced") -> None:
        super().__init__()
        self.C = float(C)
        self.gamma = gamma
        self.class_weight = class_weight
        self.arrays: dict[str, np.ndarray] = {}

    @property
    def params(self) -> dict[str, Any]:
        return {"C": self.C, "gamma": self.gamma, "class_weight": self.class_weight}

    def fit(self, features: np.ndarray, labels: Sequence[str], progress: Any = None) -> SVMHead:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        svm = SVC(
            C=self.C,
            gamma=self.gamma,
            class_weight=None if self.class_weight == "none" else self.class_weight,
            random_state=0,
        )
        model = make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, ensemble=False, method="sigmoid"))
        model.fit(np.asarray(features, dtype=np.float64), list(labels))
        return self.set_from_sklearn(model)

    def set_from_sklearn(self, model: Any) -> SVMHead:
        """Take the weights of a fitted scikit-learn pipeline: ``StandardScaler`` then a sigmoid
        ``CalibratedClassifierCV(SVC(kernel="rbf"), ensemble=False)``, as :meth:`fit` builds it.

        This is also how to convert an SVM head pickled by an older emotionlayer (``head_svm.pkl``), for a
        file you trust: unpickle it yourself, then ``SVMHead().set_from_sklearn(model).save(folder)``.
        """
        scaler, calibrated = model.steps[0][1], model.steps[-1][1]
        if len(calibrated.calibrated_classifiers_) != 1:
            raise ConfigError("Only a CalibratedClassifierCV with ensemble=False (one calibrated SVC) can be stored.")
        inner = calibrated.calibrated_classifiers_[0]
        svc = inner.estimator
        if getattr(svc, "kernel", None) != "rbf":
            raise ConfigError(f"Only an RBF SVC can be stored; this one has kernel={getattr(svc, 'kernel', None)!r}.")
        self.labels = [str(c) for c in calibrated.classes_]
        self.arrays = {
            "mean": np.asarray(scaler.mean_, dtype=np.float64),
            "scale": np.asarray(scaler.scale_, dtype=np.float64),
            "support_vectors": np.asarray(svc.support_vectors_, dtype=np.float64),
            "dual_coef": np.asarray(svc.dual_coef_, dtype=np.float64),
            "intercept": np.asarray(svc.intercept_, dtype=np.float64),
            "n_support": np.asarray(svc.n_support_, dtype=np.int64),
            "gamma": np.asarray(float(svc._gamma), dtype=np.float64),
            "calib_a": np.asarray([c.a_ for c in inner.calibrators], dtype=np.float64),
            "calib_b": np.asarray([c.b_ for c in inner.calibrators], dtype=np.float64),
        }
        return self

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """The SVC's decision values: ``(n, 1)`` for two labels, else one-vs-rest scores ``(n, labels)``
        built from the one-vs-one votes and confidences, as scikit-learn computes them."""
        self._check_fitted()
        a = self.arrays
        z = (np.atleast_2d(np.asarray(features, dtype=np.float64)) - a["mean"]) / a["scale"]
        sv = a["support_vectors"]
        distance = (z * z).sum(axis=1)[:, None] + (sv * sv).sum(axis=1)[None, :] - 2.0 * z @ sv.T
        kernel = np.exp(-float(a["gamma"]) * np.maximum(distance, 0.0))
        n_classes = len(self.labels)
        if n_classes == 2:
            return (kernel @ a["dual_coef"][0] + a["intercept"][0])[:, None]
        bounds = np.concatenate([[0], np.cumsum(a["n_support"])])
        votes = np.zeros((len(z), n_classes))
        confidence = np.zeros((len(z), n_classes))
        pair = 0
        for i in range(n_classes):
            for j in range(i + 1, n_classes):
                si, sj = slice(bounds[i], bounds[i + 1]), slice(bounds[j], bounds[j + 1])
                value = (
                    kernel[:, si] @ a["dual_coef"][j - 1, si]
                    + kernel[:, sj] @ a["dual_coef"][i, sj]
                    + a["intercept"][pair]
                )
                votes[value >= 0, i] += 1
                votes[value < 0, j] += 1
                confidence[:, i] += value
                confidence[:, j] -= value
                pair += 1
        return votes + confidence / (3.0 * (np.abs(confidence) + 1.0))

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        decision = self.decision_function(features)
        probs = 1.0 / (1.0 + np.exp(self.arrays["calib_a"] * decision + self.arrays["calib_b"]))
        if len(self.labels) == 2:
            return np.hstack([1.0 - probs, probs])
        total = probs.sum(axis=1, keepdims=True)
        safe = np.where(total > 0, total, 1.0)
        return np.where(total > 0, probs / safe, 1.0 / len(self.labels))

    def save(self, folder: Path) -> None:
        self._check_fitted()
        np.savez(folder / "head_svm.npz", **self.arrays)

    def load_weights(self, folder: Path) -> SVMHead:
        path = folder / "head_svm.npz"
        if not path.is_file() and (folder / "head_svm.pkl").is_file():
            raise UnsafeFileError(
                f"{folder / 'head_svm.pkl'} (an SVM head saved by an older emotionlayer) is a Python pickle: "
                "loading it could run any code it holds, so emotionlayer does not load it. Retrain the model "
                "(emotionlayer ser train ... --head svm), or, if you trust the file, convert it once: unpickle it "
                "yourself and call SVMHead().set_from_sklearn(model).save(folder), which writes head_svm.npz."
            )
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in self._ARRAYS if k not in data]
            if missing:
                raise ModelNotFoundError(f"{path} lacks {', '.join(missing)}. Retrain the model or re-copy it.")
            self.arrays = {k: data[k] for k in self._ARRAYS}
        return self


def _attentive_module(n_layers: int, dim: int, n_labels: int, hidden: int, dropout: float):
    import torch
    from torch import nn

    class AttentivePoolingClassifier(nn.Module):
        """Layer-weighted sum -> attentive mean/std pooling over time -> MLP."""

        def __init__(self) -> None:
            super().__init__()
            self.layer_logits = nn.Parameter(torch.zeros(n_layers))
            self.norm = nn.LayerNorm(dim)
            self.attention = nn.Sequential(nn.Linear(dim, 128), nn.Tanh(), nn.Linear(128, 1))
            self.mlp = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(2 * dim, hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, n_labels),
            )

        def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
            """``frames``: (batch, layers, time, dim); ``mask``: (batch, time), True on real frames."""
            weights = torch.softmax(self.layer_logits, dim=0)
            x = self.norm(torch.einsum("l,bltd->btd", weights, frames))
            scores = self.attention(x).squeeze(-1)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            alpha = torch.softmax(scores, dim=1).unsqueeze(-1)
            mean = (alpha * x).sum(dim=1)
            std = ((alpha * (x - mean.unsqueeze(1)) ** 2).sum(dim=1) + 1e-6).sqrt()
            return self.mlp(torch.cat([mean, std], dim=-1))

    return AttentivePoolingClassifier()


class AttentiveHead(Head):
    """PyTorch head over frame features of all encoder layers.

    A learned softmax-weighted sum over layers, attentive statistics pooling over time and a two-layer
    MLP. Trained with AdamW and class-balanced cross-entropy.

    Args:
        hidden: MLP width.
        dropout: Dropout before each linear layer of the MLP.
        epochs: Training epochs.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Clips per step.
        max_frames: Random crop length (encoder frames) used in training, as augmentation.
        seed: Random seed.
    """

    type = "attentive"
    uses_frames = True

    def __init__(
        self,
        hidden: int = 256,
        dropout: float = 0.3,
        epochs: int = 40,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 16,
        max_frames: int = 400,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.hidden, self.dropout, self.epochs = int(hidden), float(dropout), int(epochs)
        self.lr, self.weight_decay, self.batch_size = float(lr), float(weight_decay), int(batch_size)
        self.max_frames, self.seed = int(max_frames), int(seed)
        self.shape: tuple[int, int] | None = None
        self.module: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "dropout": self.dropout,
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
            "max_frames": self.max_frames,
            "seed": self.seed,
        }

    def _build(self) -> None:
        assert self.shape is not None
        self.module = _attentive_module(self.shape[0], self.shape[1], len(self.labels), self.hidden, self.dropout)

    @staticmethod
    def _batch(items: Sequence[np.ndarray], max_frames: int | None, rng: np.random.Generator | None):
        import torch

        crops = []
        for item in items:
            if max_frames and item.shape[1] > max_frames and rng is not None:
                start = int(rng.integers(0, item.shape[1] - max_frames + 1))
                item = item[:, start : start + max_frames]
            crops.append(item)
        longest = max(c.shape[1] for c in crops)
        batch = np.zeros((len(crops), crops[0].shape[0], longest, crops[0].shape[2]), dtype=np.float32)
        mask = np.zeros((len(crops), longest), dtype=bool)
        for i, c in enumerate(crops):
            batch[i, :, : c.shape[1]] = c
            mask[i, : c.shape[1]] = True
        return torch.from_numpy(batch), torch.from_numpy(mask)

    def fit(self, features: Sequence[np.ndarray], labels: Sequence[str], progress: Any = None) -> AttentiveHead:
        import torch

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.labels = sorted(set(labels))
        index = {label: i for i, label in enumerate(self.labels)}
        targets = np.array([index[label] for label in labels])
        self.shape = (int(features[0].shape[0]), int(features[0].shape[2]))
        self._build()
        counts = np.bincount(targets, minlength=len(self.labels)).astype(np.float32)
        weight = torch.tensor(counts.sum() / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32)
        optimiser = torch.optim.AdamW(self.module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps = self.epochs * int(np.ceil(len(targets) / self.batch_size))
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=self.lr, total_steps=max(steps, 1))
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=0.05)
        self.module.train()
        for _ in range(self.epochs):
            order = rng.permutation(len(targets))
            for start in range(0, len(order), self.batch_size):
                chosen = order[start : start + self.batch_size]
                x, mask = self._batch([features[i] for i in chosen], self.max_frames, rng)
                loss = loss_fn(self.module(x, mask), torch.from_numpy(targets[chosen]))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
            if progress is not None:
                progress.update(1)
        self.module.eval()
        return self

    def predict_proba(self, features: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        import torch

        self._check_fitted()
        items = [features] if isinstance(features, np.ndarray) and features.ndim == 3 else list(features)
        out = []
        with torch.inference_mode():
            for start in range(0, len(items), 32):
                x, mask = self._batch(items[start : start + 32], None, None)
                out.append(torch.softmax(self.module(x, mask), dim=-1).numpy())
        return np.concatenate(out)

    @property
    def layer_weights(self) -> list[float]:
        """The learned weight of each encoder layer (they sum to 1)."""
        import torch

        self._check_fitted()
        return torch.softmax(self.module.layer_logits.detach(), dim=0).tolist()

    def save(self, folder: Path) -> None:
        self._check_fitted()
        state = {name: tensor.detach().cpu().numpy() for name, tensor in self.module.state_dict().items()}
        np.savez(folder / "head_attentive.npz", **state)
        (folder / "head_attentive.json").write_text(json.dumps({"shape": list(self.shape)}))

    def load_weights(self, folder: Path) -> AttentiveHead:
        import torch

        path = folder / "head_attentive.npz"
        legacy = folder / "head_attentive.pt"
        if not path.is_file() and legacy.is_file() and is_pickle(legacy):
            raise UnsafeFileError(
                f"{legacy} (an attentive head saved by an older emotionlayer with torch.save) is a Python pickle: "
                "loading it could run code, so emotionlayer does not load it. Retrain the model, or, if you trust "
                "the file, convert it once: sd = torch.load(path, weights_only=True); "
                "numpy.savez(folder / 'head_attentive.npz', **{k: v.numpy() for k, v in sd.items()})."
            )
        self.shape = tuple(json.loads((folder / "head_attentive.json").read_text())["shape"])  # type: ignore[assignment]
        self._build()
        with np.load(path, allow_pickle=False) as data:
            state = {name: torch.from_numpy(np.array(data[name])) for name in data.files}
        self.module.load_state_dict(state)
        self.module.eval()
        return self


HEAD_TYPES: dict[str, type[Head]] = {"logreg": LogisticHead, "svm": SVMHead, "attentive": AttentiveHead}


def build_head(spec: dict[str, Any] | str) -> Head:
    """Build an (untrained) head from ``{"type": "logreg", "C": 0.5}`` or a name (``logreg``, ``svm``,
    ``attentive``)."""
    spec = {"type": spec} if isinstance(spec, str) else dict(spec)
    kind = spec.pop("type", None)
    if kind not in HEAD_TYPES:
        raise ConfigError(f"Unknown head {kind!r}. Choose one of: {', '.join(HEAD_TYPES)}.")
    try:
        return HEAD_TYPES[kind](**spec)
    except TypeError as exc:
        raise ConfigError(f"Bad parameters for the {kind} head: {exc}.") from exc


def load_head(spec: dict[str, Any], labels: Sequence[str], folder: Path) -> Head:
    """Rebuild a trained head from its spec and the weight files in ``folder``."""
    head = build_head(spec)
    head.labels = list(labels)
    try:
        return head.load_weights(folder)
    except FileNotFoundError as exc:
        raise ModelNotFoundError(
            f"{folder} lacks the {head.type} head weights ({exc.filename}). Retrain or re-copy it."
        ) from exc
