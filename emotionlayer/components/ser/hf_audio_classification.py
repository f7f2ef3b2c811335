"""SER with a transformers audio-classification model (a fine-tuned wav2vec2 / HuBERT / WavLM...).

The model loads from a local folder (``save_pretrained`` output: ``config.json``, weights and
``preprocessor_config.json``); a hub id is only fetched when ``local_files_only=False`` and a hub is
reachable. The model's own label names (``config.id2label``) are mapped to emotionlayer's canonical
labels (``ang`` -> ``angry``, ``hap`` -> ``happy``...); pass ``label_map`` for names that are not
known aliases (map a name to ``None`` to drop that class).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import ConfigError, ModelNotFoundError
from ...files import check_weights_folder
from ...labels import canonical, canonical_list, restrict
from ...registry import register
from ...types import Audio, EmotionPrediction

_CACHE: dict[tuple[str, str], tuple[Any, Any]] = {}
_LOCK = threading.Lock()


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


@register("ser", "transformers")
class TransformersSER:
    """A transformers audio-classification model from a local folder (e.g. a fine-tuned wav2vec2 SER model).

    Args:
        model: Local folder written by ``save_pretrained`` (or a hub id with ``local_files_only=False``).
        device: torch device.
        label_map: Model class name -> canonical label (or ``None`` to drop it), for names that are not
            known aliases.
        labels: Decide among these labels only.
        local_files_only: Never reach a hub (default).
        trust_remote_code: Allow model code shipped with the checkpoint (off by default).
        chunk_seconds: Longer clips are cut into chunks this long and their probabilities averaged.
        allow_pickle: Load weights stored only as pickles (``pytorch_model.bin``), which could run code.
            Off by default: only ``model.safetensors`` is loaded.
    """

    requires = ("torch", "transformers")
    extra = "transformers"

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        label_map: dict[str, str | None] | None = None,
        labels: Sequence[str] | None = None,
        local_files_only: bool = True,
        trust_remote_code: bool = False,
        chunk_seconds: float = 30.0,
        allow_pickle: bool = False,
    ) -> None:
        self.model_path = str(model)
        self.device = device
        self.label_map = dict(label_map or {})
        self.restrict_to = canonical_list(labels) if labels else None
        self.local_files_only = bool(local_files_only)
        self.trust_remote_code = bool(trust_remote_code)
        self.chunk_seconds = float(chunk_seconds)
        self.allow_pickle = bool(allow_pickle)
        self.name = f"transformers:{Path(self.model_path).name}"
        self._classes: list[str | None] | None = None

    def _load(self) -> tuple[Any, Any]:
        key = (str(Path(self.model_path).expanduser()), self.device)
        with _LOCK:
            if key not in _CACHE:
                from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

                source = key[0] if Path(key[0]).exists() else self.model_path
                if self.local_files_only and not Path(key[0]).exists():
                    raise ModelNotFoundError(
                        f"No model folder at {self.model_path}. Pass a local folder saved with save_pretrained(), "
                        "or set local_files_only=False to fetch a hub id (needs network access)."
                    )
                check_weights_folder(key[0], "a transformers audio-classification model", self.allow_pickle)
                options = {"local_files_only": self.local_files_only, "trust_remote_code": self.trust_remote_code}
                try:
                    model = AutoModelForAudioClassification.from_pretrained(
                        source, use_safetensors=None if self.allow_pickle else True, **options
                    )
                except (OSError, ValueError) as exc:
                    raise ModelNotFoundError(
                        f"Could not load an audio-classification model from {self.model_path} ({exc}). It needs "
                        "config.json and weights of a *ForSequenceClassification / *ForAudioClassification model."
                    ) from exc
                try:
                    extractor = AutoFeatureExtractor.from_pretrained(source, **options)
                except (OSError, ValueError):
                    from transformers import Wav2Vec2FeatureExtractor

                    extractor = Wav2Vec2FeatureExtractor(
                        sampling_rate=SAMPLE_RATE, do_normalize=True, return_attention_mask=True
                    )
                _CACHE[key] = (model.to(self.device).eval(), extractor)
            model, extractor = _CACHE[key]
        if self._classes is None:
            id2label = model.config.id2label
            self._classes = map_labels([id2label[i] for i in range(len(id2label))], self.label_map)
        return model, extractor

    @property
    def labels(self) -> list[str]:
        """The canonical labels this backend predicts."""
        if self.restrict_to:
            return list(self.restrict_to)
        self._load()
        assert self._classes is not None
        out: list[str] = []
        for label in self._classes:
            if label is not None and label not in out:
                out.append(label)
        return out

    def predict(self, audio: Audio) -> EmotionPrediction:
        """The emotion of one clip (resampled to the model's rate; long clips averaged over chunks)."""
        import torch

        model, extractor = self._load()
        rate = int(getattr(extractor, "sampling_rate", SAMPLE_RATE))
        samples = audio.resample(rate).samples
        step = max(int(self.chunk_seconds * rate), rate)
        minimum = int(0.1 * rate)
        chunks = [samples[i : i + step] for i in range(0, len(samples), step)]
        chunks = [c for c in chunks if len(c) >= minimum] or [np.pad(samples, (0, max(0, minimum - len(samples))))]
        total = None
        with torch.inference_mode():
            for chunk in chunks:
                inputs = extractor(chunk, sampling_rate=rate, return_tensors="pt")
                logits = model(**{k: v.to(self.device) for k, v in inputs.items()}).logits[0]
                probs = torch.softmax(logits.float(), dim=-1).cpu().numpy() * len(chunk)
                total = probs if total is None else total + probs
        assert total is not None and self._classes is not None
        table: dict[str, float] = {}
        for label, p in zip(self._classes, total, strict=True):
            if label is not None:
                table[label] = table.get(label, 0.0) + float(p)
        if self.restrict_to:
            table = restrict(table, self.restrict_to)
        return EmotionPrediction.from_probabilities(table, model=self.name)
