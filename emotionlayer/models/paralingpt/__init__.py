"""ParalinGPT: the ASR transcript plus a speech-emotion prefix into a frozen LLM (Lin et al., ICASSP 2024).

The baseline E-chat is compared against. A frozen speech encoder's hidden layers are mixed by learned
softmax weights, pooled (mean and standard deviation over time) and projected into ``K`` soft prefix
tokens in the LLM's embedding space. The frozen LLM reads ``BOS, prefix, "User said: {transcript}"`` and
writes three fields in one pass::

    emotion: sad | response emotion: calm | reply: I'm sorry to hear that. What happened?

Only the layer weights and the projection train. Modules: :mod:`.config` (settings), :mod:`.fields`
(the serialised fields, parsed robustly), :mod:`.model` (``nn.Module``), :mod:`.data` (manifests, items),
:mod:`.train` (accelerate trainer), :mod:`.checkpoint` (folders), :mod:`.inference` (:class:`ParalinGPT`),
:mod:`.system` (the ``paralingpt`` dialogue system). Names are imported lazily, so
``import emotionlayer.models.paralingpt`` does not import torch.

Example::

    from emotionlayer.models.paralingpt import ParalinGPT, ParalinGPTConfig, train_paralingpt

    train_paralingpt("replies.jsonl", "paralingpt", ParalinGPTConfig(), split="train")
    out = ParalinGPT.from_pretrained("paralingpt").reply(audio, "my phone won't turn on")
    print(out.emotion.label, out.response_emotion, out.text)
"""

from __future__ import annotations

from typing import Any

from .config import USER_PROMPT, ParalinGPTConfig, default_train_config, read_config_file
from .fields import Fields, parse_fields, serialise

_LAZY = {
    "ParalinGPT": "inference",
    "ParalinGPTOutput": "inference",
    "PACKAGED_DIR": "inference",
    "ParalinGPTModel": "model",
    "build_model": "model",
    "train_paralingpt": "train",
    "load_examples": "data",
}

__all__ = [
    "USER_PROMPT",
    "Fields",
    "ParalinGPTConfig",
    "default_train_config",
    "parse_fields",
    "read_config_file",
    "serialise",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
