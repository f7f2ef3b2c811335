"""A trained SER model: a feature extractor and a head (or an ensemble of them) saved in one folder.

Folder layout::

    ser_model.json        labels, feature specs, head specs, training metadata
    head_*.npz / .pt      head weights (member ``i`` lives in ``member_<i>/`` for ensembles)
    MODEL_CARD.md         what it was trained on, how well it does, its licence

Load with :meth:`SERModel.load` (a folder, or ``default`` for the packaged model); predict with
:meth:`SERModel.predict`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import ConfigError, ModelNotFoundError
from ..labels import canonical_list, restrict
from ..types import Audio, EmotionPrediction
from .features import FeatureExtractor, build_features
from .heads import Head, load_head

PathLike = Union[str, os.PathLike]

MODEL_FILE = "ser_model.json"
CARD_FILE = "MODEL_CARD.md"
FORMAT = "emotionlayer-ser"
FORMAT_VERSION = 1

#: Peak amplitude below which a clip is digital silence (about -100 dBFS): no emotion is predicted for it.
SILENCE_PEAK = 1e-5

#: Where the packaged default model lives.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "ser" / "default"


class SERMember:
    """One feature extractor + head pair of a model."""

    def __init__(self, features: FeatureExtractor, head: Head, weight: float = 1.0) -> None:
        self.features = features
        self.head = head
        self.weight = float(weight)

    def featurize(self, audio: Audio) -> np.ndarray:
        return self.features.extract_frames(audio) if self.head.uses_frames else self.features.extract(audio)

    def predict_proba(self, audio: Audio, labels: Sequence[str]) -> np.ndarray:
        """Probabilities in the order of ``labels`` (labels this head lacks get 0)."""
        probs = self.head.predict_proba(self.featurize(audio))[0]
        out = np.zeros(len(labels), dtype=np.float64)
        for label, p in zip(self.head.labels, probs, strict=True):
            if label in labels:
                out[list(labels).index(label)] = p
        return out


class SERModel:
    """Speech emotion recognition model: features -> head(s) -> probability per label.

    Args:
        members: Feature/head pairs; with more than one, their probabilities are averaged (weighted).
        name: Model name reported in predictions.
        metadata: Free-form training information (data, figures), saved with the model.
    """

    def __init__(self, members: Sequence[SERMember], name: str = "ser", metadata: dict[str, Any] | None = None) -> None:
        if not members:
            raise ConfigError("An SERModel needs at least one feature/head member.")
        self.members = list(members)
        self.name = name
        self.metadata = dict(metadata or {})
        labels: list[str] = []
        for member in self.members:
            labels.extend(label for label in member.head.labels if label not in labels)
        self.labels = labels

    # ------------------------------------------------------------------ inference
    def predict_proba(self, audio: Audio) -> dict[str, float]:
        """Probability of every label the model knows, for one clip.

        A clip without any signal (every sample below :data:`SILENCE_PEAK`, about -100 dBFS) carries no
        emotion: it gets the uniform distribution without running the model.
        """
        if audio.samples.size == 0 or float(np.max(np.abs(audio.samples))) < SILENCE_PEAK:
            return {label: 1.0 / len(self.labels) for label in self.labels}
        total = np.zeros(len(self.labels))
        weights = 0.0
        for member in self.members:
            total += member.weight * member.predict_proba(audio, self.labels)
            weights += member.weight
        probs = total / max(weights, 1e-12)
        probs = np.clip(probs, 1e-9, None)
        probs /= probs.sum()
        return {label: float(p) for label, p in zip(self.labels, probs, strict=True)}

    def predict(self, audio: Audio, labels: Sequence[str] | str | None = None) -> EmotionPrediction:
        """Predict the emotion of one clip.

        Args:
            audio: The clip (any sample rate; it is resampled to 16 kHz).
            labels: Restrict the decision to these labels (aliases accepted); the probabilities are
                renormalised over them.

        Returns:
            An :class:`EmotionPrediction` with a probability for every (allowed) label.
        """
        probs = self.predict_proba(audio)
        if labels is not None:
            wanted = canonical_list(labels)
            unknown = [label for label in wanted if label not in self.labels]
            if unknown:
                raise ConfigError(
                    f"The SER model {self.name!r} does not know {', '.join(unknown)}; it predicts "
                    f"{', '.join(self.labels)}."
                )
            probs = restrict(probs, wanted)
        return EmotionPrediction.from_probabilities(probs, model=self.name)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "labels": self.labels,
            "members": [
                {"features": m.features.spec, "head": m.head.spec, "labels": m.head.labels, "weight": m.weight}
                for m in self.members
            ],
            "metadata": self.metadata,
        }

    def save(self, folder: PathLike, card: str | None = None) -> Path:
        """Write the model (and its model card, if given) to ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for i, member in enumerate(self.members):
            sub = out if len(self.members) == 1 else out / f"member_{i}"
            sub.mkdir(exist_ok=True)
            member.head.save(sub)
        (out / MODEL_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        if card is not None:
            (out / CARD_FILE).write_text(card)
        return out

    @classmethod
    def load(cls, folder: PathLike = "default", device: str = "cpu") -> SERModel:
        """Load a model folder written by :meth:`save`; ``default`` loads the packaged model.

        Raises:
            ModelNotFoundError: the folder or its files are missing.
            ConfigError: the folder holds something other than an emotionlayer SER model.
        """
        path = DEFAULT_MODEL_DIR if str(folder) == "default" else Path(folder).expanduser()
        spec_file = path / MODEL_FILE
        if not spec_file.is_file():
            if str(folder) == "default":
                raise ModelNotFoundError(
                    f"The packaged SER model is missing ({spec_file}). Reinstall emotionlayer, or pass a trained "
                    "model folder (emotionlayer ser train --manifest M --out DIR)."
                )
            raise ModelNotFoundError(
                f"{path} is not an SER model folder (no {MODEL_FILE}). Train one with `emotionlayer ser train` "
                "or pass the folder it wrote."
            )
        data = json.loads(spec_file.read_text())
        if data.get("format") != FORMAT:
            raise ConfigError(f"{spec_file} is not an emotionlayer SER model (format {data.get('format')!r}).")
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise ConfigError(
                f"{spec_file} was written by a newer emotionlayer (format {data['format_version']}). Upgrade "
                "emotionlayer."
            )
        members = []
        specs = data["members"]
        for i, member in enumerate(specs):
            sub = path if len(specs) == 1 else path / f"member_{i}"
            features = build_features(member["features"], device=device)
            head = load_head(member["head"], member["labels"], sub)
            members.append(SERMember(features, head, member.get("weight", 1.0)))
        return cls(members, name=data.get("name", path.name), metadata=data.get("metadata", {}))

    def warmup(self) -> None:
        """Load every weight by predicting on a short synthetic clip (so the first real call is fast)."""
        t = np.arange(16000, dtype=np.float32) / 16000
        self.predict(Audio((0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000))


_MODELS: dict[tuple[str, str], SERModel] = {}
_LOCK = threading.Lock()


def load_ser_model(folder: PathLike = "default", device: str = "cpu") -> SERModel:
    """Load (once per process) an SER model folder; ``default`` is the packaged model."""
    key = (str(DEFAULT_MODEL_DIR if str(folder) == "default" else Path(folder).expanduser().resolve()), device)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = SERModel.load(folder, device)
        return _MODELS[key]
