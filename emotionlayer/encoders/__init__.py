"""Speech encoders as PyTorch modules, and the CTranslate2 weights they are read from.

* :mod:`emotionlayer.encoders.whisper` rebuilds whisper's audio encoder from the packaged CTranslate2
  weights.
* :mod:`emotionlayer.encoders.ctranslate2` reads CTranslate2 ``model.bin`` files with NumPy alone and
  infers a whisper model's dimensions from them.
* :mod:`emotionlayer.encoders.convert` turns CTranslate2 whisper weights into an openai-whisper
  checkpoint or a transformers model folder.

Names are imported lazily so that ``import emotionlayer.encoders`` does not import torch.
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
        from .ctranslate2 import read_ctranslate2_variables

        return read_ctranslate2_variables
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
