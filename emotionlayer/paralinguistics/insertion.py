"""Paralinguistic speech: text with tags such as ``[laugh]`` becomes speech with the event audio inserted.

:func:`synthesize_with_events` speaks each run of words with a TTS and inserts an event clip from an
:class:`~emotionlayer.paralinguistics.bank.EventBank` where a tag stands, at the word boundary, scaled to
the loudness of the neighbouring speech (and, for voiced synthetic events, picked to match its pitch).
Since the insertion is known, each event's start and end are exact. :func:`event_renderer` gives a TTS
backend an ``event_renderer`` backed by a bank, so that it renders tags in the text it speaks.

Example:
    >>> from emotionlayer import registry
    >>> from emotionlayer.paralinguistics.bank import EventBank
    >>> from emotionlayer.paralinguistics.insertion import synthesize_with_events
    >>> tts = registry.create("tts", "piper")
    >>> audio, events = synthesize_with_events("Well [laugh] that was fun.", tts, EventBank())
    >>> [(e.label, round(e.start, 2), round(e.end, 2)) for e in events]   # doctest: +SKIP
    [('laugh', 0.52, 1.61)]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..types import Audio, SpeakingStyle, VocalEvent
from .bank import EventBank
from .dsp import trim_silence
from .tags import TagSegment, split_tags

logger = logging.getLogger(__name__)

__all__ = ["event_renderer", "synthesize_with_events"]


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
) -> tuple[Audio, list[VocalEvent]]:
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
        ``(audio, events)``: the speech at the TTS's sample rate, and one
        :class:`~emotionlayer.types.VocalEvent` per inserted tag with its exact start and end in seconds
        (confidence 1.0).

    Raises:
        ConfigError: the text has nothing to speak or render, or the bank lacks a tagged label.
    """
    bank = bank or EventBank()
    segments = split_tags(text)
    spoken, sample_rate = _speak_runs(segments, tts, style)
    pieces: list[np.ndarray] = []
    events: list[VocalEvent] = []
    cursor = 0
    gap_samples = np.zeros(int(gap * sample_rate), dtype=np.float32)
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
            events.append(VocalEvent("pause", cursor / sample_rate, (cursor + len(silence)) / sample_rate, 1.0))
            pieces.append(silence)
            cursor += len(silence)
            continue
        clip = bank.render(segment.label, _nearest_speech(spoken, index), sample_rate, rng)
        lead = gap_samples if cursor > 0 else gap_samples[: len(gap_samples) // 4]
        pieces.extend([lead, clip, gap_samples])
        start = cursor + len(lead)
        events.append(VocalEvent(segment.label, start / sample_rate, (start + len(clip)) / sample_rate, 1.0))
        cursor = start + len(clip) + len(gap_samples)
    if not pieces or cursor == 0:
        raise ConfigError(f"Nothing to speak or render in {text!r}. Give words and/or known tags such as [laugh].")
    return Audio(np.concatenate(pieces).astype(np.float32), sample_rate), events


def _speak_runs(segments: list, tts: Any, style: SpeakingStyle | None) -> tuple[list[np.ndarray | None], int]:
    """Each run of words spoken and trimmed to its speech (``None`` for a tag), and the TTS's sample rate."""
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
    return spoken, sample_rate


def _nearest_speech(spoken: list[np.ndarray | None], index: int) -> np.ndarray:
    """The speech an event at ``index`` is matched to: the nearest run before it, else the nearest after."""
    for j in list(range(index - 1, -1, -1)) + list(range(index + 1, len(spoken))):
        samples = spoken[j]
        if samples is not None and samples.size:
            return samples
    return np.zeros(0, dtype=np.float32)


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
