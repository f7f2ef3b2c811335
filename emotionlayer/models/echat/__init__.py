"""E-chat: an end-to-end emotion-sensitive speech LLM (Xu et al. 2024), small enough for a CPU.

A pretrained speech encoder feeds two learned softmax-weighted sums of its hidden layers: one gives the
speech embedding (through a connector into a frozen causal LM), the other the emotion embedding (one
extra LLM input in stage 2, and an auxiliary emotion classifier whose probabilities are reported).
Stage 1 aligns speech with text (transcription); stage 2 learns emotional replies.

Modules: :mod:`.config` (settings), :mod:`.model` (``nn.Module`` s), :mod:`.data` (manifests, items,
batches), :mod:`.train` (accelerate trainer), :mod:`.checkpoint` (folders on disk), :mod:`.inference`
(:class:`EChat`); the parts ParalinGPT shares (backbones, feature cache, training loop...) are in
:mod:`emotionlayer.models.common`. Names are imported lazily, so ``import emotionlayer.models.echat``
does not import torch.

Example::

    from emotionlayer.models.echat import EChat, EChatConfig, TrainConfig, train_echat

    train_echat("asr.csv", "echat-s1", EChatConfig(stage=1), TrainConfig(max_steps=2000))
    train_echat("replies.jsonl", "echat-s2", EChatConfig(stage=2), TrainConfig(max_steps=2000), init="echat-s1")
    print(EChat.from_pretrained("echat-s2").reply(audio).text)
"""

from __future__ import annotations

from typing import Any

from ..common.config import TrainConfig
from .config import ASR_PROMPT, REPLY_PROMPT, EChatConfig, read_config_file

_LAZY = {
    "EChat": "inference",
    "EChatOutput": "inference",
    "PACKAGED_DIR": "inference",
    "EChatModel": "model",
    "build_model": "model",
    "train_echat": "train",
    "TrainResult": ".common.training",
    "load_examples": "data",
    "FeatureCache": ".common.features",
}

__all__ = ["ASR_PROMPT", "REPLY_PROMPT", "EChatConfig", "TrainConfig", "read_config_file", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
