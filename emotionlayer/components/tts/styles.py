"""Named speaking styles: the ones a reply strategy asks for, and acted emotions for demos and tests.

The values were chosen by ear on the packaged piper voice and checked with measured F0, duration and
level (``python benchmarks/tts_styles.py``; the table is in docs/tts.md). They are starting points: a
pipeline config may define its own :class:`~emotionlayer.types.SpeakingStyle` values.
"""

from __future__ import annotations

from ...errors import ConfigError
from ...types import SpeakingStyle

#: Styles a reply can be spoken in, by the purpose of the reply.
STYLE_PRESETS: dict[str, SpeakingStyle] = {
    "neutral": SpeakingStyle("neutral", rate=1.0, pitch_semitones=0.0, volume=1.0, emotion="neutral"),
    "warm": SpeakingStyle("warm", rate=0.9, pitch_semitones=-1.0, volume=0.85, emotion="calm"),
    "calm": SpeakingStyle("calm", rate=0.85, pitch_semitones=-2.0, volume=0.75, emotion="calm"),
    "reassuring": SpeakingStyle("reassuring", rate=0.92, pitch_semitones=-0.5, volume=0.9, emotion="calm"),
    "bright": SpeakingStyle("bright", rate=1.1, pitch_semitones=2.5, volume=1.15, emotion="happy"),
    "serious": SpeakingStyle("serious", rate=0.95, pitch_semitones=-1.5, volume=1.0, emotion="neutral"),
}

#: Acted emotions, for example clips and tests (prosody only: the voice itself is not emotional).
EMOTION_STYLES: dict[str, SpeakingStyle] = {
    "neutral": SpeakingStyle("neutral", rate=1.0, pitch_semitones=0.0, volume=1.0, emotion="neutral"),
    "happy": SpeakingStyle("happy", rate=1.12, pitch_semitones=3.0, volume=1.2, emotion="happy"),
    "sad": SpeakingStyle("sad", rate=0.8, pitch_semitones=-3.0, volume=0.6, emotion="sad"),
    "angry": SpeakingStyle("angry", rate=1.15, pitch_semitones=1.0, volume=1.6, emotion="angry"),
    "fearful": SpeakingStyle("fearful", rate=1.2, pitch_semitones=4.0, volume=0.8, emotion="fearful"),
    "surprised": SpeakingStyle("surprised", rate=1.0, pitch_semitones=5.0, volume=1.3, emotion="surprised"),
    "calm": SpeakingStyle("calm", rate=0.85, pitch_semitones=-2.0, volume=0.75, emotion="calm"),
}


def style_preset(name: str) -> SpeakingStyle:
    """A named style from :data:`STYLE_PRESETS` or :data:`EMOTION_STYLES` (emotion aliases accepted).

    Raises:
        ConfigError: the name is in neither table (the message lists the valid names).
    """
    key = name.strip().lower()
    if key in STYLE_PRESETS:
        return STYLE_PRESETS[key]
    if key in EMOTION_STYLES:
        return EMOTION_STYLES[key]
    from ...labels import ALIASES

    if ALIASES.get(key) in EMOTION_STYLES:
        return EMOTION_STYLES[ALIASES[key]]
    names = sorted(set(STYLE_PRESETS) | set(EMOTION_STYLES))
    raise ConfigError(f"Unknown speaking style {name!r}. Use one of: {', '.join(names)}.")
