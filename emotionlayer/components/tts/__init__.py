"""tts backends; importing this package registers them.

Backends: ``piper`` (default, packaged en_US-joe-medium voice), ``espeak-ng`` (formant, 100+ languages)
and ``f5-tts`` (voice cloning from a per-emotion voice bank). All accept the same
:class:`~emotionlayer.types.SpeakingStyle` and never read paralinguistic tags
(:mod:`emotionlayer.paralinguistics.tags`) aloud.
"""

from . import espeak, f5, piper  # noqa: F401  (importing registers the backends)
from .styles import EMOTION_STYLES, acted_style  # noqa: F401
