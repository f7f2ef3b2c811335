"""openai-whisper ASR: the reference implementation, offline with the packaged weights built in memory.

openai-whisper's own checkpoints (``.pt``) are pickles, which emotionlayer does not load unless told to
(``allow_pickle=True``). The packaged models (``tiny.en``, ``base``) need none: their CTranslate2 weights
are mapped onto openai-whisper's ``Whisper`` module in memory, and no file is written.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ...errors import ConfigError, ModelNotFoundError, UnsafeFileError
from ...files import check_not_pickle
from ...registry import register
from ...types import Audio, Transcript
from ._common import TURN_DECODING, ModelCache, check_english_only, normalise_language, to_16k, whisper_transcript

logger = logging.getLogger(__name__)

_CACHE = ModelCache()
_PACKAGED = "packaged:"


def packaged_model(name: str, device: str = "cpu") -> Any:
    """An openai-whisper ``Whisper`` model built in memory from the packaged CTranslate2 weights of ``name``.

    Args:
        name: ``"tiny.en"`` or ``"base"``.
        device: torch device.

    Raises:
        ModelNotFoundError: the package holding the weights is not installed (the message says which).
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    from ...assets import whisper_ct2_dir
    from ...encoders.convert import openai_whisper_state_dict
    from ...encoders.ctranslate2 import read_ctranslate2_model

    _, variables = read_ctranslate2_model(whisper_ct2_dir(name))
    dims, state = openai_whisper_state_dict(variables)
    model = Whisper(ModelDimensions(**asdict(dims)))
    model.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    return model.to(device)


@register("asr", "openai-whisper")
class OpenAIWhisperASR:
    """The reference openai-whisper package; loads a checkpoint by name or path, audio passed as arrays.

    Model resolution, in order: an existing ``.pt`` path; for ``"tiny.en"`` and ``"base"``, the packaged
    CTranslate2 weights, built into the model in memory (no network, no file); ``<download_root>/<name>.pt``
    if already downloaded; else a download by openai-whisper, only if ``allow_download``. A ``.pt``
    checkpoint (a path, or a downloaded one) is a pickle and is loaded only with ``allow_pickle=True``.

    Args:
        model: A whisper model name (``"tiny.en"``, ``"base"``, ``"small"``...) or a checkpoint path.
        device: ``"cpu"`` or ``"cuda"``.
        download_root: Where openai-whisper keeps downloaded checkpoints (its default: ``~/.cache/whisper``).
        language: Default language code; ``None`` detects it (multilingual models).
        beam_size: Beam width; ``None`` is greedy decoding.
        temperature: Sampling temperature; 0 is deterministic.
        fp16: Half-precision inference (GPU only).
        allow_download: Let openai-whisper download a checkpoint that is not available locally.
        allow_pickle: Load ``.pt`` checkpoints (pickles, which could run code) you trust.
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
        allow_pickle: bool = False,
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
        self.allow_pickle = bool(allow_pickle)
        label = Path(self.model).stem if self.model.endswith(".pt") else self.model
        self.name = f"openai-whisper/{label}"

    def _checkpoint(self) -> str:
        """What to load: a checkpoint path or name for ``whisper.load_model``, or ``packaged:<name>``."""
        import whisper

        from ...assets import packaged_whisper_models

        fix = "Use a packaged model (model='tiny.en' or 'base'), or pass allow_pickle=True if you trust the file."
        path = Path(self.model).expanduser()
        if path.is_file():
            check_not_pickle(path, "an openai-whisper checkpoint", fix, self.allow_pickle)
            return str(path)
        if self.model not in whisper.available_models():
            raise ModelNotFoundError(
                f"No whisper checkpoint file {self.model!r} and no model of that name. Pass a .pt path or one "
                f"of: {', '.join(whisper.available_models())}."
            )
        root = Path(self.download_root or Path.home() / ".cache" / "whisper").expanduser()
        downloaded = root / f"{self.model}.pt"
        if self.model in packaged_whisper_models() and not (self.allow_pickle and downloaded.is_file()):
            return _PACKAGED + self.model
        if downloaded.is_file():
            check_not_pickle(downloaded, "a downloaded openai-whisper checkpoint", fix, self.allow_pickle)
            return self.model  # load_model checks its SHA256 and uses it
        if self.allow_download:
            if not self.allow_pickle:
                raise UnsafeFileError(
                    f"openai-whisper would download {self.model!r} as a .pt checkpoint, a Python pickle: loading it "
                    f"could run any code it holds, so emotionlayer does not load it. {fix}"
                )
            return self.model
        raise ModelNotFoundError(
            f"The whisper checkpoint {self.model!r} is not in {root} and downloads are off. Pass "
            "allow_download=True and allow_pickle=True (needs network; openai's checkpoints are pickles), put the "
            f"file there, or use a packaged model: {', '.join(packaged_whisper_models())}."
        )

    def _load(self) -> Any:
        checkpoint = self._checkpoint()
        key = (checkpoint, self.device, self.download_root)

        def load() -> Any:
            logger.info("Loading openai-whisper %s on %s", checkpoint, self.device)
            if checkpoint.startswith(_PACKAGED):
                return packaged_model(checkpoint[len(_PACKAGED) :], self.device)
            import whisper

            return whisper.load_model(checkpoint, device=self.device, download_root=self.download_root)

        return _CACHE.get(key, load)

    def warmup(self) -> None:
        """Load the model (building packaged weights on first use)."""
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
            verbose=None,
            **TURN_DECODING,
            **options,
        )
        return whisper_transcript(
            str(result.get("text", "")),
            result.get("language") or lang,
            self.name,
            (seg["no_speech_prob"] for seg in result.get("segments") or () if "no_speech_prob" in seg),
        )

    def detect_language(self, audio: Audio) -> dict[str, float]:
        """Probability of each language (multilingual models), most probable first."""
        import whisper

        model = self._load()
        if not model.is_multilingual:
            raise ConfigError(
                f"The whisper model {self.model!r} is English-only; use a multilingual one such as 'base'."
            )
        samples = whisper.pad_or_trim(to_16k(audio))
        mel = whisper.log_mel_spectrogram(samples, model.dims.n_mels).to(model.device)
        _, probs = model.detect_language(mel)
        return {code: float(p) for code, p in sorted(probs.items(), key=lambda kv: -kv[1])}
