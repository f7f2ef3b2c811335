"""Settings the speech LLMs share: the training run (:class:`TrainConfig`), the checks every config
makes, and the JSON config files of ``emotionlayer echat train --config`` and ``emotionlayer paralingpt
train --config``.

A config file holds a ``model`` section (the model's own config class), a ``train`` section
(:class:`TrainConfig`), or both::

    {"model": {"encoder": "base"}, "train": {"batch_size": 16, "learning_rate": 5e-5}}
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

from ...errors import ConfigError
from ...labels import canonical_list

PathLike = Union[str, os.PathLike]

M = TypeVar("M", bound="ModelConfig")

_MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
_DTYPES = ("auto", "float32", "bfloat16", "float16")


def check(condition: bool, message: str) -> None:
    """Raise :class:`~emotionlayer.errors.ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def known_fields(cls: type, data: Any, section: str, owner: str = "") -> dict[str, Any]:
    """``data`` as a dict of ``cls``'s fields.

    Args:
        cls: The dataclass the settings are for.
        data: The parsed JSON section.
        section: Its name (``model`` or ``train``), for messages.
        owner: The model's display name (``E-chat``), for messages.

    Raises:
        ConfigError: ``data`` is not an object, or names fields ``cls`` lacks.
    """
    who = f"{owner} " if owner else ""
    if not isinstance(data, dict):
        raise ConfigError(f"The {who}'{section}' settings must be a JSON object, got {type(data).__name__}.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown {who}{section} setting(s) {unknown}. Known ones: {', '.join(sorted(known))}.")
    return dict(data)


class ModelConfig:
    """Base of the speech LLMs' model configs (frozen dataclasses with a ``labels`` tuple): their JSON form.

    A subclass sets ``display_name`` (its name in messages, e.g. ``E-chat``).
    """

    display_name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON data (labels as a list)."""
        data = asdict(self)  # type: ignore[call-overload]
        data["labels"] = list(data["labels"])
        return data

    @classmethod
    def from_dict(cls: type[M], data: dict[str, Any]) -> M:
        """The config of :meth:`to_dict` output (label aliases are accepted).

        Raises:
            ConfigError: ``data`` is not an object or names unknown settings.
        """
        values = known_fields(cls, data, "model", cls.display_name)
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

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum_steps", "epochs", "keep_checkpoints", "log_every", "bucket_size"):
            value = getattr(self, name)
            check(
                isinstance(value, int) and value >= 1, f"TrainConfig.{name} must be a positive integer, got {value!r}."
            )
        for name in ("warmup_steps", "save_every", "num_workers"):
            value = getattr(self, name)
            check(isinstance(value, int) and value >= 0, f"TrainConfig.{name} must be an integer >= 0, got {value!r}.")
        check(
            self.max_steps is None or (isinstance(self.max_steps, int) and self.max_steps >= 1),
            f"TrainConfig.max_steps must be a positive integer or null (train for `epochs`), got {self.max_steps!r}.",
        )
        check(
            math.isfinite(self.learning_rate) and self.learning_rate > 0,
            f"TrainConfig.learning_rate must be positive, got {self.learning_rate!r}.",
        )
        check(self.weight_decay >= 0, f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}.")
        check(
            self.max_grad_norm >= 0,
            f"TrainConfig.max_grad_norm must be >= 0 (0 = no clipping), got {self.max_grad_norm!r}.",
        )
        check(
            self.mixed_precision in _MIXED_PRECISION,
            f"TrainConfig.mixed_precision must be one of {', '.join(_MIXED_PRECISION)}, got {self.mixed_precision!r}.",
        )
        check(
            self.llm_dtype in _DTYPES,
            f"TrainConfig.llm_dtype must be one of {', '.join(_DTYPES)}, got {self.llm_dtype!r}.",
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Read a ``train`` section (keys older versions wrote and that moved away are read; see
        :func:`move_train_keys`)."""
        return cls(**known_fields(cls, drop_moved_keys(data), "train"))


#: Settings older versions kept in the ``train`` section that are model settings now, with the value that
#: meant "off" (a model that does not have the setting reads only that value).
MOVED_TRAIN_KEYS: dict[str, Any] = {"emotion_warmup_steps": 0}


def drop_moved_keys(train: dict[str, Any]) -> dict[str, Any]:
    """A ``train`` section without the keys of :data:`MOVED_TRAIN_KEYS` (with a deprecation message); call
    :func:`move_train_keys` first for a model that has them.

    Raises:
        ConfigError: such a key has a value other than "off" (the model it is given for has no such setting).
    """
    if not isinstance(train, dict):
        return train  # known_fields says what is wrong with it
    data = dict(train)
    for key in sorted(set(data) & set(MOVED_TRAIN_KEYS)):
        value = data.pop(key)
        if value != MOVED_TRAIN_KEYS[key]:
            raise ConfigError(
                f"The train setting {key!r} is now a model setting, and this model has none. Remove it from the "
                "'train' section."
            )
        warnings.warn(
            f"The train setting {key!r} is no longer read (it moved to the model settings); remove it.",
            FutureWarning,
            stacklevel=3,
        )
    return data


def move_train_keys(model_class: type, model: dict[str, Any], train: dict[str, Any]) -> tuple[dict, dict]:
    """``(model, train)`` sections with the keys of :data:`MOVED_TRAIN_KEYS` that ``model_class`` has moved from
    the train section to the model section (with a deprecation message; a value already in the model section wins).
    """
    names = {f.name for f in fields(model_class)}
    moved = sorted(k for k in set(train) & set(MOVED_TRAIN_KEYS) if k in names)
    if not moved:
        return model, train
    warnings.warn(
        f"{', '.join(moved)} moved from the 'train' to the 'model' section of the config; it was read from 'train'. "
        "Move it to 'model'.",
        FutureWarning,
        stacklevel=3,
    )
    model, train = dict(model), dict(train)
    for key in moved:
        value = train.pop(key)
        model.setdefault(key, value)
    return model, train


def train_config_with(base: TrainConfig | None = None, **overrides: Any) -> TrainConfig:
    """``base`` (or the defaults) with the non-``None`` overrides applied."""
    return replace(base or TrainConfig(), **{k: v for k, v in overrides.items() if v is not None})


def read_config_file(
    path: PathLike, model_class: type, owner: str, example: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the ``model`` and ``train`` sections of a JSON config file (either may be missing).

    Args:
        path: The file.
        model_class: The model's config dataclass (its fields are the known ``model`` settings).
        owner: The model's display name, for messages.
        example: A ``model`` section shown in the message about a malformed file.

    Returns:
        ``(model_overrides, train_overrides)``, plain dicts to merge over defaults.

    Raises:
        ConfigError: the file is missing, not JSON, or has unknown sections or keys.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"{owner} config file {file} does not exist. Pass a JSON file with 'model' and/or 'train' sections."
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file} is not valid JSON ({exc.msg}, line {exc.lineno}).") from exc
    if not isinstance(data, dict) or set(data) - {"model", "train"}:
        raise ConfigError(
            f"{file} must be a JSON object with only 'model' and/or 'train' sections, e.g. "
            f"{json.dumps({'model': example, 'train': {'batch_size': 16}})}."
        )
    sections = data.get("model", {}), data.get("train", {})
    if isinstance(sections[0], dict) and isinstance(sections[1], dict):
        sections = move_train_keys(model_class, *sections)
    model = known_fields(model_class, sections[0], "model", owner)
    train = known_fields(TrainConfig, drop_moved_keys(sections[1]), "train", owner)
    return model, train
