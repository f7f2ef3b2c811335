"""Acted emotions: speaking styles that make a neutral voice sound happy, sad, angry... by prosody alone.

The pipeline's own reply styles come from its empathy strategies (``strategies`` in the pipeline
config, see :func:`emotionlayer.prompting.style_for`). The styles here are for something else: acting an
emotion with a TTS voice, e.g. to make example clips or test input for speech emotion recognition. The
values were set by ear on the packaged piper voice and checked with measured F0, tempo and level
(``python benchmarks/tts_styles.py``; the table is in docs/tts.md). A voice acted this way is not real
emotional speech: only rate, pitch and loudness move.
"""

from __future__ import annotations

from ...labels import canonical
from ...types import SpeakingStyle

#: One acted style per canonical emotion.
EMOTION_STYLES: dict[str, SpeakingStyle] = {
    "neutral": SpeakingStyle("neutral", rate=1.0, pitch_semitones=0.0, volume=1.0, emotion="neutral"),
    "calm": SpeakingStyle("calm", rate=0.85, pitch_semitones=-2.0, volume=0.75, emotion="calm"),
    "happy": SpeakingStyle("happy", rate=1.12, pitch_semitones=3.0, volume=1.2, emotion="happy"),
    "sad": SpeakingStyle("sad", rate=0.8, pitch_semitones=-3.0, volume=0.6, emotion="sad"),
    "angry": SpeakingStyle("angry", rate=1.15, pitch_semitones=1.0, volume=1.6, emotion="angry"),
    "fearful": SpeakingStyle("fearful", rate=1.2, pitch_semitones=4.0, volume=0.8, emotion="fearful"),
    "disgusted": SpeakingStyle("disgusted", rate=0.9, pitch_semitones=-1.5, volume=1.1, emotion="disgusted"),
    "surprised": SpeakingStyle("surprised", rate=1.0, pitch_semitones=5.0, volume=1.3, emotion="surprised"),
}


def acted_style(emotion: str) -> SpeakingStyle:
    """The acted style of an emotion (aliases such as ``joy`` or ``fear`` accepted).

    Raises:
        ConfigError: an unknown emotion (the message lists the valid ones).
    """
    return EMOTION_STYLES[canonical(emotion)]


__all__ = ["EMOTION_STYLES", "acted_style"]
