"""SER backends that run emotionlayer's own models (the packaged default, or a folder you trained).

* ``default``: the packaged model (whisper encoder features + classifier trained on RAVDESS actors
  1-16; see docs/model-card-ser.md), or any trained folder given as ``model``.
* ``whisper``, ``egemaps``, ``ssl``: a trained model folder whose features are of that kind (trained with
  ``emotionlayer ser train --features whisper-base|egemaps|ssl:path/to/model``). They are the same
  runner; the name documents (and checks) what the folder holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...errors import ConfigError
from ...registry import register
from ...types import Audio, EmotionPrediction


class _ModelSER:
    """Runs an emotionlayer SER model folder."""

    requires: tuple[str, ...] = ("torch", "librosa")
    extra = None
    feature_type: str | None = None

    def __init__(self, model: str = "default", device: str = "cpu", labels: Sequence[str] | None = None) -> None:
        self.model_path = str(model)
        self.device = device
        self.restrict_to = list(labels) if labels else None
        self._model = None

    def _load(self):
        if self._model is None:
            from ...ser.model import load_ser_model

            model = load_ser_model(self.model_path, self.device)
            if self.feature_type is not None:
                kinds = {m.features.type for m in model.members}
                parts = {
                    p["type"] for m in model.members if m.features.type == "concat" for p in m.features.spec["parts"]
                }
                if self.feature_type not in kinds | parts:
                    raise ConfigError(
                        f"The SER model at {self.model_path} uses {', '.join(sorted(kinds))} features, not "
                        f"{self.feature_type}. Use the ser backend 'default' with model={self.model_path!r}."
                    )
            self._model = model
        return self._model

    @property
    def name(self) -> str:
        """The model's name (as reported in predictions)."""
        return self._load().name

    @property
    def labels(self) -> list[str]:
        """The labels this backend decides among."""
        return self.restrict_to or self._load().labels

    def predict(self, audio: Audio) -> EmotionPrediction:
        """The emotion of one clip (any sample rate, 0.3-60 s; longer clips are pooled over chunks)."""
        return self._load().predict(audio, labels=self.restrict_to)

    def warmup(self) -> None:
        """Load the weights and run one prediction so that the first real call is fast."""
        self._load().warmup()


@register("ser", "default")
class DefaultSER(_ModelSER):
    """emotionlayer's packaged SER model (whisper encoder + classifier, RAVDESS-trained), or a trained folder.

    Args:
        model: ``default`` for the packaged model, or a folder written by ``emotionlayer ser train``.
        device: torch device.
        labels: Decide among these labels only (aliases accepted), e.g. ``["neutral", "happy", "sad", "angry"]``.
    """

    @classmethod
    def check_usable(cls) -> str | None:
        from ...encoders.whisper import packaged_model_available
        from ...ser.model import DEFAULT_MODEL_DIR, MODEL_FILE

        if not (DEFAULT_MODEL_DIR / MODEL_FILE).is_file():
            return f"The packaged SER model is missing from {DEFAULT_MODEL_DIR}; reinstall emotionlayer."
        import json

        spec = json.loads((DEFAULT_MODEL_DIR / MODEL_FILE).read_text())
        for member in spec["members"]:
            features = member["features"]
            parts = features.get("parts", [features])
            for part in parts:
                if part["type"] == "whisper" and not Path(str(part["encoder"])).exists():
                    reason = packaged_model_available(str(part["encoder"]))
                    if reason:
                        return reason
        return None


@register("ser", "whisper")
class WhisperSER(_ModelSER):
    """A trained emotionlayer SER folder with whisper-encoder features (``ser train --features whisper-base``).

    Args:
        model: The model folder (``default`` = the packaged model, which uses whisper features).
        device: torch device.
        labels: Decide among these labels only.
    """

    feature_type = "whisper"


@register("ser", "egemaps")
class EgemapsSER(_ModelSER):
    """A trained emotionlayer SER folder with openSMILE eGeMAPS features (``ser train --features egemaps``).

    Args:
        model: The model folder.
        device: Unused (eGeMAPS runs on the CPU); kept for a uniform signature.
        labels: Decide among these labels only.
    """

    requires = ("opensmile",)
    extra = "opensmile"
    feature_type = "egemaps"

    def __init__(self, model: str, device: str = "cpu", labels: Sequence[str] | None = None) -> None:
        super().__init__(model, device, labels)


@register("ser", "ssl")
class SSLSER(_ModelSER):
    """A trained emotionlayer SER folder with HuBERT/wav2vec2/WavLM features (``--features ssl:path``).

    Args:
        model: The model folder (its spec names the local SSL model folder it was trained with).
        device: torch device.
        labels: Decide among these labels only.
    """

    requires = ("torch", "transformers")
    extra = "transformers"
    feature_type = "ssl"

    def __init__(self, model: str, device: str = "cpu", labels: Sequence[str] | None = None) -> None:
        super().__init__(model, device, labels)
