"""ParalinGPT model folders and resumable checkpoints (the layout of E-chat's, with its own format tag).

A model folder (what ``ParalinGPT.from_pretrained`` reads, and what a finished run writes to ``--out``)::

    config.json          {"format": "emotionlayer-paralingpt-1", "model": ParalinGPTConfig, "train": TrainConfig}
    model.safetensors    the trained weights: layer weights and prefix projector (the encoder and LLM are named in the config)

A resumable checkpoint (``--out/checkpoints/step-00000500/``) adds ``optimizer.safetensors`` +
``optimizer.json`` and ``trainer_state.json``. Nothing is pickled; folders are written under a temporary
name and renamed into place, so a kill never leaves half a checkpoint. The optimizer files, the listing and
the loading of checkpoints are E-chat's (:mod:`emotionlayer.models.echat.checkpoint`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

import torch

from ...errors import ConfigError, ModelNotFoundError
from ..common.config import TrainConfig
from ..echat.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    write_checkpoint,
    write_json_atomic,
)
from .config import ParalinGPTConfig

PathLike = Union[str, os.PathLike]

FORMAT = "emotionlayer-paralingpt-1"


def config_dict(model: ParalinGPTConfig, train: TrainConfig | None) -> dict[str, Any]:
    data: dict[str, Any] = {"format": FORMAT, "model": model.to_dict()}
    if train is not None:
        data["train"] = train.to_dict()
    return data


def read_config(folder: PathLike) -> tuple[ParalinGPTConfig, TrainConfig | None]:
    """The configs saved in a model or checkpoint folder.

    Raises:
        ModelNotFoundError: the folder has no ``config.json``.
        ConfigError: the file is not a ParalinGPT config.
    """
    file = Path(folder).expanduser() / CONFIG_FILE
    if not file.is_file():
        raise ModelNotFoundError(
            f"{Path(folder)} has no {CONFIG_FILE}; it is not a ParalinGPT model folder. Pass the --out folder of "
            "`emotionlayer paralingpt train` (or one of its checkpoints/step-* folders)."
        )
    data = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT or "model" not in data:
        raise ConfigError(f'{file} is not a ParalinGPT config (expected "format": "{FORMAT}").')
    train = TrainConfig.from_dict(data["train"]) if "train" in data else None
    return ParalinGPTConfig.from_dict(data["model"]), train


def save_model_folder(
    folder: PathLike, weights: dict[str, torch.Tensor], model: ParalinGPTConfig, train: TrainConfig | None
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created if needed)."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{WEIGHTS_FILE}.tmp-{os.getpid()}"
    save_file({k: v.detach().to("cpu").contiguous() for k, v in weights.items()}, str(tmp), metadata={"format": FORMAT})
    os.replace(tmp, out / WEIGHTS_FILE)
    write_json_atomic(out / CONFIG_FILE, config_dict(model, train))
    return out


def save_checkpoint(
    out: PathLike,
    step: int,
    weights: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    trainer_state: dict[str, Any],
    model: ParalinGPTConfig,
    train: TrainConfig,
) -> Path:
    """Write ``out/checkpoints/step-NNNNNNNN`` atomically, keeping the ``train.keep_checkpoints`` newest
    (E-chat's :func:`~emotionlayer.models.echat.checkpoint.write_checkpoint`, with this model's files)."""
    return write_checkpoint(
        out,
        step,
        lambda folder: save_model_folder(folder, weights, model, train),
        optimizer_state,
        trainer_state,
        train.keep_checkpoints,
    )
