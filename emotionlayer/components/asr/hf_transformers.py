"""transformers ASR: any ``automatic-speech-recognition`` model (whisper, wav2vec2 CTC...) from a local folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ...audio import SAMPLE_RATE
from ...errors import ConfigError, ModelNotFoundError
from ...files import check_weights_folder
from ...registry import register
from ...types import Audio, Transcript
from ..loading import model_source
from ._common import ModelCache, check_english_only, normalise_language, to_16k

logger = logging.getLogger(__name__)

_CACHE = ModelCache()


@register("asr", "transformers")
class TransformersASR:
    """A transformers automatic-speech-recognition pipeline loaded from a local model folder.

    Works with whisper models (language and task are passed to ``generate``) and with CTC models such as
    wav2vec2 (language is ignored). No packaged weights ship in this format; make a whisper folder from
    the packaged ones with :func:`emotionlayer.encoders.convert.convert_ct2_to_transformers`.

    Args:
        model: A local model folder (with the processor files), or a hub id when ``local_files_only`` is
            False and a hub is reachable.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        language: Default language code for whisper models; ``None`` lets the model detect it.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        local_files_only: Never contact a hub (the default).
        generate_kwargs: Extra arguments for ``generate`` (whisper), e.g. ``{"num_beams": 5}``.
        chunk_length_s: Split longer recordings into chunks of this many seconds (0: no chunking).
        allow_pickle: Load weights stored only as pickles (``pytorch_model.bin``), which could run code.
            Off by default: only ``model.safetensors`` is loaded.
    """

    requires = ("transformers", "torch")
    extra = "transformers"

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        language: str | None = None,
        dtype: str = "float32",
        local_files_only: bool = True,
        generate_kwargs: dict[str, Any] | None = None,
        chunk_length_s: float = 0.0,
        allow_pickle: bool = False,
    ) -> None:
        if dtype not in ("float32", "float16", "bfloat16"):
            raise ConfigError(f"dtype must be float32, float16 or bfloat16, got {dtype!r}.")
        self.model = str(model)
        self.device = device
        self.language = normalise_language(language)
        self.dtype = dtype
        self.local_files_only = bool(local_files_only)
        self.generate_kwargs = dict(generate_kwargs or {})
        self.chunk_length_s = float(chunk_length_s)
        self.allow_pickle = bool(allow_pickle)
        path = Path(self.model).expanduser()
        self.name = f"transformers/{path.name if path.exists() else self.model}"

    def _load(self) -> Any:
        path, source = model_source(
            self.model,
            self.local_files_only,
            f"No model folder at {self.model!r}. Pass a local transformers ASR folder (make one from the packaged "
            "whisper weights with emotionlayer.encoders.convert.convert_ct2_to_transformers('tiny.en', DIR)), "
            "or set local_files_only=False to fetch a hub model.",
        )
        check_weights_folder(path, "a transformers ASR model", self.allow_pickle)
        key = (source, self.device, self.dtype)

        def load() -> Any:
            import torch
            from transformers import pipeline

            logger.info("Loading transformers ASR pipeline from %s on %s", source, self.device)
            try:
                return pipeline(
                    "automatic-speech-recognition",
                    model=source,
                    device=self.device,
                    dtype=getattr(torch, self.dtype),
                    model_kwargs={} if self.allow_pickle else {"use_safetensors": True},
                )
            except OSError as exc:
                raise ModelNotFoundError(
                    f"transformers could not load an ASR model from {source!r} ({exc}). The folder needs the model "
                    "weights, config.json and the processor files (tokenizer and feature extractor)."
                ) from exc

        return _CACHE.get(key, load)

    @property
    def is_whisper(self) -> bool:
        """Whether the loaded model is a whisper (encoder-decoder) model."""
        return getattr(self._load().model.config, "model_type", "") == "whisper"

    def warmup(self) -> None:
        """Load the pipeline."""
        self._load()

    def transcribe(self, audio: Audio, language: str | None = None) -> Transcript:
        """Transcribe one turn.

        Args:
            audio: The speech, at any sample rate (resampled to 16 kHz).
            language: Language code for whisper models; ``None`` uses the constructor's, else detection.

        Returns:
            The text, the language if known, and this backend's ``name``.
        """
        samples = to_16k(audio)
        pipe = self._load()
        lang = normalise_language(language) or self.language
        kwargs: dict[str, Any] = {}
        if self.is_whisper:
            generation = pipe.model.generation_config
            multilingual = bool(getattr(generation, "is_multilingual", pipe.model.config.vocab_size >= 51865))
            check_english_only(self.model, multilingual, lang)
            generate_kwargs = dict(self.generate_kwargs)
            if multilingual:
                generate_kwargs.setdefault("task", "transcribe")
                if lang:
                    generate_kwargs["language"] = lang
            else:
                lang = "en"
            kwargs["generate_kwargs"] = generate_kwargs
        if self.chunk_length_s > 0:
            kwargs["chunk_length_s"] = self.chunk_length_s
        result = pipe({"raw": samples, "sampling_rate": SAMPLE_RATE}, **kwargs)
        text = str(result.get("text", "")).strip()
        return Transcript(text=text, language=lang, model=self.name)
