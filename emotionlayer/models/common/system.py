"""The common part of the speech LLMs' dialogue systems (``echat``, ``paralingpt``).

:class:`SpeechLLMSystem` holds what both registered systems do the same way: the ``max_new_tokens`` /
``max_sentences`` checks, the one-thread TTS pool that speaks sentences while the LLM writes, ``close``,
``respond`` (the whole turn of ``stream``) and the refusal of an utterance without audio. Each system
keeps its own ``stream`` and ``from_config``. :func:`first_sentences` (the LLM backends' one sentence cap,
:mod:`emotionlayer.components.llm`) cuts a streamed reply to a spoken answer's length.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from ...components.llm import first_sentences
from ...config import PipelineConfig
from ...errors import ConfigError
from ...systems.base import TurnEvent, UtteranceLike, as_utterance, turn_from_stream
from ...types import Dialogue, Turn, Utterance

__all__ = ["SpeechLLMSystem", "first_sentences"]


class SpeechLLMSystem:
    """Base of the registered speech-LLM systems.

    Class attributes (set by each subclass): ``name`` (the registered name) and ``needs_audio`` (the
    message when an utterance has only text).

    Args:
        model: The loaded model (``EChat``, ``ParalinGPT``).
        tts: The voice (anything with ``synthesize(text, style)``).
        config: The pipeline config (strategies pick the voice's style; limits).
        max_new_tokens: Most tokens a reply may have.
        max_sentences: Stop after this many sentences (a spoken answer); ``None`` for no limit.
        temperature: 0 decodes greedily; higher values sample.
        seed: The sampling seed of every turn when ``temperature`` is above 0 (the same seed, the same reply
            to the same clip); unused when decoding greedily.
    """

    name: ClassVar[str] = ""
    needs_audio: ClassVar[str] = ""
    requires: tuple[str, ...] = ("torch", "transformers")
    extra = "transformers"

    def __init__(
        self,
        model: Any,
        tts: Any,
        config: PipelineConfig | None,
        max_new_tokens: int,
        max_sentences: int | None,
        temperature: float,
        seed: int = 0,
    ) -> None:
        if max_sentences == 0:
            warnings.warn(
                f"{self.name}: max_sentences=0 for no sentence limit is now max_sentences=None (null), as for the "
                "LLM backends; 0 is read as None for now.",
                FutureWarning,
                stacklevel=3,
            )
            max_sentences = None
        if max_new_tokens < 1 or (max_sentences is not None and max_sentences < 1):
            raise ConfigError(
                f"{self.name} needs max_new_tokens >= 1 and max_sentences >= 1, or None for no sentence limit."
            )
        self.model = model
        self.tts = tts
        self.config = config or PipelineConfig.default()
        self.max_new_tokens = max_new_tokens
        self.max_sentences = max_sentences
        self.temperature = temperature
        self.seed = int(seed)
        self._tts_executor: ThreadPoolExecutor | None = None

    def _tts_pool(self) -> ThreadPoolExecutor:
        if self._tts_executor is None:
            self._tts_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"emotionlayer-{self.name}-tts")
        return self._tts_executor

    def close(self) -> None:
        """Release the TTS thread."""
        if self._tts_executor is not None:
            self._tts_executor.shutdown(wait=False)
            self._tts_executor = None

    def _spoken(self, utterance: UtteranceLike) -> Utterance:
        """The utterance, checked to carry audio (these models hear speech).

        Raises:
            ConfigError: it has only text.
        """
        utt = as_utterance(utterance, max_seconds=self.config.run.max_seconds)
        if utt.audio is None:
            raise ConfigError(self.needs_audio)
        return utt

    @staticmethod
    def _clock() -> Callable[[], float]:
        """A clock of the turn: seconds since now."""
        start = time.perf_counter()
        return lambda: time.perf_counter() - start

    @staticmethod
    def _turn_timings(
        spoken: Any, now: Callable[[], float], before: dict[str, float], thinking: float = 0.0
    ) -> dict[str, float]:
        """A turn's timings: ``before`` (what the system did before writing: asr, encode...), then ``generate``
        (``thinking`` plus the writing), ``tts``, ``total`` and ``time_to_first_audio``."""
        return {
            **before,
            "generate": thinking + spoken.writing_seconds,
            "tts": spoken.speaking_seconds,
            "total": now(),
            "time_to_first_audio": spoken.first_audio if spoken.first_audio is not None else now(),
        }

    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[TurnEvent]:
        """Answer one spoken turn as events (each system's own)."""
        raise NotImplementedError

    def respond(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Turn:
        """The whole turn (see :meth:`stream`)."""
        return turn_from_stream(self.stream(utterance, history))
