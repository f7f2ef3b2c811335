"""ser backends; importing this package registers them."""

from . import (
    emotionlayer_model,  # noqa: F401  default, whisper, egemaps, ssl
    hf_audio_classification,  # noqa: F401  transformers
    speechbrain_classifier,  # noqa: F401  speechbrain
)
