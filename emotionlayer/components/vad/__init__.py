"""vad backends (voice activity detection); importing this package registers them."""

from . import (
    energy,  # noqa: F401  energy (no dependency: an RMS threshold)
    silero,  # noqa: F401  silero (the packaged default, ONNX)
)
