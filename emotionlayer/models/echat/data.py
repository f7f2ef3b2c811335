"""E-chat training data: manifest rows, items and batches.

A manifest (CSV or JSONL, read by :func:`emotionlayer.data.manifest.read_manifest`) lists one clip per
row: ``path``, ``text`` (the transcript; stage 1's target), ``reply`` (or ``response``, as written by
``emotionlayer data generate``; stage 2's target) and ``emotion`` (optional; the emotion head's label).

The frozen encoder's hidden states are cached per clip by the shared
:class:`~emotionlayer.models.common.features.FeatureCache`, which also makes the length-bucketed batches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch

from ...data.manifest import ManifestError, read_manifest
from ..common.features import (
    FeatureCache,
    audio_inputs,
    check_cache_keys,
    clip_features,
    clip_id,
    clip_seconds,
    reply_of,
    rows_of_split,
)
from ..common.features import data_fingerprint as common_fingerprint
from ..common.layers import IGNORE_INDEX
from .model import EChatBatch

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class EChatExample:
    """One training clip.

    Attributes:
        id: Name of the clip (file stem and manifest line).
        path: Audio file.
        target: What the decoder learns to say (transcript in stage 1, reply in stage 2).
        emotion: Canonical emotion label, if known.
        seconds: Length of the audio.
        line: Manifest line (for messages).
    """

    id: str
    path: str
    target: str
    emotion: str | None
    seconds: float
    line: int = 0


def load_examples(
    manifest: PathLike,
    stage: int,
    max_seconds: float = 30.0,
    split: str | None = None,
) -> list[EChatExample]:
    """Read the clips of a manifest for one training stage.

    Args:
        manifest: CSV/TSV/JSONL manifest.
        stage: 1 (targets from ``text``) or 2 (targets from ``reply`` / ``response``).
        max_seconds: Longest clip accepted (the encoder's window).
        split: Keep only rows whose ``split`` column equals this (``None`` keeps all).

    Raises:
        ManifestError: a row lacks its target or is too long; the message names the line.
    """
    rows = rows_of_split(read_manifest(manifest), manifest, split)
    examples: list[EChatExample] = []
    for row in rows:
        where = f"{manifest} line {row.line}"
        if stage == 1:
            target = row.text
            if not target:
                raise ManifestError(f"{where} has no text. Stage 1 learns to transcribe: fill the 'text' column.")
        else:
            target = reply_of(row)
            if not target:
                raise ManifestError(
                    f"{where} has no reply. Stage 2 learns to answer: add a 'reply' (or 'response') column, e.g. with "
                    "`emotionlayer data generate`."
                )
        seconds = clip_seconds(row, where, max_seconds, " (each with its own text)")
        examples.append(EChatExample(clip_id(row), row.path, target, row.emotion, seconds, row.line))
    return examples


class EChatDataset(torch.utils.data.Dataset):
    """Training items: target ids, emotion index, and cached states (or the waveform).

    Args:
        examples: The clips.
        target_ids: Token ids of each clip's target (ending with EOS).
        labels: The model's emotion labels.
        cache: Feature cache, or ``None`` to give waveforms (the encoder then runs in the model).
        keys: Clip id -> cache key (from :meth:`FeatureCache.prepare`).
    """

    def __init__(
        self,
        examples: Sequence[EChatExample],
        target_ids: Sequence[Sequence[int]],
        labels: Sequence[str],
        cache: FeatureCache | None = None,
        keys: dict[str, str] | None = None,
    ) -> None:
        self.examples = list(examples)
        self.target_ids = [list(t) for t in target_ids]
        self.label_index = {label: i for i, label in enumerate(labels)}
        unknown = sorted({e.emotion for e in self.examples if e.emotion and e.emotion not in self.label_index})
        if unknown:
            logger.warning(
                "Emotions %s are not among the model's labels; those clips train without an emotion label.", unknown
            )
        self.cache = cache
        self.keys = keys or {}
        check_cache_keys(self.examples, cache, self.keys)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        example = self.examples[index]
        return {
            "target_ids": self.target_ids[index],
            "emotion": self.label_index.get(example.emotion or "", IGNORE_INDEX),
            **clip_features(example, self.cache, self.keys),
        }


def collate(items: Sequence[dict[str, Any]]) -> EChatBatch:
    """Stack items into an :class:`~emotionlayer.models.echat.model.EChatBatch` (states zero-padded)."""
    emotion = torch.tensor([item["emotion"] for item in items], dtype=torch.long)
    return EChatBatch([item["target_ids"] for item in items], emotion, **audio_inputs(items))


def data_fingerprint(examples: Sequence[EChatExample]) -> str:
    """A hash of the training clips (a resumed run must see the same ones)."""
    return common_fingerprint(examples, ("id", "target", "emotion"))
