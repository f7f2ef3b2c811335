"""The event bank: per-label folders of clips of paralinguistic sounds, rendered to fit the speech around them.

The bank shipped in the package (``emotionlayer/assets/events/<label>/``) holds real breath and cough
recordings from Project Coswara (CC BY 4.0, see ``emotionlayer/assets/events/NOTICE.md``) and sounds
emotionlayer synthesises itself for laugh, sigh, gasp, throat clearing and tsk
(:mod:`emotionlayer.paralinguistics.synthesis`). User folders laid out the same way override or extend it.

:meth:`EventBank.render` scales a clip to the loudness of the neighbouring speech (and, for voiced
synthetic events, picks one that matches its pitch); :meth:`EventBank.renderer` wraps that as a TTS
``event_renderer``.

Example:
    >>> from emotionlayer.paralinguistics.bank import EventBank
    >>> bank = EventBank()
    >>> samples = bank.render("laugh", None, 16000)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..types import Audio
from .dsp import active_level_db, estimate_f0, trim_silence

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_BANK_DIR",
    "DEFAULT_SPEECH_LEVEL_DB",
    "EVENT_LABELS",
    "RELATIVE_LEVEL_DB",
    "EventBank",
    "EventClip",
]

#: Where the packaged bank lives.
DEFAULT_BANK_DIR = Path(__file__).resolve().parent.parent / "assets" / "events"

#: Every label the bank can render (``pause`` is silence and needs no clips).
EVENT_LABELS: tuple[str, ...] = ("laugh", "sigh", "gasp", "throat_clearing", "tsk", "cough", "breath")

#: Level of each event relative to the active level of the speech around it, in dB. Chosen by ear from
#: how loud these sounds are in conversation: a cough or laugh about as loud as speech, a breath quieter.
RELATIVE_LEVEL_DB: dict[str, float] = {
    "laugh": -2.0,
    "sigh": -8.0,
    "gasp": -8.0,
    "throat_clearing": -4.0,
    "tsk": -8.0,
    "cough": -1.0,
    "breath": -12.0,
}

#: Active level assumed when there is no speech to match (an utterance made only of tags), in dBFS.
DEFAULT_SPEECH_LEVEL_DB = -20.0

#: File types read as clips when a bank folder is scanned.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
_SKIP_FOLDERS = {"detector"}  # the packaged detector model lives next to the clip folders

#: Labels whose synthetic clips are voiced, so they can be matched in pitch to the speech around them.
_VOICED = frozenset({"laugh", "sigh", "throat_clearing"})


@dataclass(frozen=True)
class EventClip:
    """One clip in an event bank.

    Attributes:
        label: The event it is an example of.
        path: Where it is stored.
        f0: Base pitch it was synthesised with (Hz), for voiced synthetic clips; ``None`` otherwise.
        synthetic: Whether emotionlayer made it (rather than it being a recording).
        source: Where it came from (``packaged`` or the user folder).
    """

    label: str
    path: str
    f0: float | None = None
    synthetic: bool = False
    source: str = "packaged"


_CLIP_CACHE: dict[tuple[str, int], np.ndarray] = {}


def _read_clip(path: str, sample_rate: int) -> np.ndarray:
    key = (path, sample_rate)
    if key not in _CLIP_CACHE:
        from ..audio import load_audio

        # check=False: a tongue click is shorter than the 100 ms minimum of speech input.
        audio = load_audio(path, sample_rate, max_seconds=30.0, check=False)
        if audio.samples.size == 0 or not np.all(np.isfinite(audio.samples)):
            raise ConfigError(f"Event clip {path} is empty or holds invalid samples. Remove or replace it.")
        samples = trim_silence(audio.samples, sample_rate, threshold_db=45.0)
        samples = samples - float(np.mean(samples))
        fade = min(int(0.005 * sample_rate), len(samples) // 4)
        if fade > 0:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            samples = samples.copy()
            samples[:fade] *= ramp
            samples[-fade:] *= ramp[::-1]
        _CLIP_CACHE[key] = samples.astype(np.float32)
    return _CLIP_CACHE[key]


def _scan_folder(root: Path, source: str) -> dict[str, list[EventClip]]:
    found: dict[str, list[EventClip]] = {}
    if not root.is_dir():
        return found
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in _SKIP_FOLDERS):
        meta: dict[str, Any] = {}
        meta_file = folder / "synth.json"
        if meta_file.is_file():
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        clips = []
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in AUDIO_SUFFIXES and not file.name.startswith("."):
                info = meta.get(file.name, {})
                clips.append(
                    EventClip(folder.name, str(file), info.get("f0"), bool(info.get("synthetic", False)), source)
                )
        if clips:
            found[folder.name] = clips
    return found


class EventBank:
    """Per-label folders of event clips, the packaged ones plus any the user supplies.

    A bank folder holds one sub-folder per label (``laugh/``, ``cough/``, ...) with WAV/FLAC/OGG/MP3
    clips, each holding one event with little silence around it.

    Args:
        folders: User bank folders laid out as above, searched in order.
        include_packaged: Start from the bank shipped in the package.
        mode: ``"override"``: a label a user folder provides replaces the packaged clips of that label;
            ``"extend"``: user clips are added to the packaged ones.
        seed: Seed of the random choice of clips (the same seed renders the same clips).
        match_pitch: For voiced synthetic clips (laugh, sigh, throat clearing), prefer the ones whose
            pitch is nearest to that of the surrounding speech.

    Raises:
        ConfigError: a folder does not exist, or the bank ends up with no clips at all.
    """

    def __init__(
        self,
        folders: Sequence[str | os.PathLike] | str | os.PathLike = (),
        include_packaged: bool = True,
        mode: str = "override",
        seed: int = 0,
        match_pitch: bool = True,
    ) -> None:
        if mode not in ("override", "extend"):
            raise ConfigError(f"EventBank mode must be 'override' or 'extend', not {mode!r}.")
        if isinstance(folders, (str, os.PathLike)):
            folders = [folders]
        self.mode = mode
        self.match_pitch = match_pitch
        self.rng = np.random.default_rng(seed)
        self._clips: dict[str, list[EventClip]] = _scan_folder(DEFAULT_BANK_DIR, "packaged") if include_packaged else {}
        replaced: set[str] = set()
        for folder in folders:
            root = Path(folder).expanduser()
            if not root.is_dir():
                raise ConfigError(
                    f"Event bank folder {root} does not exist. A bank folder holds one sub-folder per label "
                    "(laugh/, sigh/, cough/, ...) of WAV or FLAC clips."
                )
            user = _scan_folder(root, str(root))
            if not user:
                raise ConfigError(
                    f"Event bank folder {root} has no clips. Put clips in sub-folders named by label, "
                    f"e.g. {root}/laugh/my_laugh.wav."
                )
            for label, clips in user.items():
                if mode == "override" and label not in replaced:
                    self._clips[label] = []
                    replaced.add(label)
                self._clips.setdefault(label, []).extend(clips)
        if not self._clips:
            raise ConfigError(
                "The event bank is empty: the packaged bank was excluded and no user folder was given. "
                "Pass folders=['path/to/bank'] or include_packaged=True."
            )

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels that have at least one clip, sorted."""
        return tuple(sorted(label for label, clips in self._clips.items() if clips))

    def clips(self, label: str) -> list[EventClip]:
        """The clips of ``label`` (empty if the bank has none)."""
        return list(self._clips.get(label, ()))

    def __len__(self) -> int:
        return sum(len(c) for c in self._clips.values())

    def __repr__(self) -> str:
        counts = ", ".join(f"{label}={len(self._clips[label])}" for label in self.labels)
        return f"EventBank({counts})"

    def choose(self, label: str, f0: float | None = None, rng: np.random.Generator | None = None) -> EventClip:
        """Pick a clip of ``label`` at random (among those nearest in pitch to ``f0`` when given).

        Raises:
            ConfigError: the bank has no clip of ``label``.
        """
        clips = self._clips.get(label)
        if not clips:
            raise ConfigError(
                f"The event bank has no {label!r} clips. Labels with clips: {', '.join(self.labels)}. "
                f"Add a folder {label}/ of clips to a user bank (EventBank(folders=[...]))."
            )
        rng = rng or self.rng
        pitched = [c for c in clips if c.f0]
        if self.match_pitch and f0 and len(pitched) == len(clips):
            distance = np.array([abs(12.0 * np.log2(c.f0 / f0)) for c in clips])  # semitones
            near = [c for c, d in zip(clips, distance, strict=False) if d <= max(3.0, float(distance.min()))]
            clips = near
        return clips[int(rng.integers(len(clips)))]

    def render(
        self,
        label: str,
        context: np.ndarray | Audio | None,
        sample_rate: int,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Audio of one ``label`` event, ready to insert next to ``context`` speech.

        The clip is resampled to ``sample_rate``, trimmed to the event, and scaled so that its active
        level sits :data:`RELATIVE_LEVEL_DB` below (or at) the active level of ``context``.

        Args:
            label: The event label.
            context: The neighbouring speech (samples at ``sample_rate`` or an :class:`Audio`); empty or
                ``None`` uses a default speech level of -20 dBFS.
            sample_rate: Rate of the returned samples.
            rng: Random generator for the clip choice (defaults to the bank's own).
        """
        if isinstance(context, Audio):
            context = context.resample(sample_rate).samples
        context = np.zeros(0, np.float32) if context is None else np.asarray(context, dtype=np.float32).reshape(-1)
        speech_level = active_level_db(context, sample_rate) if context.size else None
        f0 = None
        if self.match_pitch and label in _VOICED and context.size:
            f0 = estimate_f0(context, sample_rate)
        clip = self.choose(label, f0, rng)
        samples = _read_clip(clip.path, sample_rate).copy()
        level = active_level_db(samples, sample_rate)
        if level is None:
            raise ConfigError(f"Event clip {clip.path} is silent. Remove it from the bank or replace it.")
        target = (speech_level if speech_level is not None else DEFAULT_SPEECH_LEVEL_DB) + RELATIVE_LEVEL_DB.get(
            label, -6.0
        )
        samples *= 10 ** ((target - level) / 20.0)
        peak = float(np.max(np.abs(samples)))
        if peak > 0.95:
            samples *= 0.95 / peak
        return samples.astype(np.float32)

    def renderer(self, seed: int | None = None) -> Callable[[str, np.ndarray, int], np.ndarray | None]:
        """A TTS ``event_renderer``: ``(label, context_audio, sample_rate) -> samples or None``.

        Pass it to a TTS backend (``registry.create("tts", "piper", event_renderer=bank.renderer())``) so
        that tags in the text it speaks are rendered with this bank. Labels the bank has no clips for
        give ``None`` (the backend drops the tag and logs it).
        """
        rng = np.random.default_rng(seed) if seed is not None else self.rng

        def render(label: str, context_audio: np.ndarray, sample_rate: int) -> np.ndarray | None:
            if label not in self._clips:
                return None
            return self.render(label, context_audio, sample_rate, rng)

        return render
