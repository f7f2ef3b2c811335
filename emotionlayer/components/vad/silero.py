"""silero VAD (the packaged default): a small recurrent speech detector, run as ONNX with onnxruntime.

The model ships inside the ``silero-vad`` PyPI package and is loaded with
``silero_vad.load_silero_vad(onnx=True)``, never its TorchScript ``.jit`` file (a TorchScript archive is a
pickle, and emotionlayer loads no pickle). Importing ``silero_vad`` sets torch's thread count to one for
the whole process; the count is put back right after the import.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from ...audio import FRAME_SAMPLES, SAMPLE_RATE
from ...errors import BackendError
from ...registry import register
from .common import FrameVAD, check_frame

logger = logging.getLogger(__name__)

#: Samples of the previous frame the model sees in front of each frame (fixed by the model at 16 kHz).
CONTEXT_SAMPLES = 64

_SESSION: Any = None
_LOCK = threading.Lock()


def _import_silero() -> Any:
    """``silero_vad.load_silero_vad``, imported without leaving torch on one thread."""
    import torch

    threads = torch.get_num_threads()
    try:
        from silero_vad import load_silero_vad
    finally:
        torch.set_num_threads(threads)
    return load_silero_vad


def onnx_session() -> Any:
    """The silero ONNX model's onnxruntime session, loaded once per process (thread-safe to run)."""
    global _SESSION
    with _LOCK:
        if _SESSION is None:
            load_silero_vad = _import_silero()
            try:
                wrapper = load_silero_vad(onnx=True)
            except Exception as exc:
                raise BackendError(
                    f"Could not load silero VAD's ONNX model ({type(exc).__name__}: {exc}). "
                    'Reinstall it with: pip install "silero-vad[onnx-cpu]==6.2.3"'
                ) from exc
            _SESSION = wrapper.session
            logger.info("Loaded silero VAD (ONNX)")
        return _SESSION


class SileroStream:
    """silero VAD on live audio: one 32 ms frame (512 samples at 16 kHz) in, its speech probability out.

    Each stream keeps its own recurrent state and the end of the previous frame; streams share the model.
    """

    frame_samples = FRAME_SAMPLES

    def __init__(self, session: Any) -> None:
        self._session = session
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget the past: zero state and context."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT_SAMPLES), dtype=np.float32)

    def process(self, frame: np.ndarray) -> float:
        """The probability in [0, 1] that ``frame`` (512 float samples at 16 kHz) holds speech."""
        chunk = np.concatenate([self._context, check_frame(frame)[None, :]], axis=1)
        out, self._state = self._session.run(None, {"input": chunk, "state": self._state, "sr": self._rate})
        self._context = chunk[:, -CONTEXT_SAMPLES:]
        return float(out[0, 0])


@register("vad", "silero")
class SileroVAD(FrameVAD):
    """silero VAD 6 (ONNX, CPU): tells speech from silence, noise, music and hum; the packaged default.

    Args:
        threshold: Probability at which a frame counts as speech (silero's default 0.5).
        min_speech_seconds: Shortest speech segment reported.
        min_silence_seconds: Silence that ends a segment.
        pad_seconds: Margin added on each side of a segment.

    Example:
        >>> from emotionlayer.registry import create
        >>> vad = create("vad", "silero")
        >>> vad.speech_segments(load_audio("hello.wav"))  # doctest: +SKIP
        [(0.38, 1.72)]
    """

    requires = ("silero_vad", "onnxruntime", "torch")
    extra = None  # silero-vad is a core dependency
    name = "silero-vad"

    @classmethod
    def check_usable(cls) -> str | None:
        """Why the packaged ONNX model cannot be found, or ``None``."""
        from importlib import resources

        if not resources.files("silero_vad.data").joinpath("silero_vad.onnx").is_file():
            return 'silero VAD\'s ONNX model is missing: pip install --force-reinstall "silero-vad[onnx-cpu]==6.2.3"'
        return None

    def warmup(self) -> None:
        """Load the model now (otherwise it loads on first use)."""
        onnx_session()

    def stream(self) -> SileroStream:
        """A new :class:`SileroStream` with its own state."""
        return SileroStream(onnx_session())
