"""A live conversation kept as one stereo recording: the user on the left, the replies on the right."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, Audio


class ConversationRecorder:
    """Keeps what a live session heard and said, block for block, to write it as one stereo WAV.

    Feed the session through :meth:`tape` (the user's 16 kHz frames) and give :meth:`add_reply` as (or in)
    its output sink: it gets one block per input frame, so the two channels stay aligned.

    Args:
        rate: The session's output rate (``LiveConfig.output_rate``): the rate of the reply blocks and of
            the recording.
    """

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = int(rate)
        self.user: list[np.ndarray] = []
        self.replies: list[np.ndarray] = []

    def tape(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass the frames on, keeping a copy of each."""
        for frame in frames:
            self.user.append(frame)
            yield frame

    def add_reply(self, block: np.ndarray) -> None:
        """Keep one output block of the session (an output sink)."""
        self.replies.append(block)

    def stereo(self) -> np.ndarray:
        """``(samples, 2)`` float32 at :attr:`rate`: the user left, the replies right (cut or padded to the
        user's length)."""
        if not self.user:
            return np.zeros((0, 2), dtype=np.float32)
        left = np.concatenate(self.user).astype(np.float32)
        if self.rate != SAMPLE_RATE:
            left = Audio(left, SAMPLE_RATE).resample(self.rate).samples
        right = np.concatenate(self.replies)[: left.size] if self.replies else np.zeros_like(left)
        right = np.pad(right, (0, left.size - right.size))
        return np.stack([left, right], axis=1)

    def write(self, path: str | os.PathLike) -> bool:
        """Write :meth:`stereo` as a 16-bit WAV; ``False`` (nothing written) when no audio was heard."""
        if not self.user:
            return False
        import soundfile as sf

        sf.write(str(Path(path)), self.stereo(), self.rate, subtype="PCM_16")
        return True
