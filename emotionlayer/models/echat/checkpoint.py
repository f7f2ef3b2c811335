"""E-chat model folders and resumable checkpoints (the shared layout of
:mod:`emotionlayer.models.common.checkpoint`, with E-chat's format tag).

A model folder (what ``EChat.from_pretrained`` reads, and what a finished run writes to ``--out``)::

    config.json          {"format": "emotionlayer-echat-1", "model": EChatConfig, "train": TrainConfig}
    model.safetensors    the weights the stage trained (the encoder and LLM are named in the config)

A resumable checkpoint (``--out/checkpoints/step-00000500/``) adds the optimizer files and
``trainer_state.json``.
"""

from __future__ import annotations

from ..common.checkpoint import ModelFolder
from .config import EChatConfig

FORMAT = "emotionlayer-echat-1"
#: How E-chat's folders are tagged and read.
FOLDER = ModelFolder(FORMAT, "an E-chat", "emotionlayer echat train", EChatConfig)

#: ``config_dict(model, train)``: the ``config.json`` content of a E-chat model (and its run).
config_dict = FOLDER.config_dict
#: ``read_config(folder)``: the ``(EChatConfig, TrainConfig | None)`` saved in a model or checkpoint folder
#: (``ModelNotFoundError`` without ``config.json``, ``ConfigError`` for another model's).
read_config = FOLDER.read_config
#: ``save_model_folder(folder, weights, model, train)``: write ``config.json`` and ``model.safetensors``.
save_model_folder = FOLDER.save_model_folder
