"""SER with a transformers audio-classification model (a fine-tuned wav2vec2 / HuBERT / WavLM...).

The model loads from a local folder (``save_pretrained`` output: ``config.json``, weights and
``preprocessor_config.json``); a hub id is only fetched when ``local_files_only=False`` and a hub is
reachable. The model's own label names (``config.id2label``) are mapped to emotionlayer's canonical
labels (``ang`` -> ``angry``, ``hap`` -> ``happy``...); pass ``label_map`` for names that are not
known aliases (map a name to ``None`` to drop that class).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import ModelNotFoundError
from ...files import check_weights_folder
from ...registry import register
from ...types import Audio, EmotionPrediction
from ..loading import ModelCache, model_source
from .classes import MappedClassifierSER, map_labels

__all__ = ["TransformersSER", "map_labels"]

_CACHE = ModelCache()


@register("ser", "transformers")
class TransformersSER(MappedClassifierSER):
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
        super().__init__(model, "transformers", device, label_map, labels)
        self.local_files_only = bool(local_files_only)
        self.trust_remote_code = bool(trust_remote_code)
        self.chunk_seconds = float(chunk_seconds)
        self.allow_pickle = bool(allow_pickle)

    def _load(self) -> tuple[Any, Any]:
        path, source = model_source(
            self.model_path,
            self.local_files_only,
            f"No model folder at {self.model_path}. Pass a local folder saved with save_pretrained(), "
            "or set local_files_only=False to fetch a hub id (needs network access).",
        )

        def load() -> tuple[Any, Any]:
            from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

            check_weights_folder(path, "a transformers audio-classification model", self.allow_pickle)
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
            return model.to(self.device).eval(), extractor

        model, extractor = _CACHE.get((str(path), self.device), load)
        id2label = model.config.id2label
        self._map_classes([id2label[i] for i in range(len(id2label))])
        return model, extractor

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
        assert total is not None
        return self._prediction(total)
