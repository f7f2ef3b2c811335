"""Speech encoders as PyTorch modules.

:mod:`emotionlayer.encoders.whisper` rebuilds whisper's audio encoder from the packaged CTranslate2
weights. Names are imported lazily so that ``import emotionlayer.encoders`` does not import torch.
"""

from __future__ import annotations

from typing import Any

_WHISPER_NAMES = (
    "WhisperEncoder",
    "WhisperEncoderConfig",
    "WhisperEncoderOutput",
    "encode_chunks",
    "load_whisper_encoder",
    "log_mel_spectrogram",
    "packaged_model_available",
    "packaged_model_files",
    "save_encoder",
)

__all__ = list(_WHISPER_NAMES) + ["read_ctranslate2_variables"]


def __getattr__(name: str) -> Any:
    if name in _WHISPER_NAMES:
        from . import whisper

        return getattr(whisper, name)
    if name == "read_ctranslate2_variables":
        from .ctranslate2_reader import read_ctranslate2_variables

        return read_ctranslate2_variables
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
