"""Workers: turn a planned row into an LLM reply and a waveform, touching no files.

A :class:`RowWorker` builds its LLM and TTS voices once, on first use, from a :class:`WorkerConfig` (plain
data, so it crosses process boundaries), and returns a :class:`RowResult` per row.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .plan import PlannedRow
from .voices import VoiceSpec

logger = logging.getLogger(__name__)

#: The prompt template used for replies: true text and true emotion, no history.
DEFAULT_TEMPLATE = "topline.j2"


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to build its backends (plain data, so it crosses process boundaries)."""

    llm: str
    llm_params: dict[str, Any]
    voices: tuple[VoiceSpec, ...]
    template: str = DEFAULT_TEMPLATE
    template_dirs: tuple[str, ...] = ()
    max_tokens: int = 48
    sample_rate: int | None = None
    imports: tuple[str, ...] = ()
    threads: int | None = None


@dataclass
class RowResult:
    """What a worker returns for one planned row: the manifest fields it computed and the waveform."""

    row: PlannedRow
    response: str
    strategy: str
    samples: np.ndarray
    sample_rate: int
    llm: str
    tts: str
    seconds: float


_THREAD_PARAMETERS = ("n_threads", "num_threads", "threads")


def _with_threads(kind: str, name: str, params: dict[str, Any], threads: int | None) -> dict[str, Any]:
    """``params`` plus the backend's thread-count parameter set to ``threads``, unless the user set it."""
    if not threads:
        return dict(params)
    import inspect

    from ... import registry

    accepted = inspect.signature(registry.get_class(kind, name).__init__).parameters
    out = dict(params)
    for key in _THREAD_PARAMETERS:
        if key in accepted and key not in out:
            out[key] = threads
            break
    return out


class RowWorker:
    """Turns planned rows into replies and speech. Builds its LLM and TTS voices once, on first use.

    Args:
        config: Backends and prompt settings.
    """

    def __init__(self, config: WorkerConfig) -> None:
        import importlib

        self.config = config
        if config.threads:
            # Several workers share the CPU: keep each one's thread pools small.
            for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                os.environ.setdefault(variable, str(config.threads))
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(config.threads)
        for module in config.imports:
            importlib.import_module(module)
        self._llm: Any = None
        self._renderer: Any = None
        self._tts: dict[int, Any] = {}
        self._llm_options: set[str] | None = None

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from ... import registry

            params = _with_threads("llm", self.config.llm, self.config.llm_params, self.config.threads)
            self._llm = registry.create("llm", self.config.llm, **params)
        return self._llm

    @property
    def renderer(self) -> Any:
        if self._renderer is None:
            from ...prompting import PromptRenderer

            self._renderer = PromptRenderer(template=self.config.template, template_dirs=self.config.template_dirs)
        return self._renderer

    def tts(self, index: int) -> Any:
        """The TTS backend of voice ``index`` (built once)."""
        if index not in self._tts:
            from ... import registry

            voice = self.config.voices[index]
            params = _with_threads("tts", voice.tts, voice.params, self.config.threads)
            self._tts[index] = registry.create("tts", voice.tts, **params)
        return self._tts[index]

    def _options(self, seed: int) -> dict[str, Any]:
        """Per-call LLM options: ``target_tokens`` (the reply's length; ``max_tokens`` for a backend that names only
        that old name) and ``seed``, each where the backend's ``generate`` takes it."""
        if self._llm_options is None:
            import inspect

            parameters = inspect.signature(self.llm.generate).parameters
            takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
            length = (
                "max_tokens" if "max_tokens" in parameters and "target_tokens" not in parameters else "target_tokens"
            )
            self._llm_options = {name for name in (length, "seed") if takes_any or name in parameters}
        values = {"target_tokens": self.config.max_tokens, "max_tokens": self.config.max_tokens, "seed": seed}
        return {name: values[name] for name in sorted(self._llm_options)}

    def _reply(self, messages: list[dict[str, str]], row: PlannedRow) -> str:
        """The LLM's reply with the row's seed; an empty reply is retried with the next two seeds."""
        text = ""
        for attempt in range(3):
            options = self._options(row.seed + attempt)
            text = " ".join(str(self.llm.generate(messages, **options)).split())
            if text or "seed" not in options:
                break
        if not text:
            logger.warning("Row %s: the LLM gave an empty reply.", row.id)
        return text

    def __call__(self, row: PlannedRow) -> RowResult:
        """Generate the reply and the speech of one row."""
        from ...audio import resample, validate
        from ...types import EmotionPrediction

        start = time.perf_counter()
        prompt = self.renderer.render(row.text, EmotionPrediction.certain(row.emotion), language=row.language)
        response = self._reply(prompt.messages, row)
        tts = self.tts(row.voice)
        audio = tts.synthesize(row.text, row.style)
        if self.config.sample_rate:
            audio = resample(audio, self.config.sample_rate)
        validate(audio, f"Speech for row {row.id} ({row.voice_name})", max_seconds=None)
        strategy = getattr(prompt.strategy, "name", str(prompt.strategy))
        return RowResult(
            row=row,
            response=response,
            strategy=strategy,
            samples=audio.samples,
            sample_rate=audio.sample_rate,
            llm=str(getattr(self.llm, "name", self.config.llm)),
            tts=str(getattr(tts, "name", self.config.voices[row.voice].tts)),
            seconds=time.perf_counter() - start,
        )
