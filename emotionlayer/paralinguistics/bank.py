"""Paralinguistic speech: text with tags such as ``[laugh]`` becomes speech with the event audio inserted.

The sounds come from an :class:`EventBank`: per-label folders of clips. The bank shipped in the package
(``emotionlayer/assets/events/<label>/``) holds real breath and cough recordings from Project Coswara
(CC BY 4.0, see ``emotionlayer/assets/events/NOTICE.md``) and sounds emotionlayer synthesises itself
for laugh, sigh, gasp, throat clearing and tsk (:mod:`emotionlayer.data.event_synth`). User folders laid
out the same way override or extend it.

:func:`synthesize_with_events` speaks each run of words with a TTS and inserts an event clip where a tag
stands, at the word boundary, scaled to the loudness of the neighbouring speech (and, for voiced synthetic
events, picked to match its pitch). Since the insertion is known, each event's start and end are exact.
:func:`build_dataset` writes many such utterances with a ``manifest.jsonl`` listing their events.

Example:
    >>> from emotionlayer import registry
    >>> from emotionlayer.data.paralinguistic import EventBank, synthesize_with_events
    >>> tts = registry.create("tts", "piper")
    >>> audio, events = synthesize_with_events("Well [laugh] that was fun.", tts, EventBank())
    >>> [(e.label, round(e.start, 2), round(e.end, 2)) for e in events]   # doctest: +SKIP
    [('laugh', 0.52, 1.61)]
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..types import Audio, Event, SpeakingStyle

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_BANK_DIR",
    "EVENT_LABELS",
    "RELATIVE_LEVEL_DB",
    "EventBank",
    "EventClip",
    "active_level_db",
    "build_dataset",
    "estimate_f0",
    "event_renderer",
    "synthesize_with_events",
    "trim_silence",
    "varied_styles",
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

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
_SKIP_FOLDERS = {"detector"}


def _frame_levels(samples: np.ndarray, sample_rate: int, frame_seconds: float = 0.02) -> np.ndarray:
    frame = max(int(frame_seconds * sample_rate), 1)
    usable = len(samples) // frame * frame
    if usable == 0:
        return np.array([float(np.mean(np.square(samples, dtype=np.float64)))]) if samples.size else np.zeros(0)
    return np.mean(np.square(samples[:usable].reshape(-1, frame), dtype=np.float64), axis=1)


def active_level_db(samples: np.ndarray, sample_rate: int, floor_db: float = 35.0) -> float | None:
    """RMS level (dBFS) over the frames within ``floor_db`` of the loudest one, or ``None`` if silent.

    This is the level of the sound itself, not diluted by the pauses around it.
    """
    power = _frame_levels(np.asarray(samples, dtype=np.float32), sample_rate)
    if power.size == 0 or float(power.max()) < 1e-10:
        return None
    active = power[power >= power.max() * 10 ** (-floor_db / 10.0)]
    return 10.0 * float(np.log10(np.mean(active)))


def trim_silence(samples: np.ndarray, sample_rate: int, threshold_db: float = 45.0, keep: float = 0.0) -> np.ndarray:
    """Cut leading and trailing audio more than ``threshold_db`` below the loudest 10 ms frame.

    Args:
        samples: Mono samples.
        sample_rate: Their rate.
        threshold_db: How far below the peak frame counts as silence.
        keep: Seconds of the cut silence to keep on each side.
    """
    frame = max(int(0.01 * sample_rate), 1)
    power = _frame_levels(samples, sample_rate, 0.01)
    if power.size == 0 or float(power.max()) <= 0:
        return samples
    loud = np.flatnonzero(power >= power.max() * 10 ** (-threshold_db / 10.0))
    pad = int(keep * sample_rate)
    start = max(int(loud[0]) * frame - pad, 0)
    end = min((int(loud[-1]) + 1) * frame + pad, len(samples))
    return samples[start:end]


def estimate_f0(samples: np.ndarray, sample_rate: int) -> float | None:
    """Median pitch (Hz) of the voiced, loud frames of speech, or ``None`` if there is no clear voicing."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < int(0.1 * sample_rate):
        return None
    import librosa

    frame = 2048 if sample_rate > 24000 else 1024
    f0 = librosa.yin(samples, fmin=60.0, fmax=400.0, sr=sample_rate, frame_length=frame, hop_length=frame // 4)
    rms = librosa.feature.rms(y=samples, frame_length=frame, hop_length=frame // 4)[0][: len(f0)]
    loud = rms >= 0.3 * float(rms.max()) if rms.size else np.zeros(0, dtype=bool)
    values = f0[: len(loud)][loud]
    values = values[(values > 65.0) & (values < 390.0)]
    if values.size < 3:
        return None
    return float(np.median(values))


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
        target = (speech_level if speech_level is not None else DEFAULT_SPEECH_LEVEL_DB) + RELATIVE_LEVEL_DB.get(label, -6.0)
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


_VOICED = frozenset({"laugh", "sigh", "throat_clearing"})


def _speak(tts: Any, text: str, style: SpeakingStyle | None, keep: float) -> tuple[np.ndarray, int]:
    audio = tts.synthesize(text, style)
    samples = np.asarray(audio.samples, dtype=np.float32)
    if samples.size:
        samples = trim_silence(samples, audio.sample_rate, threshold_db=50.0, keep=keep)
    return samples, int(audio.sample_rate)


def synthesize_with_events(
    text: str,
    tts: Any,
    bank: EventBank | None = None,
    style: SpeakingStyle | None = None,
    gap: float = 0.08,
    pause_seconds: float = 0.5,
    rng: np.random.Generator | None = None,
) -> tuple[Audio, list[Event]]:
    """Speak tagged text with the event audio inserted where each tag stands.

    Each run of words between tags is spoken on its own (``tts.synthesize``) and trimmed to its speech;
    each known tag becomes a clip from ``bank`` matched in loudness (and pitch, for voiced synthetic
    clips) to the speech before it (or after it, for a leading tag), with ``gap`` seconds of silence on
    each side. ``[pause]`` becomes silence (``[pause 0.8s]`` sets its length) and is recorded as a
    ``pause`` event. Unknown stage directions (``[smiles]``) are dropped.

    Args:
        text: Text with tags, e.g. ``"I know [sigh] it has been a long week."``.
        tts: Any TTS component (``synthesize(text, style) -> Audio``).
        bank: Where event clips come from; the packaged bank by default.
        style: Speaking style passed to the TTS.
        gap: Silence in seconds between speech and an inserted event.
        pause_seconds: Length of a ``[pause]`` without an explicit length.
        rng: Random generator for clip choice (defaults to the bank's).

    Returns:
        ``(audio, events)``: the speech at the TTS's sample rate, and one :class:`Event` per inserted tag
        with its exact start and end in seconds (confidence 1.0).

    Raises:
        ConfigError: the text has nothing to speak or render, or the bank lacks a tagged label.
    """
    from .tags import TagSegment, split_tags

    bank = bank or EventBank()
    segments = split_tags(text)
    sample_rate = int(getattr(tts, "sample_rate", 0) or 0)
    spoken: list[np.ndarray | None] = []
    for segment in segments:
        if isinstance(segment, TagSegment):
            spoken.append(None)
        else:
            samples, rate = _speak(tts, segment.text, style, keep=0.03)
            sample_rate = rate
            spoken.append(samples)
    if not sample_rate:
        raise ConfigError("Cannot tell the TTS's sample rate: the text has no words and the TTS has no sample_rate.")

    pieces: list[np.ndarray] = []
    events: list[Event] = []
    cursor = 0
    gap_samples = np.zeros(int(gap * sample_rate), dtype=np.float32)

    def context_for(index: int) -> np.ndarray:
        for j in list(range(index - 1, -1, -1)) + list(range(index + 1, len(spoken))):
            if spoken[j] is not None and spoken[j].size:
                return spoken[j]
        return np.zeros(0, dtype=np.float32)

    for index, segment in enumerate(segments):
        if not isinstance(segment, TagSegment):
            samples = spoken[index]
            pieces.append(samples)
            cursor += len(samples)
            continue
        if not segment.known:
            logger.info("Dropped unknown stage direction %s (not a paralinguistic tag).", segment.raw)
            continue
        if segment.label == "pause":
            seconds = segment.seconds if segment.seconds is not None else pause_seconds
            silence = np.zeros(int(seconds * sample_rate), dtype=np.float32)
            events.append(Event("pause", cursor / sample_rate, (cursor + len(silence)) / sample_rate, 1.0))
            pieces.append(silence)
            cursor += len(silence)
            continue
        clip = bank.render(segment.label, context_for(index), sample_rate, rng)
        lead = gap_samples if cursor > 0 else gap_samples[: len(gap_samples) // 4]
        pieces.extend([lead, clip, gap_samples])
        start = cursor + len(lead)
        events.append(Event(segment.label, start / sample_rate, (start + len(clip)) / sample_rate, 1.0))
        cursor = start + len(clip) + len(gap_samples)
    if not pieces or cursor == 0:
        raise ConfigError(f"Nothing to speak or render in {text!r}. Give words and/or known tags such as [laugh].")
    return Audio(np.concatenate(pieces).astype(np.float32), sample_rate), events


#: Sentences used by :func:`build_dataset` when no texts are given: everyday conversational English.
DEFAULT_SENTENCES: tuple[str, ...] = (
    "I honestly did not expect that to happen today.",
    "Well, that was a long meeting, but we got there in the end.",
    "Can you believe the train was late again this morning?",
    "I think we should try the new place around the corner.",
    "Oh no, I left my keys on the kitchen table.",
    "That is the funniest thing I have heard all week.",
    "Let me check my notes and get back to you.",
    "We could go for a walk if the rain stops soon.",
    "I am not sure this is going to work out.",
    "Thanks for waiting, it took longer than I thought.",
    "You are right, I should have called earlier.",
    "The results look much better than last time.",
    "So what do you want to do this weekend?",
    "I tried to fix it myself and made it worse.",
    "Honestly, I am just glad it is finally over.",
    "Give me a second, I need to find the right page.",
    "My phone will not turn on after the update.",
    "It is a little cold in here, is it not?",
    "We will figure it out together, do not worry.",
    "I have been waiting for this moment all year.",
)


def varied_styles(count: int = 17, seed: int = 1) -> list[SpeakingStyle]:
    """Speaking styles for dataset variety: rate 0.85-1.2, pitch -3 to +4 semitones, volume 0.6-1.0.

    ``build_dataset(..., styles=varied_styles(seed=1), seed=1)`` with 160 utterances made the packaged
    detector's training data.
    """
    rng = np.random.default_rng(seed)
    return [
        SpeakingStyle(
            rate=float(rng.uniform(0.85, 1.2)),
            pitch_semitones=float(rng.choice([0, 0, -3, -2, 2, 3, 4])),
            volume=float(rng.uniform(0.6, 1.0)),
        )
        for _ in range(count)
    ]


def tag_sentence(sentence: str, labels: Sequence[str], rng: np.random.Generator, max_tags: int = 2) -> str:
    """Insert one to ``max_tags`` tags drawn from ``labels`` at random word boundaries of ``sentence``."""
    words = sentence.split()
    count = int(rng.integers(1, max_tags + 1))
    positions = sorted(rng.choice(len(words) + 1, size=min(count, len(words) + 1), replace=False).tolist(), reverse=True)
    for position in positions:
        words.insert(int(position), f"[{labels[int(rng.integers(len(labels)))]}]")
    return " ".join(words)


def build_dataset(
    out_dir: str | os.PathLike,
    tts: Any,
    bank: EventBank | None = None,
    count: int = 100,
    texts: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    styles: Sequence[SpeakingStyle] | None = None,
    max_tags: int = 2,
    seed: int = 0,
) -> Path:
    """Write ``count`` paralinguistic utterances and a ``manifest.jsonl`` describing them.

    Each utterance is a sentence (from ``texts``, or :data:`DEFAULT_SENTENCES`) with one to ``max_tags``
    tags at random word boundaries (texts that already contain tags are used as they are), spoken with
    :func:`synthesize_with_events`. Each manifest line is::

        {"path": "wav/000001.wav", "text": "...", "label": "laugh", "duration": 2.31, "sample_rate": 22050,
         "events": [{"label": "laugh", "start": 0.91, "end": 1.84, "start_sample": 20066, "end_sample": 40572}]}

    where ``label`` is the first non-pause event (for clip-level use), paths are relative to ``out_dir``
    and ``start_sample``/``end_sample`` give the exact span in samples (``start``/``end`` are rounded to
    0.1 ms).

    Args:
        out_dir: Output folder (created).
        tts: TTS component.
        bank: Event bank; the packaged one by default.
        count: Number of utterances.
        texts: Sentences to use, cycled through.
        labels: Tags to draw from; all the bank's labels by default.
        styles: Speaking styles to cycle through.
        max_tags: Most tags per utterance.
        seed: Random seed (the same seed and inputs give the same dataset).

    Returns:
        The manifest path.
    """
    from ..audio import save_audio
    from .tags import split_tags

    bank = bank or EventBank(seed=seed)
    labels = list(labels or bank.labels)
    unknown = [label for label in labels if label != "pause" and label not in bank.labels]
    if unknown:
        raise ConfigError(f"The event bank has no clips for {', '.join(unknown)}. Bank labels: {', '.join(bank.labels)}.")
    texts = list(texts or DEFAULT_SENTENCES)
    rng = np.random.default_rng(seed)
    root = Path(out_dir)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    manifest = root / "manifest.jsonl"
    tmp = manifest.with_name(".manifest.jsonl.part")
    with open(tmp, "w", encoding="utf-8") as handle:
        for i in range(count):
            base = texts[i % len(texts)]
            has_tags = any(not hasattr(s, "text") for s in split_tags(base))
            text = base if has_tags else tag_sentence(base, labels, rng, max_tags)
            style = styles[i % len(styles)] if styles else None
            audio, events = synthesize_with_events(text, tts, bank, style, rng=rng)
            rel = f"wav/{i:06d}.wav"
            save_audio(audio, root / rel)
            clip_label = next((e.label for e in events if e.label != "pause"), "pause" if events else "")
            record = {
                "path": rel,
                "text": text,
                "label": clip_label,
                "duration": round(audio.duration, 4),
                "sample_rate": audio.sample_rate,
                "events": [
                    {
                        "label": e.label,
                        "start": round(e.start, 4),
                        "end": round(e.end, 4),
                        "start_sample": int(round(e.start * audio.sample_rate)),
                        "end_sample": int(round(e.end * audio.sample_rate)),
                    }
                    for e in events
                ],
            }
            handle.write(json.dumps(record) + "\n")
            handle.flush()
    os.replace(tmp, manifest)
    return manifest


def segment_events(
    samples: np.ndarray,
    sample_rate: int,
    min_seconds: float = 0.15,
    max_seconds: float = 2.5,
    merge_gap: float = 0.12,
    pad: float = 0.05,
) -> list[tuple[int, int]]:
    """Find the separate events (each cough, each breath) in a recording of several, by level.

    A frame is active when it is above both ``floor + 12 dB`` and ``peak - 30 dB`` (floor: the 10th
    percentile of 10 ms frame levels); active runs closer than ``merge_gap`` are joined, runs shorter than
    ``min_seconds`` dropped, and runs longer than ``max_seconds`` cut into equal parts.

    Returns:
        ``(start, end)`` sample indices, ``pad`` seconds of context included on each side.
    """
    frame = max(int(0.01 * sample_rate), 1)
    power = _frame_levels(np.asarray(samples, dtype=np.float32), sample_rate, 0.01)
    if power.size == 0:
        return []
    level = 10.0 * np.log10(power + 1e-12)
    threshold = max(float(np.percentile(level, 10)) + 12.0, float(level.max()) - 30.0)
    active = level >= threshold
    runs: list[list[int]] = []
    for i in np.flatnonzero(active):
        if runs and i - runs[-1][1] <= int(merge_gap / 0.01) + 1:
            runs[-1][1] = int(i)
        else:
            runs.append([int(i), int(i)])
    out: list[tuple[int, int]] = []
    for first, last in runs:
        length = (last - first + 1) * 0.01
        if length < min_seconds:
            continue
        parts = int(np.ceil(length / max_seconds))
        bounds = np.linspace(first, last + 1, parts + 1).astype(int)
        for a, b in zip(bounds[:-1], bounds[1:], strict=False):
            start = max(int(a) * frame - int(pad * sample_rate), 0)
            end = min(int(b) * frame + int(pad * sample_rate), len(samples))
            out.append((start, end))
    return out


def import_recordings(
    rows: Sequence[dict[str, str]],
    base_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    sample_rate: int = 16000,
    max_events_per_recording: int = 4,
    max_seconds: float = 2.5,
) -> list[dict[str, Any]]:
    """Cut recordings of events (e.g. a minute of coughing) into single-event bank clips.

    Args:
        rows: Manifest rows with at least ``path`` (relative to ``base_dir``) and ``label``; every other
            column (licence, source, speaker...) is kept in the returned provenance.
        base_dir: Folder the paths are relative to.
        out_dir: Bank folder; clips go to ``out_dir/<label>/<stem>_<n>.flac`` (16-bit FLAC, mono).
        sample_rate: Rate of the written clips.
        max_events_per_recording: At most this many events (the loudest) are taken from one recording.
        max_seconds: Longer events are cut into parts.

    Returns:
        One provenance dict per written clip (``file`` relative to ``out_dir``, ``start``/``end`` in the
        source in seconds, and the row's columns).
    """
    import soundfile as sf

    from ..audio import load_audio

    written: list[dict[str, Any]] = []
    for row in rows:
        source = Path(base_dir) / row["path"]
        audio = load_audio(source, sample_rate, max_seconds=None)
        spans = segment_events(audio.samples, sample_rate, max_seconds=max_seconds)
        levels = [active_level_db(audio.samples[a:b], sample_rate) or -120.0 for a, b in spans]
        keep = sorted(np.argsort(levels)[::-1][:max_events_per_recording].tolist())
        folder = Path(out_dir) / row["label"]
        folder.mkdir(parents=True, exist_ok=True)
        for n, index in enumerate(keep):
            a, b = spans[index]
            clip = audio.samples[a:b]
            peak = float(np.max(np.abs(clip))) or 1.0
            clip = clip / peak * 10 ** (-3.0 / 20.0)
            name = f"{Path(row['path']).stem}_{n}.flac"
            sf.write(str(folder / name), clip.astype(np.float32), sample_rate, subtype="PCM_16", format="FLAC")
            written.append({"file": f"{row['label']}/{name}", "start": round(a / sample_rate, 3), "end": round(b / sample_rate, 3), **row})
    return written


_RENDERER_BANKS: dict[tuple[tuple[str, ...], str, int | None], EventBank] = {}


def event_renderer(
    folders: Sequence[str | os.PathLike] | str | os.PathLike = (), mode: str = "override", seed: int | None = None
) -> Callable[[str, np.ndarray, int], np.ndarray | None]:
    """A TTS ``event_renderer`` backed by an event bank (the packaged one plus ``folders``), cached per process.

    For wiring from plain-data configs: a TTS backend or pipeline that is told to render tags (e.g. a
    config flag) calls this instead of building an :class:`EventBank` itself::

        tts = registry.create("tts", "piper", event_renderer=event_renderer())
    """
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    key = (tuple(str(f) for f in folders), mode, seed)
    if key not in _RENDERER_BANKS:
        _RENDERER_BANKS[key] = EventBank(list(folders), mode=mode, seed=seed or 0)
    return _RENDERER_BANKS[key].renderer(seed)
