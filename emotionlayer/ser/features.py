"""Acoustic features for speech emotion recognition.

Every extractor turns an :class:`~emotionlayer.types.Audio` into one fixed-size vector (``extract``) and,
where it has frames, into per-layer frame features (``extract_frames``) for the PyTorch head. Extractors
are described by plain-data specs (``{"type": "whisper", "encoder": "base", ...}``) stored in model files,
so that a saved model rebuilds exactly the features it was trained on.

Available types:

* ``whisper``: hidden states of the whisper encoder (packaged ``tiny.en`` / ``base`` or a CTranslate2
  folder), mean and standard deviation over time of chosen layers.
* ``egemaps``: the 88 eGeMAPSv02 functionals of openSMILE.
* ``ssl``: hidden states of a HuggingFace self-supervised speech model (HuBERT, wav2vec2, WavLM) loaded
  from a local folder, pooled like ``whisper``.
* ``concat``: several of the above side by side.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import ConfigError, MissingDependencyError, ModelNotFoundError
from ..files import check_weights_folder
from ..types import Audio

#: Active speech level (dBFS) that whisper features named by string (``whisper-tiny.en``) scale clips to.
DEFAULT_LEVEL_DB = -35.0


def active_rms_db(samples: np.ndarray, floor_db: float = 40.0) -> float:
    """RMS level (dBFS) of the active part of a clip: 25 ms frames within ``floor_db`` of the loudest one."""
    frame = int(0.025 * SAMPLE_RATE)
    n = max(1, len(samples) // frame)
    frames = samples[: n * frame].reshape(n, -1) if len(samples) >= frame else samples[None]
    power = np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20
    levels = 10 * np.log10(power)
    active = power[levels >= levels.max() - floor_db]
    return float(10 * np.log10(np.mean(active)))


def normalise_level(samples: np.ndarray, level_db: float) -> np.ndarray:
    """Scale a clip so that its active RMS level is ``level_db`` dBFS (peaks may exceed 1; nothing is clipped)."""
    gain_db = level_db - active_rms_db(samples)
    return (samples * np.float32(10 ** (gain_db / 20))).astype(np.float32)


def _prepare(audio: Audio, trim_db: float | None, level_db: float | None = None) -> np.ndarray:
    """16 kHz samples, optionally without leading/trailing silence (never below 0.25 s) and at a fixed level."""
    samples = audio.resample(SAMPLE_RATE).samples
    if trim_db:
        import librosa

        trimmed, (start, end) = librosa.effects.trim(samples, top_db=trim_db, frame_length=512, hop_length=128)
        if end - start >= int(0.25 * SAMPLE_RATE):
            samples = trimmed
    if level_db is not None:
        samples = normalise_level(samples, level_db)
    return np.ascontiguousarray(samples, dtype=np.float32)


def _pool(frames: np.ndarray, pooling: str) -> np.ndarray:
    """Pool ``(frames, dim)`` into a vector."""
    if pooling == "mean":
        return frames.mean(axis=0)
    if pooling == "meanstd":
        return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])
    raise ConfigError(f"Unknown pooling {pooling!r}. Use 'mean' or 'meanstd'.")


class FeatureExtractor:
    """Base class: ``extract(audio) -> (dim,)`` and ``spec`` (plain data that rebuilds it)."""

    type: str = ""

    @property
    def spec(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return self.type

    def extract(self, audio: Audio) -> np.ndarray:
        raise NotImplementedError

    def extract_frames(self, audio: Audio) -> np.ndarray:
        """``(layers, frames, dim)`` frame features; only extractors with frames implement it."""
        raise ConfigError(f"{self.type} features have no frames; the attentive head needs 'whisper' or 'ssl' features.")


class WhisperFeatures(FeatureExtractor):
    """Pooled hidden states of the whisper encoder.

    Args:
        encoder: ``tiny.en`` or ``base`` (packaged weights) or a CTranslate2 whisper folder.
        layers: Hidden-state indices to use (0 = embeddings, ``n_layers`` = last); ``"all"`` uses every one.
        pooling: ``meanstd`` (mean and standard deviation over time) or ``mean``.
        trim_db: Remove leading/trailing audio quieter than this many dB below the peak first (``None``
            keeps it).
        level_db: Scale every clip to this active RMS level (dBFS) first, so that how loud a recording
            happens to be (microphone gain, distance) is not mistaken for emotion. ``None`` keeps the level.
        device: torch device.
    """

    type = "whisper"

    def __init__(
        self,
        encoder: str = "tiny.en",
        layers: Sequence[int] | str = "all",
        pooling: str = "meanstd",
        trim_db: float | None = None,
        level_db: float | None = None,
        device: str = "cpu",
    ) -> None:
        self.encoder_name = str(encoder)
        self.layers = layers if layers == "all" else [int(i) for i in layers]
        self.pooling = pooling
        self.trim_db = trim_db
        self.level_db = None if level_db is None else float(level_db)
        self.device = device
        _pool(np.zeros((2, 1), dtype=np.float32), pooling)  # validate now

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "encoder": self.encoder_name,
            "layers": self.layers,
            "pooling": self.pooling,
            "trim_db": self.trim_db,
            "level_db": self.level_db,
        }

    @property
    def name(self) -> str:
        return f"whisper-{self.encoder_name}" if "/" not in self.encoder_name else "whisper"

    @property
    def encoder(self):
        from ..encoders.whisper import load_whisper_encoder

        return load_whisper_encoder(self.encoder_name, self.device)

    def _layer_indices(self) -> list[int] | None:
        return None if self.layers == "all" else list(self.layers)  # type: ignore[arg-type]

    def extract_frames(self, audio: Audio) -> np.ndarray:
        from ..encoders.whisper import encode_chunks

        samples = _prepare(audio, self.trim_db, self.level_db)
        states = encode_chunks(self.encoder, samples, layers=self._layer_indices())
        return np.stack(states)

    def extract(self, audio: Audio) -> np.ndarray:
        return np.concatenate([_pool(layer, self.pooling) for layer in self.extract_frames(audio)]).astype(np.float32)


_SMILE: dict[str, Any] = {}
_SMILE_LOCK = threading.Lock()


class EgemapsFeatures(FeatureExtractor):
    """The 88 eGeMAPSv02 functionals (openSMILE).

    Args:
        trim_db: Remove leading/trailing silence quieter than this many dB below the peak first.
    """

    type = "egemaps"

    def __init__(self, trim_db: float | None = None) -> None:
        self.trim_db = trim_db

    @property
    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "trim_db": self.trim_db}

    @staticmethod
    def _smile():
        with _SMILE_LOCK:
            if "egemaps" not in _SMILE:
                try:
                    import opensmile
                except ImportError as exc:
                    raise MissingDependencyError("opensmile", "opensmile", "eGeMAPS features") from exc
                _SMILE["egemaps"] = opensmile.Smile(
                    feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
                )
            return _SMILE["egemaps"]

    def extract(self, audio: Audio) -> np.ndarray:
        samples = _prepare(audio, self.trim_db)
        values = self._smile().process_signal(samples, SAMPLE_RATE).to_numpy()[0]
        return np.nan_to_num(values.astype(np.float32))


_SSL: dict[tuple[str, str], Any] = {}
_SSL_LOCK = threading.Lock()


class SSLFeatures(FeatureExtractor):
    """Pooled hidden states of a HuggingFace self-supervised speech model (HuBERT, wav2vec2, WavLM...).

    Args:
        model: A local folder holding the model (``config.json`` + weights), or a hub id when a hub is
            reachable (never fetched otherwise).
        layers: Hidden-state indices to use, or ``"all"``.
        pooling: ``meanstd`` or ``mean``.
        trim_db: Remove leading/trailing silence first.
        device: torch device.
        allow_pickle: Load weights stored only as pickles (``pytorch_model.bin``), which could run code.
            Off by default: only ``model.safetensors`` is loaded. Not saved with a trained SER model: whoever
            loads the model decides whether to trust the encoder's files.
    """

    type = "ssl"

    def __init__(
        self,
        model: str,
        layers: Sequence[int] | str = "all",
        pooling: str = "meanstd",
        trim_db: float | None = None,
        device: str = "cpu",
        allow_pickle: bool = False,
    ) -> None:
        self.model_path = str(model)
        self.allow_pickle = bool(allow_pickle)
        self.layers = layers if layers == "all" else [int(i) for i in layers]
        self.pooling = pooling
        self.trim_db = trim_db
        self.device = device
        _pool(np.zeros((2, 1), dtype=np.float32), pooling)

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "model": self.model_path,
            "layers": self.layers,
            "pooling": self.pooling,
            "trim_db": self.trim_db,
        }

    @property
    def name(self) -> str:
        return f"ssl-{Path(self.model_path).name}"

    def _load(self):
        key = (self.model_path, self.device)
        with _SSL_LOCK:
            if key not in _SSL:
                try:
                    from transformers import AutoConfig, AutoModel
                except ImportError as exc:
                    raise MissingDependencyError("transformers", "transformers", "SSL speech features") from exc
                local = Path(self.model_path).expanduser()
                if not local.exists() and "/" not in self.model_path.strip("/"):
                    raise ModelNotFoundError(
                        f"No SSL model at {self.model_path}. Pass a local folder saved with save_pretrained()."
                    )
                check_weights_folder(local, "a self-supervised speech model", self.allow_pickle)
                try:
                    config = AutoConfig.from_pretrained(str(local) if local.exists() else self.model_path)
                    model = AutoModel.from_pretrained(
                        str(local) if local.exists() else self.model_path,
                        config=config,
                        use_safetensors=None if self.allow_pickle else True,
                    )
                except OSError as exc:
                    raise ModelNotFoundError(
                        f"Could not load an SSL model from {self.model_path} ({exc}). Pass a local folder with "
                        "config.json and weights (model.save_pretrained(folder))."
                    ) from exc
                _SSL[key] = model.to(self.device).eval()
            return _SSL[key]

    def extract_frames(self, audio: Audio) -> np.ndarray:
        import torch

        model = self._load()
        samples = _prepare(audio, self.trim_db)
        samples = (samples - samples.mean()) / (samples.std() + 1e-7)  # wav2vec2-style input normalisation
        minimum = 400  # the conv front end needs at least one 25 ms window
        if len(samples) < minimum:
            samples = np.pad(samples, (0, minimum - len(samples)))
        chunk = 30 * SAMPLE_RATE
        per_layer: list[list[np.ndarray]] = []
        with torch.inference_mode():
            for start in range(0, len(samples), chunk):
                piece = samples[start : start + chunk]
                if len(piece) < minimum:
                    continue
                out = model(torch.from_numpy(piece)[None].to(self.device), output_hidden_states=True)
                states = out.hidden_states
                chosen = range(len(states)) if self.layers == "all" else self.layers
                if not per_layer:
                    per_layer = [[] for _ in chosen]
                for bucket, index in zip(per_layer, chosen, strict=True):
                    bucket.append(states[index][0].float().cpu().numpy())
        return np.stack([np.concatenate(b, axis=0) for b in per_layer])

    def extract(self, audio: Audio) -> np.ndarray:
        return np.concatenate([_pool(layer, self.pooling) for layer in self.extract_frames(audio)]).astype(np.float32)


class ConcatFeatures(FeatureExtractor):
    """Several extractors side by side (e.g. whisper statistics + eGeMAPS)."""

    type = "concat"

    def __init__(self, parts: Sequence[FeatureExtractor | dict[str, Any]]) -> None:
        self.parts = [p if isinstance(p, FeatureExtractor) else build_features(p) for p in parts]
        if not self.parts:
            raise ConfigError("concat features need at least one part.")

    @property
    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "parts": [p.spec for p in self.parts]}

    @property
    def name(self) -> str:
        return "+".join(p.name for p in self.parts)

    def extract(self, audio: Audio) -> np.ndarray:
        return np.concatenate([p.extract(audio) for p in self.parts]).astype(np.float32)

    def extract_frames(self, audio: Audio) -> np.ndarray:
        return self.parts[0].extract_frames(audio)


FEATURE_TYPES: dict[str, type[FeatureExtractor]] = {
    "whisper": WhisperFeatures,
    "egemaps": EgemapsFeatures,
    "ssl": SSLFeatures,
    "concat": ConcatFeatures,
}


def build_features(spec: dict[str, Any] | str, device: str = "cpu") -> FeatureExtractor:
    """Build an extractor from a spec dict or a short string.

    Strings: ``whisper-base``, ``whisper-tiny.en``, ``egemaps``, ``ssl:path/to/model``, and ``+`` to join
    (``whisper-base+egemaps``).
    """
    if isinstance(spec, str):
        return build_features(parse_feature_string(spec), device)
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in FEATURE_TYPES:
        raise ConfigError(f"Unknown feature type {kind!r}. Choose one of: {', '.join(FEATURE_TYPES)}.")
    if kind in ("whisper", "ssl"):
        spec.setdefault("device", device)
    if kind == "concat":
        return ConcatFeatures([build_features(p, device) for p in spec.get("parts", [])])
    try:
        return FEATURE_TYPES[kind](**spec)
    except TypeError as exc:
        raise ConfigError(f"Bad parameters for {kind} features: {exc}.") from exc


def parse_feature_string(text: str) -> dict[str, Any]:
    """Turn ``whisper-base+egemaps`` style strings into a feature spec.

    Whisper features named this way scale clips to :data:`DEFAULT_LEVEL_DB` first, as the packaged model does.
    """
    parts = [p.strip() for p in text.split("+") if p.strip()]
    specs: list[dict[str, Any]] = []
    for part in parts:
        if part.startswith("whisper:"):
            specs.append({"type": "whisper", "encoder": part.split(":", 1)[1], "level_db": DEFAULT_LEVEL_DB})
        elif part == "whisper" or part.startswith("whisper-"):
            encoder = part.split("-", 1)[1] if "-" in part else "tiny.en"
            specs.append({"type": "whisper", "encoder": encoder, "level_db": DEFAULT_LEVEL_DB})
        elif part == "egemaps":
            specs.append({"type": "egemaps"})
        elif part.startswith("ssl:"):
            specs.append({"type": "ssl", "model": part.split(":", 1)[1]})
        else:
            raise ConfigError(
                f"Unknown features {part!r}. Use whisper-base, whisper-tiny.en, egemaps or ssl:path/to/model, "
                "joined with '+'."
            )
    if not specs:
        raise ConfigError("No features named. Use e.g. --features whisper-base+egemaps.")
    return specs[0] if len(specs) == 1 else {"type": "concat", "parts": specs}
