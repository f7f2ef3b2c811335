"""TTS voices of a generated dataset: a backend, its parameters and voice-level style offsets.

A voice is written ``BACKEND[:KEY=VALUE,...]`` (:class:`VoiceSpec`); :func:`default_voices` picks the
packaged voices usable here and :func:`check_voices` has each one speak before a dataset is started.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import ConfigError
from ...registry import unusable_reason
from ...types import SpeakingStyle


@dataclass(frozen=True)
class VoiceSpec:
    """One TTS voice of a generated dataset: a backend, its parameters and voice-level style offsets.

    Written as a string ``BACKEND[:KEY=VALUE,...]``, e.g. ``piper``, ``espeak-ng:voice=en-gb-x-rp+f2`` or
    ``piper:pitch=-3,name=joe-low``. Three keys belong to the voice rather than the backend: ``name``
    (the label recorded in each row; default ``BACKEND`` or ``BACKEND/VOICE``), ``pitch`` (semitones
    added to every row's style) and ``rate`` (a factor on every row's speaking rate). Every other key is
    passed to ``registry.create("tts", BACKEND, ...)``.

    Attributes:
        tts: Registered TTS backend name.
        params: Backend constructor parameters.
        name: Voice label recorded in the manifest (used by ``holdout_voices``).
        pitch_offset: Semitones added to each row's pitch.
        rate_factor: Factor applied to each row's speaking rate.
    """

    tts: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    pitch_offset: float = 0.0
    rate_factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            voice = self.params.get("voice")
            object.__setattr__(self, "name", f"{self.tts}/{voice}" if voice else self.tts)

    @classmethod
    def parse(cls, spec: str) -> VoiceSpec:
        """Build a voice from its string form (see the class docstring)."""
        from ...registry import parse_spec

        backend, params = parse_spec(spec.strip())
        name = params.pop("name", "")
        pitch = params.pop("pitch", 0.0)
        rate = params.pop("rate", 1.0)
        try:
            return cls(backend, params, str(name) if name is not None else "", float(pitch), float(rate))
        except (TypeError, ValueError):
            raise ConfigError(
                f"Voice {spec!r}: pitch and rate must be numbers, e.g. piper:pitch=-2,rate=1.1."
            ) from None

    def to_string(self) -> str:
        """The string form, which :meth:`parse` reads back."""
        items = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sorted(self.params.items())]
        if self.pitch_offset:
            items.append(f"pitch={self.pitch_offset:g}")
        if self.rate_factor != 1.0:
            items.append(f"rate={self.rate_factor:g}")
        items.append(f"name={self.name}")
        return f"{self.tts}:{','.join(items)}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Default voices per language, in order of preference; those whose backend is not usable are skipped.
#: piper's packaged voice is one speaker, so pitch-shifted variants of it count as further voices.
DEFAULT_VOICES: dict[str, tuple[str, ...]] = {
    "en": (
        "piper:name=piper-joe",
        "piper:pitch=-2,name=piper-joe-low",
        "piper:pitch=2,rate=1.05,name=piper-joe-high",
        "espeak-ng:voice=en-us",
        "espeak-ng:voice=en-gb-x-rp+f2",
        "espeak-ng:voice=en-us+m4",
        "espeak-ng:voice=en-gb-scotland+f4",
    ),
    "zh": (
        "espeak-ng:voice=cmn",
        "espeak-ng:voice=cmn+f3",
        "espeak-ng:voice=cmn+m3",
        "espeak-ng:voice=cmn+f4",
    ),
}


def default_voices(language: str = "en") -> list[VoiceSpec]:
    """The default voices for ``language`` whose TTS backends are usable on this machine.

    Raises:
        ConfigError: none is usable (the message says what to install or pass instead).
    """
    specs = [VoiceSpec.parse(s) for s in DEFAULT_VOICES.get(language, DEFAULT_VOICES["en"])]
    reasons: dict[str, str] = {}
    usable = []
    for spec in specs:
        reason = reasons.setdefault(spec.tts, unusable_reason("tts", spec.tts) or "")
        if not reason:
            usable.append(spec)
    if not usable:
        why = "; ".join(f"{k}: {v}" for k, v in reasons.items())
        raise ConfigError(
            f"No default TTS voice for language {language!r} is usable here ({why}). Install one "
            "(e.g. `apt-get install espeak-ng`) or pass voices with --tts BACKEND[:KEY=VALUE,...]."
        )
    return usable


#: Short texts each voice speaks once before a new dataset is started, to catch a bad voice early.
PREFLIGHT_TEXT: dict[str, str] = {"en": "Hello there.", "zh": "你好。"}


def check_voices(voices: Sequence[VoiceSpec], language: str = "en", imports: Sequence[str] = ()) -> None:
    """Build each voice and have it speak a short sentence.

    Raises:
        ConfigError: a voice that cannot be built or does not speak (the message names it and why).
    """
    from ... import registry
    from ...audio import validate

    for module in imports:
        __import__(module)
    for voice in voices:
        try:
            tts = registry.create("tts", voice.tts, **voice.params)
            validate(tts.synthesize(PREFLIGHT_TEXT.get(language, "Hello."), SpeakingStyle()), max_seconds=None)
        except Exception as exc:
            raise ConfigError(
                f"Voice {voice.name!r} ({voice.to_string()}) does not work: {exc} Fix or drop it (--tts), then run "
                "again."
            ) from exc
