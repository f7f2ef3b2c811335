"""vc backends (voice conversion: make a paralinguistic event clip sound like the speaker it goes next to);
importing this package registers them.

- ``default``: pitch, spectral-envelope and loudness matching to the speaker's own speech; offline, no model.
- ``torchscript``: a TorchScript module the user supplies, ``module(event, reference, sample_rate)``.
- ``callable``: a Python function the user supplies, ``"package.module:function"``.

Every backend has ``convert(event: Audio, reference: Audio, label=None) -> Audio`` (at the reference's rate).
"""

from . import (
    default,  # noqa: F401  default (pitch, envelope, loudness; NumPy, SciPy, librosa)
    external,  # noqa: F401  torchscript, callable (a converter the user supplies)
)
from .common import VoiceConverter, envelope_distance, spectral_envelope, voiced_f0

__all__ = ["VoiceConverter", "envelope_distance", "spectral_envelope", "voiced_f0"]
