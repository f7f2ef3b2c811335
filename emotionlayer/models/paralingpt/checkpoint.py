"""ParalinGPT model folders and resumable checkpoints (the shared layout of
:mod:`emotionlayer.models.common.checkpoint`, with ParalinGPT's format tag).

A model folder (what ``ParalinGPT.from_pretrained`` reads, and what a finished run writes to ``--out``)::

    config.json          {"format": "emotionlayer-paralingpt-1", "model": ParalinGPTConfig, "train": TrainConfig}
    model.safetensors    the trained weights: layer weights and prefix projector (the encoder and LLM are named in the config)

A resumable checkpoint (``--out/checkpoints/step-00000500/``) adds ``optimizer.safetensors`` +
``optimizer.json`` and ``trainer_state.json``. Nothing is pickled; folders are written under a temporary
name and renamed into place, so a kill never leaves half a checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import torch

from ..common.checkpoint import ModelFolder
from ..common.config import TrainConfig
from .config import ParalinGPTConfig

PathLike = Union[str, os.PathLike]

FORMAT = "emotionlayer-paralingpt-1"
#: How ParalinGPT's folders are tagged and read.
FOLDER = ModelFolder(FORMAT, "a ParalinGPT", "emotionlayer paralingpt train", ParalinGPTConfig)


def config_dict(model: ParalinGPTConfig, train: TrainConfig | None) -> dict[str, Any]:
    """The ``config.json`` content of a ParalinGPT model (and its run)."""
    return FOLDER.config_dict(model, train)


def read_config(folder: PathLike) -> tuple[ParalinGPTConfig, TrainConfig | None]:
    """The configs saved in a ParalinGPT model or checkpoint folder.

    Raises:
        ModelNotFoundError: the folder has no ``config.json``.
        ConfigError: the file is not a ParalinGPT config.
    """
    return FOLDER.read_config(folder)


def save_model_folder(
    folder: PathLike, weights: dict[str, torch.Tensor], model: ParalinGPTConfig, train: TrainConfig | None
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created if needed)."""
    return FOLDER.save_model_folder(folder, weights, model, train)
