"""Multi-corpus SER training: one head over the union of labels, each corpus scored on its own labels only.

Corpora label different sets of emotions (RAVDESS has 8, CASIA 6, URDU 4). Training one softmax over
all labels with every clip would teach the model that a CASIA clip is "not calm" merely because CASIA has
no calm. Here each clip's softmax is taken over its own corpus's labels only (the other logits are
masked), clips are weighted so that every corpus (and every label within it) counts the same, and
optional non-speech clips are pushed towards the uniform distribution over all labels (so that noise,
music or silence get no confident emotion).

The head works on pooled per-layer whisper statistics (``(layers, 2 * d_model)``, see
:mod:`emotionlayer.ser.cache`): each layer is standardised (clipped at +-``clip``), the layers are mixed
by learned softmax weights and a linear map gives the logits. Because every step is linear, the trained
head is exported as a plain :class:`~emotionlayer.ser.heads.LogisticHead` over the concatenated layer
statistics (the layer weights folded into its coefficients), the format the SER already loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..labels import EMOTIONS
from .corpora import CORPUS_LABELS
from .heads import LogisticHead


@dataclass
class MultiCorpusRecipe:
    """How to train the multi-corpus head.

    Attributes:
        layer_weighting: Learned softmax weights over layers and one linear map shared by all layers;
            ``False`` trains one linear map over all layers side by side.
        weight_decay: L2 penalty on the linear map (Adam, full batch).
        steps: Optimisation steps (full batch).
        lr: Adam learning rate.
        corpus_balance: ``equal`` (every corpus weighs the same), ``sqrt`` (by the square root of its
            size) or ``none`` (by its size).
        class_balance: Weigh every label of a corpus the same.
        clip: Clip standardised features at +-``clip``.
        nonspeech_weight: Total weight of the non-speech clips (pushed to the uniform distribution),
            relative to one corpus.
        seed: Random seed.
    """

    layer_weighting: bool = True
    weight_decay: float = 1e-3
    steps: int = 300
    lr: float = 0.01
    corpus_balance: str = "equal"
    class_balance: bool = True
    clip: float = 4.0
    nonspeech_weight: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _sample_weights(labels: Sequence[str], corpora: Sequence[str], recipe: MultiCorpusRecipe) -> np.ndarray:
    labels, corpora = list(labels), list(corpora)
    weights = np.ones(len(labels))
    names = sorted(set(corpora))
    for corpus in names:
        idx = [i for i, c in enumerate(corpora) if c == corpus]
        if recipe.class_balance:
            present = sorted({labels[i] for i in idx})
            for label in present:
                chosen = [i for i in idx if labels[i] == label]
                weights[chosen] = 1.0 / (len(present) * len(chosen))
        else:
            weights[idx] = 1.0 / len(idx)
        size = len(idx)
        scale = {"equal": 1.0, "sqrt": np.sqrt(size), "none": float(size)}[recipe.corpus_balance]
        weights[idx] *= scale
    return weights / weights.sum() * len(names)


def fit_multicorpus_head(
    stats: np.ndarray,
    labels: Sequence[str],
    corpora: Sequence[str],
    recipe: MultiCorpusRecipe | None = None,
    nonspeech: np.ndarray | None = None,
    label_order: Sequence[str] = EMOTIONS,
) -> LogisticHead:
    """Train the multi-corpus head and return it as a :class:`LogisticHead` (temperature 1).

    Args:
        stats: ``(clips, layers, features)`` pooled layer statistics.
        labels: Canonical emotion of every clip.
        corpora: Corpus of every clip (a key of :data:`CORPUS_LABELS`; an unknown corpus uses the labels
            its clips have).
        recipe: Training settings.
        nonspeech: ``(clips, layers, features)`` statistics of non-speech audio, trained towards the
            uniform distribution (weight ``recipe.nonspeech_weight``).
        label_order: Every label the head predicts.
    """
    import torch

    recipe = recipe or MultiCorpusRecipe()
    torch.manual_seed(recipe.seed)
    label_order = sorted(label_order)
    x = np.asarray(stats, dtype=np.float32)
    mean, scale = feature_scaling(x)
    corpus_sets = corpus_label_sets(labels, corpora)
    mask = np.array([[label in corpus_sets[c] for label in label_order] for c in corpora])
    use_nonspeech = nonspeech is not None and len(nonspeech) and recipe.nonspeech_weight > 0
    model = _MixedLinear(x.shape[1], x.shape[2], len(label_order), recipe.layer_weighting)
    _train(
        model,
        torch.from_numpy(standardised(x, mean, scale, recipe.clip)),
        torch.tensor([label_order.index(label) for label in labels]),
        torch.tensor(_sample_weights(labels, corpora, recipe), dtype=torch.float32),
        torch.from_numpy(np.where(mask, 0.0, -1e9).astype(np.float32)),
        torch.from_numpy(standardised(nonspeech, mean, scale, recipe.clip)) if use_nonspeech else None,
        recipe,
        len(corpus_sets),
    )
    return model.logistic_head(label_order, mean, scale, recipe.clip)


def feature_scaling(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every feature of ``(clips, layers, features)`` statistics, flattened (a
    constant feature's deviation is 1)."""
    flat = x.reshape(len(x), -1)
    mean, scale = flat.mean(axis=0), flat.std(axis=0)
    scale[scale < 1e-8] = 1.0
    return mean, scale


def standardised(a: np.ndarray, mean: np.ndarray, scale: np.ndarray, clip: float) -> np.ndarray:
    """``(clips, layers, features)`` statistics standardised by :func:`feature_scaling`'s and clipped at +-clip."""
    z = (a.reshape(len(a), -1) - mean) / scale
    return np.clip(z, -clip, clip).reshape(a.shape).astype(np.float32)


def corpus_label_sets(labels: Sequence[str], corpora: Sequence[str]) -> dict[str, set[str]]:
    """The labels each corpus annotates: those of :data:`CORPUS_LABELS` and any its clips have."""
    sets: dict[str, set[str]] = {}
    for corpus, label in zip(corpora, labels, strict=True):
        sets.setdefault(corpus, set(CORPUS_LABELS.get(corpus, ()))).add(label)
    return sets


class _MixedLinear:
    """The head being trained: softmax weights over layers and one linear map shared by them
    (``layer_weighting``), or one linear map over all layers side by side; all weights start at zero."""

    def __init__(self, n_layers: int, dim: int, n_labels: int, layer_weighting: bool) -> None:
        import torch

        self.layer_weighting = layer_weighting
        self.layer_logits = torch.zeros(n_layers, requires_grad=True)
        self.linear = torch.nn.Linear(dim if layer_weighting else n_layers * dim, n_labels)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def parameters(self) -> list[Any]:
        return [*self.linear.parameters()] + ([self.layer_logits] if self.layer_weighting else [])

    def __call__(self, batch: Any) -> Any:
        """Logits ``(clips, labels)`` of standardised statistics ``(clips, layers, features)``."""
        import torch

        if self.layer_weighting:
            mixed = torch.einsum("l,nlf->nf", torch.softmax(self.layer_logits, dim=0), batch)
            return self.linear(mixed)
        return self.linear(batch.reshape(len(batch), -1))

    def logistic_head(
        self, label_order: Sequence[str], mean: np.ndarray, scale: np.ndarray, clip: float
    ) -> LogisticHead:
        """The trained head as a :class:`LogisticHead` (temperature 1) on unstandardised statistics."""
        import torch

        with torch.no_grad():
            w = self.linear.weight.numpy().astype(np.float32)
            if self.layer_weighting:
                mix = torch.softmax(self.layer_logits, dim=0).numpy()
                coef = np.concatenate([m * w for m in mix], axis=1)
            else:
                mix = None
                coef = w
            intercept = self.linear.bias.numpy().astype(np.float32)
        head = LogisticHead(C=1.0, class_weight="balanced", clip=clip, temperature=1.0)
        head.labels = list(label_order)
        head.mean, head.scale = mean.astype(np.float32), scale.astype(np.float32)
        head.coef, head.intercept = coef.astype(np.float32), intercept
        head.layer_mix = None if mix is None else [float(v) for v in mix]  # type: ignore[attr-defined]
        return head


def _train(
    model: _MixedLinear,
    z: Any,
    target: Any,
    weight: Any,
    log_mask: Any,
    z_nonspeech: Any,
    recipe: MultiCorpusRecipe,
    n_corpora: int,
) -> None:
    """Full-batch Adam (tensors: standardised statistics, label indices, clip weights, label mask, non-speech
    statistics or ``None``) on the weighted log-likelihood of each clip's label among those its corpus annotates
    (``log_mask``), the non-speech clips pushed to the uniform distribution, and an L2 penalty."""
    import torch

    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    rows = torch.arange(len(z))
    for _ in range(recipe.steps):
        optimiser.zero_grad()
        logp = torch.log_softmax(model(z) + log_mask, dim=1)
        loss = -(weight * logp[rows, target]).sum() / weight.sum()
        if z_nonspeech is not None:
            loss = loss - recipe.nonspeech_weight / n_corpora * torch.log_softmax(model(z_nonspeech), dim=1).mean()
        loss = loss + recipe.weight_decay * (model.linear.weight**2).sum()
        loss.backward()
        optimiser.step()


def restricted_probabilities(
    logits: np.ndarray, head_labels: Sequence[str], allowed: Sequence[str], temperature: float = 1.0
) -> np.ndarray:
    """Softmax of ``logits / temperature`` over the ``allowed`` labels only, in the order of ``allowed``."""
    index = [list(head_labels).index(label) for label in allowed]
    chosen = np.asarray(logits, dtype=np.float64)[:, index] / temperature
    chosen -= chosen.max(axis=1, keepdims=True)
    exp = np.exp(chosen)
    return exp / exp.sum(axis=1, keepdims=True)


def calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error: the gap between confidence and accuracy, averaged over equal-width bins
    of confidence (weighted by how many predictions fall in each)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def expected_calibration_error(probabilities: np.ndarray, references: Sequence[int], bins: int = 10) -> float:
    """Expected calibration error of the top label of a probability table (``references``: true column)."""
    probabilities = np.asarray(probabilities)
    return calibration_error(probabilities.max(axis=1), probabilities.argmax(axis=1) == np.asarray(references), bins)
