"""E-chat's settings: the model (:class:`EChatConfig`) and the training run (:class:`TrainConfig`).

Both are frozen dataclasses of plain data, checked when built (every message says how to fix the value),
and written to / read from JSON with ``to_dict`` / ``from_dict``. A config file for ``emotionlayer echat
train --config`` holds either section or both::

    {"model": {"encoder": "base", "connector_layers": 4}, "train": {"batch_size": 16, "learning_rate": 5e-5}}
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Union

from ...errors import ConfigError
from ...labels import EMOTIONS, canonical_list

PathLike = Union[str, os.PathLike]

#: Stage 1 (speech-text alignment) instruction, as in the E-chat paper.
ASR_PROMPT = "Transcribe the speech."
#: Stage 2 (emotional reply) instruction, as in the E-chat paper.
REPLY_PROMPT = "You are requested to provide a comforting response based on the emotion conveyed in this speech."
#: Weight ``a`` of the emotion loss in ``(1 - a) * L_decoder + a * L_emotion`` per stage.
DEFAULT_EMOTION_LOSS_WEIGHT = {1: 0.0, 2: 0.1}

_MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
_DTYPES = ("auto", "float32", "bfloat16", "float16")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _from_known_fields(cls: type, data: dict[str, Any], section: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"The E-chat '{section}' settings must be a JSON object, got {type(data).__name__}.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown E-chat {section} setting(s) {unknown}. Known ones: {', '.join(sorted(known))}.")
    return dict(data)


@dataclass(frozen=True)
class EChatConfig:
    """The shape of an E-chat model and the prompts it answers.

    Attributes:
        encoder: Speech encoder: ``tiny.en`` or ``base`` (the packaged whisper encoders), a CTranslate2
            whisper folder, or a local Hugging Face HuBERT / wav2vec2 / WavLM / whisper folder (saved with
            ``save_pretrained``).
        llm: Frozen decoder: ``None`` for the packaged SmolLM2-135M-Instruct GGUF, a local Hugging Face
            causal-LM folder (model and tokenizer), or a ``.gguf`` file.
        stage: 1 (speech-text alignment: the target is the transcript) or 2 (emotional replies: the
            emotion embedding goes into the decoder and the target is the reply).
        stack_frames: Encoder frames stacked into one connector frame (frame-rate reduction ``k``).
        connector_dim: Width of the connector's Transformer encoder.
        connector_layers: Its depth (0 leaves only the stacking and the projections).
        connector_heads: Its attention heads (must divide ``connector_dim``).
        connector_ff_dim: Width of its feed-forward layers.
        dropout: Dropout in the connector and the emotion head.
        emotion_hidden_dim: Hidden width of the emotion head and of the emotion projection.
        labels: Emotion labels of the auxiliary head (canonical names; aliases are accepted).
        emotion_loss_weight: ``a`` in ``(1 - a) * L_decoder + a * L_emotion``; ``None`` means 0 in stage 1
            and 0.1 in stage 2.
        unfreeze_encoder: Train the speech encoder too (stage 1 only; features are then not cached).
        asr_prompt: The stage-1 instruction.
        reply_prompt: The stage-2 instruction.
        max_audio_seconds: Longest clip accepted (whisper encoders take at most 30 s per pass).
        max_target_tokens: Longest target (transcript or reply) in tokens; longer ones are cut.
    """

    encoder: str = "tiny.en"
    llm: str | None = None
    stage: int = 1
    stack_frames: int = 4
    connector_dim: int = 256
    connector_layers: int = 2
    connector_heads: int = 4
    connector_ff_dim: int = 1024
    dropout: float = 0.1
    emotion_hidden_dim: int = 256
    labels: tuple[str, ...] = EMOTIONS
    emotion_loss_weight: float | None = None
    unfreeze_encoder: bool = False
    asr_prompt: str = ASR_PROMPT
    reply_prompt: str = REPLY_PROMPT
    max_audio_seconds: float = 30.0
    max_target_tokens: int = 256

    def __post_init__(self) -> None:
        _check(
            bool(str(self.encoder).strip()),
            "EChatConfig.encoder is empty. Use 'tiny.en', 'base' or a local model folder.",
        )
        _check(self.stage in (1, 2), f"EChatConfig.stage must be 1 or 2, got {self.stage!r}.")
        _check(
            isinstance(self.stack_frames, int) and self.stack_frames >= 1,
            f"EChatConfig.stack_frames must be an integer >= 1 (frames stacked per connector step), got {self.stack_frames!r}.",
        )
        for name in ("connector_dim", "connector_ff_dim", "connector_heads", "emotion_hidden_dim", "max_target_tokens"):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and value >= 1, f"EChatConfig.{name} must be a positive integer, got {value!r}."
            )
        _check(
            isinstance(self.connector_layers, int) and self.connector_layers >= 0,
            f"EChatConfig.connector_layers must be an integer >= 0, got {self.connector_layers!r}.",
        )
        _check(
            self.connector_dim % self.connector_heads == 0,
            f"EChatConfig.connector_heads ({self.connector_heads}) must divide connector_dim ({self.connector_dim}); "
            "e.g. connector_dim=256 with connector_heads=4.",
        )
        _check(0.0 <= self.dropout < 1.0, f"EChatConfig.dropout must be in [0, 1), got {self.dropout!r}.")
        object.__setattr__(self, "labels", tuple(canonical_list(list(self.labels))))
        _check(len(self.labels) >= 2, f"EChatConfig.labels needs at least two emotions, got {list(self.labels)}.")
        if self.emotion_loss_weight is not None:
            _check(
                0.0 <= float(self.emotion_loss_weight) <= 1.0,
                f"EChatConfig.emotion_loss_weight must be in [0, 1] (or null for the stage default), got {self.emotion_loss_weight!r}.",
            )
        _check(
            not (self.unfreeze_encoder and self.stage == 2),
            "EChatConfig.unfreeze_encoder is for stage 1 only: stage 2 keeps the encoder frozen. Set it to false.",
        )
        _check(
            math.isfinite(self.max_audio_seconds) and self.max_audio_seconds > 0,
            f"EChatConfig.max_audio_seconds must be positive, got {self.max_audio_seconds!r}.",
        )
        _check(bool(self.asr_prompt.strip()) and bool(self.reply_prompt.strip()), "E-chat prompts must not be empty.")

    @property
    def loss_weight(self) -> float:
        """The emotion loss weight ``a`` this config trains with."""
        if self.emotion_loss_weight is not None:
            return float(self.emotion_loss_weight)
        return DEFAULT_EMOTION_LOSS_WEIGHT[self.stage]

    @property
    def uses_emotion(self) -> bool:
        """Whether the emotion embedding goes into the decoder (stage 2)."""
        return self.stage == 2

    @property
    def prompt(self) -> str:
        """The instruction of this config's stage."""
        return self.asr_prompt if self.stage == 1 else self.reply_prompt

    def with_stage(self, stage: int) -> EChatConfig:
        """A copy for another stage (stage 2 keeps the encoder frozen)."""
        return replace(self, stage=stage, unfreeze_encoder=self.unfreeze_encoder and stage == 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EChatConfig:
        values = _from_known_fields(cls, data, "model")
        if "labels" in values:
            values["labels"] = tuple(canonical_list(values["labels"]))
        return cls(**values)


@dataclass(frozen=True)
class TrainConfig:
    """How a training run goes.

    Attributes:
        batch_size: Clips per micro-batch (per device).
        grad_accum_steps: Micro-batches per optimizer step.
        learning_rate: Peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up steps; the rate then follows a cosine down to 10% of the peak.
        epochs: Passes over the data (ignored when ``max_steps`` is set).
        max_steps: Optimizer steps to run; ``None`` runs ``epochs`` epochs.
        max_grad_norm: Gradient clipping norm (0 turns clipping off).
        seed: Seed of everything random (batch order, dropout, initial weights): the same seed and data
            give the same run.
        mixed_precision: ``auto`` (bf16 on a GPU that has it, else none), ``no``, ``bf16`` or ``fp16``.
        llm_dtype: Dtype of the frozen LLM: ``auto`` (bfloat16 on GPU, float32 on CPU) or a dtype name.
        save_every: Write a resumable checkpoint every this many optimizer steps (0: only at the end).
        keep_checkpoints: How many resumable checkpoints to keep.
        log_every: Log the mean loss every this many optimizer steps.
        cache_features: Cache the frozen encoder's hidden states per clip (ignored when the encoder trains).
        cache_dir: Feature cache folder; ``None`` uses the emotionlayer cache folder.
        bucket_size: Batches drawn from each pool of similar-length clips (length bucketing; 1 = plain
            shuffling).
        num_workers: DataLoader worker processes.
        gradient_checkpointing: Recompute the LLM's activations in the backward pass (saves memory on
            large LLMs).
        emotion_warmup_steps: Stage 2: before the first step of a fresh run, train the emotion layer
            weights and the emotion head alone on the emotion labels for this many steps (the LLM does
            not run; see :mod:`emotionlayer.models.echat.warmup`). 0 turns it off.
    """

    batch_size: int = 8
    grad_accum_steps: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    epochs: int = 10
    max_steps: int | None = None
    max_grad_norm: float = 1.0
    seed: int = 0
    mixed_precision: str = "auto"
    llm_dtype: str = "auto"
    save_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    cache_features: bool = True
    cache_dir: str | None = None
    bucket_size: int = 50
    num_workers: int = 0
    gradient_checkpointing: bool = False
    emotion_warmup_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum_steps", "epochs", "keep_checkpoints", "log_every", "bucket_size"):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and value >= 1, f"TrainConfig.{name} must be a positive integer, got {value!r}."
            )
        for name in ("warmup_steps", "save_every", "num_workers", "emotion_warmup_steps"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 0, f"TrainConfig.{name} must be an integer >= 0, got {value!r}.")
        _check(
            self.max_steps is None or (isinstance(self.max_steps, int) and self.max_steps >= 1),
            f"TrainConfig.max_steps must be a positive integer or null (train for `epochs`), got {self.max_steps!r}.",
        )
        _check(
            math.isfinite(self.learning_rate) and self.learning_rate > 0,
            f"TrainConfig.learning_rate must be positive, got {self.learning_rate!r}.",
        )
        _check(self.weight_decay >= 0, f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}.")
        _check(
            self.max_grad_norm >= 0,
            f"TrainConfig.max_grad_norm must be >= 0 (0 = no clipping), got {self.max_grad_norm!r}.",
        )
        _check(
            self.mixed_precision in _MIXED_PRECISION,
            f"TrainConfig.mixed_precision must be one of {', '.join(_MIXED_PRECISION)}, got {self.mixed_precision!r}.",
        )
        _check(
            self.llm_dtype in _DTYPES,
            f"TrainConfig.llm_dtype must be one of {', '.join(_DTYPES)}, got {self.llm_dtype!r}.",
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return cls(**_from_known_fields(cls, data, "train"))


def read_config_file(path: PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the ``model`` and ``train`` sections of a JSON config file (either may be missing).

    Returns:
        ``(model_overrides, train_overrides)``, plain dicts to merge over defaults.

    Raises:
        ConfigError: the file is missing, not JSON, or has unknown sections or keys.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"E-chat config file {file} does not exist. Pass a JSON file with 'model' and/or 'train' sections."
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file} is not valid JSON ({exc.msg}, line {exc.lineno}).") from exc
    if not isinstance(data, dict) or set(data) - {"model", "train"}:
        raise ConfigError(
            f"{file} must be a JSON object with only 'model' and/or 'train' sections, e.g. "
            '{"model": {"connector_layers": 4}, "train": {"batch_size": 16}}.'
        )
    model = _from_known_fields(EChatConfig, data.get("model", {}), "model")
    train = _from_known_fields(TrainConfig, data.get("train", {}), "train")
    return model, train
