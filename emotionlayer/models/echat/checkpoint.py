"""E-chat model folders and resumable checkpoints (the shared layout of
:mod:`emotionlayer.models.common.checkpoint`, with E-chat's format tag).

A model folder (what ``EChat.from_pretrained`` reads, and what a finished run writes to ``--out``)::

    config.json          {"format": "emotionlayer-echat-1", "model": EChatConfig, "train": TrainConfig}
    model.safetensors    the weights the stage trained (the encoder and LLM are named in the config)

A resumable checkpoint (``--out/checkpoints/step-00000500/``) adds the optimizer files and
``trainer_state.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import torch

from ..common.checkpoint import ModelFolder
from ..common.config import TrainConfig
from .config import EChatConfig

PathLike = Union[str, os.PathLike]

FORMAT = "emotionlayer-echat-1"
#: How E-chat's folders are tagged and read.
FOLDER = ModelFolder(FORMAT, "an E-chat", "emotionlayer echat train", EChatConfig)


def config_dict(model: EChatConfig, train: TrainConfig | None) -> dict[str, Any]:
    """The ``config.json`` content of an E-chat model (and its run)."""
    return FOLDER.config_dict(model, train)


def read_config(folder: PathLike) -> tuple[EChatConfig, TrainConfig | None]:
    """The configs saved in an E-chat model or checkpoint folder.

    Raises:
        ModelNotFoundError: the folder has no ``config.json``.
        ConfigError: the file is not an E-chat config.
    """
    return FOLDER.read_config(folder)


def save_model_folder(
    folder: PathLike, weights: dict[str, torch.Tensor], model: EChatConfig, train: TrainConfig | None
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created if needed)."""
    return FOLDER.save_model_folder(folder, weights, model, train)
