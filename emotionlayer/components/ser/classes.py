"""What the SER backends that wrap someone else's classifier share: its class names mapped to canonical
labels, the labels it predicts, and its class probabilities as an :class:`EmotionPrediction`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...labels import canonical, canonical_list, restrict
from ...types import EmotionPrediction


def map_labels(names: Sequence[str], label_map: dict[str, str | None] | None) -> list[str | None]:
    """Canonical label (or ``None`` = dropped) for each model class name.

    Raises:
        ConfigError: a class name that is neither a known emotion alias nor in ``label_map``.
    """
    label_map = {str(k).lower(): v for k, v in (label_map or {}).items()}
    out: list[str | None] = []
    unknown = []
    for name in names:
        key = str(name).lower()
        if key in label_map:
            out.append(canonical(label_map[key]) if label_map[key] is not None else None)
            continue
        try:
            out.append(canonical(name))
        except ConfigError:
            unknown.append(str(name))
    if unknown:
        raise ConfigError(
            f"The model's classes {', '.join(unknown)} are not emotion labels emotionlayer knows. Pass "
            f"label_map={{{unknown[0]!r}: 'neutral', ...}} (or map a class to None to drop it)."
        )
    if not any(out):
        raise ConfigError("label_map drops every class of the model; keep at least one.")
    return out


class MappedClassifierSER:
    """Base of an SER backend around a classifier with its own class names (transformers, SpeechBrain).

    A subclass loads its classifier in ``_load`` and then calls :meth:`_map_classes` with the class names in
    the classifier's order; :meth:`_prediction` turns one clip's class probabilities into the prediction.

    Args:
        model: The model folder (or id); the backend's ``name`` is ``{kind}:{folder name}``.
        kind: The backend's kind in its ``name`` (``transformers``, ``speechbrain``).
        device: torch device.
        label_map: Class name -> canonical label (or ``None`` to drop it), for names that are not known aliases.
        labels: Decide among these labels only.
    """

    def __init__(
        self,
        model: str,
        kind: str,
        device: str,
        label_map: dict[str, str | None] | None,
        labels: Sequence[str] | None,
    ) -> None:
        self.model_path = str(model)
        self.device = device
        self.label_map = dict(label_map or {})
        self.restrict_to = canonical_list(labels) if labels else None
        self.name = f"{kind}:{Path(self.model_path).name}"
        self._classes: list[str | None] | None = None

    def _load(self) -> Any:
        raise NotImplementedError

    def _map_classes(self, names: Sequence[str]) -> None:
        """Map the loaded classifier's class names (in its order), once."""
        if self._classes is None:
            self._classes = map_labels(names, self.label_map)

    @property
    def labels(self) -> list[str]:
        """The canonical labels this backend predicts."""
        if self.restrict_to:
            return list(self.restrict_to)
        self._load()
        assert self._classes is not None
        return list(dict.fromkeys(label for label in self._classes if label is not None))

    def _prediction(self, probabilities: np.ndarray) -> EmotionPrediction:
        """The prediction of one clip's class probabilities (or weights; classes of one label are summed)."""
        assert self._classes is not None
        table: dict[str, float] = {}
        for label, p in zip(self._classes, probabilities, strict=True):
            if label is not None:
                table[label] = table.get(label, 0.0) + float(p)
        if self.restrict_to:
            table = restrict(table, self.restrict_to)
        return EmotionPrediction.from_probabilities(table, model=self.name)
