"""eSpeak NG: a small formant synthesiser with 100+ languages and exact control of pitch and rate.

It sounds robotic next to piper, but it speaks almost any language (``voice="cmn"``, ``"de"``,
``"fr"``...) and moves pitch, rate and intonation range natively. It is driven through the
libespeak-ng C API with ctypes, from either

* the ``espeakng-loader`` wheel, which bundles libespeak-ng and its data (``pip install
  "emotionlayer[espeak]"``, no root needed), or
* the system library of Debian's ``espeak-ng`` package (``apt-get install espeak-ng``).

Speaking styles map onto eSpeak's own parameters: ``rate`` -> words per minute, ``pitch_semitones`` ->
base pitch (through a measured calibration table, :data:`PITCH_CALIBRATION`),
``emotion`` -> intonation range (lively for happy/surprised/angry, flat for sad/calm), ``volume`` -> gain.
With ``ssml=True`` the text may carry SSML such as ``<prosody pitch="+20%">``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import logging
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import BackendError, ConfigError, MissingDependencyError
from ...labels import canonical
from ...registry import register
from ...text import split_sentences
from ...types import SpeakingStyle
from .common import EventRenderer, SentenceSynthesizer, StyleLimits

logger = logging.getLogger(__name__)

# espeak_AUDIO_OUTPUT, espeak_PARAMETER and flag values from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 2, 3, 4
_CHARS_UTF8 = 0x01
_SSML = 0x10
_EE_OK = 0

#: eSpeak's default speaking rate, in words per minute.
DEFAULT_WPM = 175
#: eSpeak's default base pitch parameter (0-100).
DEFAULT_PITCH = 50
#: Measured (pitch parameter, median F0 in semitones relative to parameter 50) of the en-us voice with
#: librosa.pyin on two sentences (they agreed within 0.3 st). eSpeak's pitch parameter is not linear in
#: semitones (about 7 steps per semitone below 50 and 5.5 above), so styles are mapped through this table.
PITCH_CALIBRATION: tuple[tuple[int, float], ...] = (
    (10, -6.1),
    (20, -4.7),
    (30, -3.3),
    (40, -1.7),
    (50, 0.0),
    (60, 1.7),
    (70, 3.6),
    (80, 5.4),
    (90, 7.4),
    (100, 9.15),
)
#: Intonation range (0-100, eSpeak default 50) used for each emotion.
EMOTION_RANGE: dict[str, int] = {
    "neutral": 50,
    "calm": 35,
    "happy": 75,
    "sad": 25,
    "angry": 70,
    "fearful": 60,
    "disgusted": 40,
    "surprised": 85,
}

_LOCK = threading.Lock()
_INIT_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def find_library() -> tuple[str, str | None] | None:
    """Where libespeak-ng is: ``(library_path, data_path or None)``, or ``None`` if nowhere.

    The ``espeakng-loader`` wheel is preferred (it ships matching data); then the system library.
    """
    if importlib.util.find_spec("espeakng_loader") is not None:
        import espeakng_loader

        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    system = ctypes.util.find_library("espeak-ng")
    if system:
        return system, None
    return None


def _library() -> tuple[Any, int]:
    """The initialised libespeak-ng and its sample rate (once per process)."""
    with _INIT_LOCK:
        if "lib" not in _STATE:
            _initialise()
    return _STATE["lib"], _STATE["sample_rate"]


def _initialise() -> None:
    found = find_library()
    if found is None:
        raise MissingDependencyError("espeakng-loader", "espeak", purpose="the espeak-ng TTS backend")
    path, data = found
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise BackendError(
            f"Could not load libespeak-ng from {path} ({exc}). Reinstall it: pip install --force-reinstall "
            "espeakng-loader, or apt-get install espeak-ng."
        ) from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint),
        ctypes.c_void_p,
    ]
    sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode() if data else None, 0)
    if sample_rate <= 0:
        raise BackendError(
            f"libespeak-ng at {path} failed to initialise (data folder {data or 'the system default'}). "
            "Reinstall espeakng-loader or the espeak-ng-data package."
        )
    chunks: list[np.ndarray] = []

    def on_audio(wav: Any, count: int, events: Any) -> int:
        if count > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).astype(np.float32) / 32768.0)
        return 0

    callback = _CALLBACK_TYPE(on_audio)
    lib.espeak_SetSynthCallback(callback)
    _STATE.update(lib=lib, sample_rate=int(sample_rate), chunks=chunks, callback=callback, path=path)


@register("tts", "espeak-ng")
class EspeakTTS(SentenceSynthesizer):
    """eSpeak NG formant voice: any of its 100+ languages, native pitch, rate and intonation range.

    Args:
        voice: eSpeak voice name, e.g. ``"en-us"``, ``"en-gb"``, ``"cmn"``, ``"de"``, or with a variant
            ``"en-us+f3"``.
        base_rate_wpm: Speaking rate of a neutral style, in words per minute.
        base_pitch: eSpeak pitch parameter (10-100, default 50) of a neutral style.
        ssml: Treat the text as SSML (``<prosody>``, ``<break>``, ``<emphasis>`` ...).
        event_renderer: Optional ``(label, context_audio, sample_rate) -> np.ndarray | None`` supplying the
            audio of tags such as ``[laugh]``; without it they are dropped with a logged note.
        pause_seconds: Length of a bare ``[pause]``.
        sentence_silence: Silence between sentences, in seconds.
    """

    requires = ()
    extra = "espeak"
    limits = StyleLimits(rate=(0.45, 2.5), pitch_semitones=(-6.0, 9.0), volume=(0.0, 2.0))

    def __init__(
        self,
        voice: str = "en-us",
        base_rate_wpm: int = DEFAULT_WPM,
        base_pitch: int = DEFAULT_PITCH,
        ssml: bool = False,
        event_renderer: EventRenderer | None = None,
        pause_seconds: float = 0.5,
        sentence_silence: float = 0.12,
    ) -> None:
        super().__init__(event_renderer=event_renderer, pause_seconds=pause_seconds, sentence_silence=sentence_silence)
        if not voice or not isinstance(voice, str):
            raise ConfigError("voice must be an eSpeak voice name such as 'en-us' or 'cmn'.")
        if not 80 <= int(base_rate_wpm) <= 450:
            raise ConfigError(f"base_rate_wpm must be within 80..450 words per minute; got {base_rate_wpm}.")
        if not 10 <= int(base_pitch) <= 100:
            raise ConfigError(f"base_pitch must be within 10..100; got {base_pitch}.")
        self.voice = voice
        self.base_rate_wpm = int(base_rate_wpm)
        self.base_pitch = int(base_pitch)
        self.ssml = bool(ssml)
        self.name = f"espeak-ng:{voice}"
        self._voice_checked = False

    @classmethod
    def check_usable(cls) -> str | None:
        """Why eSpeak NG cannot run here, or ``None``."""
        if find_library() is None:
            return (
                'libespeak-ng not found. Install it with: pip install "emotionlayer[espeak]" '
                "(espeakng-loader), or apt-get install espeak-ng."
            )
        return None

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        """eSpeak's output rate (22050 Hz)."""
        return _library()[1]

    def warmup(self) -> None:
        """Load libespeak-ng and check the voice exists."""
        self._speak("Hi.", self.parameters(SpeakingStyle()))

    def parameters(self, style: SpeakingStyle) -> dict[str, int]:
        """The eSpeak parameters (``rate`` wpm, ``pitch`` 0-100, ``range`` 0-100) for a resolved style."""
        params, semitones = zip(*PITCH_CALIBRATION, strict=True)
        base = float(np.interp(self.base_pitch, params, semitones))
        wanted = base + style.pitch_semitones
        if not semitones[0] <= wanted <= semitones[-1]:
            self._note(
                f"style {style.name!r}: pitch {style.pitch_semitones:+g} st from base_pitch {self.base_pitch} is "
                "beyond "
                f"what eSpeak can reach ({semitones[0] - base:+.1f}..{semitones[-1] - base:+.1f} st); clamped"
            )
        pitch = float(np.interp(wanted, semitones, params))
        try:
            emotion = canonical(style.emotion)
        except ConfigError:
            emotion = "neutral"
            self._note(f"style {style.name!r}: unknown emotion {style.emotion!r}; using a neutral intonation range")
        return {
            "rate": int(round(min(max(self.base_rate_wpm * style.rate, 80), 450))),
            "pitch": int(round(pitch)),
            "range": EMOTION_RANGE[emotion],
        }

    def _speak(self, text: str, params: dict[str, int]) -> np.ndarray:
        lib, _ = _library()
        with _LOCK:
            if lib.espeak_SetVoiceByName(self.voice.encode()) != _EE_OK:
                raise ConfigError(
                    f"eSpeak has no voice {self.voice!r}. Use a name from `espeak-ng --voices`, e.g. en-us, en-gb, "
                    "cmn, de, fr, es."
                )
            lib.espeak_SetParameter(_ESPEAK_RATE, params["rate"], 0)
            lib.espeak_SetParameter(_ESPEAK_PITCH, params["pitch"], 0)
            lib.espeak_SetParameter(_ESPEAK_RANGE, params["range"], 0)
            lib.espeak_SetParameter(_ESPEAK_VOLUME, 100, 0)
            chunks: list[np.ndarray] = _STATE["chunks"]
            chunks.clear()
            data = text.encode("utf-8") + b"\0"
            flags = _CHARS_UTF8 | (_SSML if self.ssml else 0)
            status = lib.espeak_Synth(data, len(data), 0, 0, 0, flags, None, None)
            lib.espeak_Synchronize()
            if status != _EE_OK:
                raise BackendError(f"eSpeak failed to synthesise the text (error {status}).")
            samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
            chunks.clear()
        return samples.astype(np.float32)

    def _synthesize_text(self, text: str, style: SpeakingStyle) -> Iterator[np.ndarray]:
        params = self.parameters(style)
        sentences = [text] if self.ssml else split_sentences(text)
        for sentence in sentences:
            samples = self._speak(sentence, params)
            if samples.size:
                yield samples
