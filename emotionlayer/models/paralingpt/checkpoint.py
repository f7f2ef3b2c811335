"""ParalinGPT model folders and resumable checkpoints (the shared layout of
:mod:`emotionlayer.models.common.checkpoint`, with ParalinGPT's format tag).

A model folder (what ``ParalinGPT.from_pretrained`` reads, and what a finished run writes to ``--out``)::

    config.json          {"format": "emotionlayer-paralingpt-1", "model": ParalinGPTConfig, "train": TrainConfig}
    model.safetensors    the trained weights: layer weights and prefix projector (the encoder and LLM are
                         named in the config)

A resumable checkpoint (``--out/checkpoints/step-00000500/``) adds ``optimizer.safetensors`` +
``optimizer.json`` and ``trainer_state.json``. Nothing is pickled; folders are written under a temporary
name and renamed into place, so a kill never leaves half a checkpoint.
"""

from __future__ import annotations

from ..common.checkpoint import ModelFolder
from .config import ParalinGPTConfig

FORMAT = "emotionlayer-paralingpt-1"
#: How ParalinGPT's folders are tagged and read.
FOLDER = ModelFolder(FORMAT, "a ParalinGPT", "emotionlayer paralingpt train", ParalinGPTConfig)

#: ``config_dict(model, train)``: the ``config.json`` content of a ParalinGPT model (and its run).
config_dict = FOLDER.config_dict
#: ``read_config(folder)``: the ``(ParalinGPTConfig, TrainConfig | None)`` saved in a model or checkpoint folder
#: (``ModelNotFoundError`` without ``config.json``, ``ConfigError`` for another model's).
read_config = FOLDER.read_config
#: ``save_model_folder(folder, weights, model, train)``: write ``config.json`` and ``model.safetensors``.
save_model_folder = FOLDER.save_model_folder
