"""Paralinguistic-speech datasets: tagged sentences spoken with events inserted, and a manifest of them.

:func:`build_dataset` writes many utterances made with
:func:`~emotionlayer.paralinguistics.insertion.synthesize_with_events` and a ``manifest.jsonl`` listing
each one's events with exact times; :func:`segment_events` finds the separate events in a recording of
several (used to cut recordings into bank clips).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..types import Audio, SpeakingStyle, VocalEvent
from .bank import EventBank
from .dsp import frame_power
from .insertion import synthesize_with_events
from .tags import split_tags

__all__ = ["DEFAULT_SENTENCES", "build_dataset", "segment_events", "tag_sentence", "varied_styles"]


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
    positions = sorted(
        rng.choice(len(words) + 1, size=min(count, len(words) + 1), replace=False).tolist(), reverse=True
    )
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

    bank = bank or EventBank(seed=seed)
    labels = _checked_labels(bank, labels)
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
            handle.write(json.dumps(_manifest_record(rel, text, audio, events)) + "\n")
            handle.flush()
    os.replace(tmp, manifest)
    return manifest


def _checked_labels(bank: EventBank, labels: Sequence[str] | None) -> list[str]:
    """The tags to draw from (all the bank's by default); every one but ``pause`` needs clips in the bank."""
    labels = list(labels or bank.labels)
    unknown = [label for label in labels if label != "pause" and label not in bank.labels]
    if unknown:
        raise ConfigError(
            f"The event bank has no clips for {', '.join(unknown)}. Bank labels: {', '.join(bank.labels)}."
        )
    return labels


def _manifest_record(path: str, text: str, audio: Audio, events: Sequence[VocalEvent]) -> dict[str, Any]:
    """One manifest line: the clip, its label (the first non-pause event) and its events, also in samples."""
    clip_label = next((e.label for e in events if e.label != "pause"), "pause" if events else "")
    return {
        "path": path,
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
    power = frame_power(np.asarray(samples, dtype=np.float32), sample_rate, 0.01)
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
