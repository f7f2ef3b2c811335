"""Classifier heads that turn features into emotion probabilities.

* ``logreg``: standardisation + multinomial logistic regression (scikit-learn to train; stored as plain
  arrays and applied with NumPy, so loading runs no pickled code).
* ``svm``: standardisation + RBF support vector machine with probability estimates (scikit-learn; stored
  with pickle, so load only model folders you trust).
* ``attentive``: a PyTorch head over frame features of every encoder layer: a learned softmax-weighted
  sum over layers, attentive statistics pooling over time, and an MLP (stored as a ``state_dict``).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelNotFoundError


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
    """Standardised features + RBF SVM with Platt-scaled probabilities (scikit-learn, pickled).

    Args:
        C: Margin penalty.
        gamma: RBF width (``scale`` = 1 / (n_features * var)).
        class_weight: ``balanced`` or ``none``.
    """

    type = "svm"

    def __init__(self, C: float = 3.0, gamma: str | float = "scale", class_weight: str = "balanced") -> None:
        super().__init__()
        self.C = float(C)
        self.gamma = gamma
        self.class_weight = class_weight
        self.model: Any = None

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
        self.model = make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, ensemble=False, method="sigmoid"))
        self.model.fit(np.asarray(features, dtype=np.float64), list(labels))
        self.labels = [str(c) for c in self.model.classes_]
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.model.predict_proba(np.atleast_2d(np.asarray(features, dtype=np.float64)))

    def save(self, folder: Path) -> None:
        self._check_fitted()
        with open(folder / "head_svm.pkl", "wb") as handle:
            pickle.dump(self.model, handle)

    def load_weights(self, folder: Path) -> SVMHead:
        with open(folder / "head_svm.pkl", "rb") as handle:
            self.model = pickle.load(handle)  # noqa: S301 - documented: load only trusted model folders
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
        import torch

        self._check_fitted()
        torch.save(self.module.state_dict(), folder / "head_attentive.pt")
        (folder / "head_attentive.json").write_text(json.dumps({"shape": list(self.shape)}))

    def load_weights(self, folder: Path) -> AttentiveHead:
        import torch

        self.shape = tuple(json.loads((folder / "head_attentive.json").read_text())["shape"])  # type: ignore[assignment]
        self._build()
        self.module.load_state_dict(torch.load(folder / "head_attentive.pt", map_location="cpu", weights_only=True))
        self.module.eval()
        return self


HEAD_TYPES: dict[str, type[Head]] = {"logreg": LogisticHead, "svm": SVMHead, "attentive": AttentiveHead}


def build_head(spec: dict[str, Any] | str) -> Head:
    """Build an (untrained) head from ``{"type": "logreg", "C": 0.5}`` or a name (``logreg``, ``svm``, ``attentive``)."""
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
