"""openai-whisper ASR: the reference implementation, offline with checkpoints converted from packaged weights."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ...errors import ConfigError, ModelNotFoundError
from ...registry import register
from ...types import Audio, Transcript
from ._common import ModelCache, check_english_only, normalise_language, to_16k

logger = logging.getLogger(__name__)

_CACHE = ModelCache()


def packaged_checkpoint(name: str, cache: str | Path | None = None) -> Path:
    """An openai-whisper checkpoint made from the packaged CTranslate2 weights of ``name`` (converted once).

    Args:
        name: ``"tiny.en"`` or ``"base"``.
        cache: Folder for the converted ``.pt`` files; defaults to ``<emotionlayer cache>/openai-whisper``.

    Returns:
        The path of ``<cache>/<name>-from-ct2.pt``, ready for ``whisper.load_model(path)``.
    """
    from ...assets import cache_dir, whisper_ct2_dir
    from ...encoders.convert import convert_ct2_to_openai_whisper

    source = whisper_ct2_dir(name)  # raises ModelNotFoundError with the pip command if missing
    folder = Path(cache).expanduser() if cache else cache_dir() / "openai-whisper"
    target = folder / f"{name}-from-ct2.pt"
    model_bin = source / "model.bin"
    if not target.is_file() or target.stat().st_mtime < model_bin.stat().st_mtime:
        logger.info("Converting the packaged whisper %s weights to an openai-whisper checkpoint at %s", name, target)
        convert_ct2_to_openai_whisper(source, target)
    return target


@register("asr", "openai-whisper")
class OpenAIWhisperASR:
    """The reference openai-whisper package; loads a checkpoint by name or path, audio passed as arrays.

    Model resolution, in order: an existing ``.pt`` path; ``<download_root>/<name>.pt`` if already
    downloaded; for ``"tiny.en"`` and ``"base"``, a checkpoint converted once from the packaged
    CTranslate2 weights (no network); else a download by openai-whisper, only if ``allow_download``.

    Args:
        model: A whisper model name (``"tiny.en"``, ``"base"``, ``"small"``...) or a checkpoint path.
        device: ``"cpu"`` or ``"cuda"``.
        download_root: Where openai-whisper keeps downloaded checkpoints (its default: ``~/.cache/whisper``).
        language: Default language code; ``None`` detects it (multilingual models).
        beam_size: Beam width; ``None`` is greedy decoding.
        temperature: Sampling temperature; 0 is deterministic.
        fp16: Half-precision inference (GPU only).
        allow_download: Let openai-whisper download a checkpoint that is not available locally.
    """

    requires = ("whisper", "torch")
    extra = "whisper"

    def __init__(
        self,
        model: str = "tiny.en",
        device: str = "cpu",
        download_root: str | None = None,
        language: str | None = None,
        beam_size: int | None = None,
        temperature: float = 0.0,
        fp16: bool = False,
        allow_download: bool = False,
    ) -> None:
        if beam_size is not None and beam_size < 1:
            raise ConfigError(f"beam_size must be at least 1 (or None for greedy decoding), got {beam_size}.")
        self.model = str(model)
        self.device = device
        self.download_root = download_root
        self.language = normalise_language(language)
        self.beam_size = beam_size
        self.temperature = float(temperature)
        self.fp16 = bool(fp16)
        self.allow_download = bool(allow_download)
        label = Path(self.model).stem if self.model.endswith(".pt") else self.model
        self.name = f"openai-whisper/{label}"

    def _checkpoint(self) -> str:
        import whisper

        from ...assets import packaged_whisper_models

        path = Path(self.model).expanduser()
        if path.is_file():
            return str(path)
        if self.model not in whisper.available_models():
            raise ModelNotFoundError(
                f"No whisper checkpoint file {self.model!r} and no model of that name. Pass a .pt path or one "
                f"of: {', '.join(whisper.available_models())}."
            )
        root = Path(self.download_root or Path.home() / ".cache" / "whisper").expanduser()
        downloaded = root / f"{self.model}.pt"
        if downloaded.is_file():
            return self.model  # load_model checks its SHA256 and uses it
        if self.model in packaged_whisper_models():
            return str(packaged_checkpoint(self.model))
        if self.allow_download:
            return self.model
        raise ModelNotFoundError(
            f"The whisper checkpoint {self.model!r} is not in {root} and downloads are off. Pass "
            "allow_download=True (needs network), put the file there, or use a packaged model: "
            f"{', '.join(packaged_whisper_models())}."
        )

    def _load(self) -> Any:
        checkpoint = self._checkpoint()
        key = (checkpoint, self.device, self.download_root)

        def load() -> Any:
            import whisper

            logger.info("Loading openai-whisper %s on %s", checkpoint, self.device)
            return whisper.load_model(checkpoint, device=self.device, download_root=self.download_root)

        return _CACHE.get(key, load)

    def warmup(self) -> None:
        """Load the model (converting packaged weights on first use)."""
        self._load()

    def transcribe(self, audio: Audio, language: str | None = None) -> Transcript:
        """Transcribe one turn (audio is passed as an array: no ffmpeg needed).

        Args:
            audio: The speech, at any sample rate.
            language: Language code for this call; ``None`` uses the constructor's or detects it.

        Returns:
            The text, the language (given or detected), this backend's ``name`` and whisper's no-speech
            probability (the lowest over the segments; ``None`` when there are none).
        """
        samples = to_16k(audio)
        model = self._load()
        lang = normalise_language(language) or self.language
        check_english_only(self.model, bool(model.is_multilingual), lang)
        options: dict[str, Any] = {"fp16": self.fp16 and self.device != "cpu"}
        if self.beam_size is not None:
            options["beam_size"] = self.beam_size
        result = model.transcribe(
            samples,
            language=lang,
            temperature=self.temperature,
            condition_on_previous_text=False,
            without_timestamps=True,
            verbose=None,
            **options,
        )
        text = str(result.get("text", "")).strip()
        no_speech = min((float(seg["no_speech_prob"]) for seg in result.get("segments") or () if "no_speech_prob" in seg), default=None)
        return Transcript(text=text, language=result.get("language") or lang, model=self.name, no_speech_prob=no_speech)

    def detect_language(self, audio: Audio) -> dict[str, float]:
        """Probability of each language (multilingual models), most probable first."""
        import whisper

        model = self._load()
        if not model.is_multilingual:
            raise ConfigError(f"The whisper model {self.model!r} is English-only; use a multilingual one such as 'base'.")
        samples = whisper.pad_or_trim(to_16k(audio))
        mel = whisper.log_mel_spectrogram(samples, model.dims.n_mels).to(model.device)
        _, probs = model.detect_language(mel)
        return {code: float(p) for code, p in sorted(probs.items(), key=lambda kv: -kv[1])}
