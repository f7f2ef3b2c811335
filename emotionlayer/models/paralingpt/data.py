"""ParalinGPT training data: manifest rows (the same stage-2 manifests as E-chat), items and batches.

A manifest (CSV, TSV or JSONL, read by :func:`emotionlayer.data.manifest.read_manifest`) lists one turn per
row: ``path`` (the audio), ``text`` (the transcript: ground truth at training time, in place of the ASR
output), ``emotion`` (the current turn's emotion) and ``reply`` (or ``response``: what to answer). The
response emotion is the ``response_emotion`` column where there is one, else the emotion the config's
empathy strategy gives the voice for the turn's emotion
(``PipelineConfig.strategy_for(emotion).style.emotion``: a calm voice for a sad user).

The frozen encoder's hidden states are cached per clip by the shared
:class:`~emotionlayer.models.common.features.FeatureCache` (float16 safetensors files keyed by the audio's
bytes and the encoder's weights), so runs with the same encoder share them (E-chat's too).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch

from ...data.manifest import ManifestError, read_manifest
from ...errors import ConfigError
from ...labels import canonical
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
from .model import ParalinGPTBatch

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: Manifest column that sets the response emotion of a row (otherwise the strategy's voice emotion).
RESPONSE_EMOTION_COLUMN = "response_emotion"


@dataclass(frozen=True)
class ParalinGPTExample:
    """One training turn.

    Attributes:
        id: Name of the clip (file stem and manifest line).
        path: Audio file.
        transcript: What was said (the text prompt's content).
        emotion: The turn's emotion (canonical).
        response_emotion: The reply's emotion (canonical).
        reply: What to answer.
        seconds: Length of the audio.
        line: Manifest line (for messages).
    """

    id: str
    path: str
    transcript: str
    emotion: str
    response_emotion: str
    reply: str
    seconds: float
    line: int = 0


def load_examples(
    manifest: PathLike,
    labels: Sequence[str],
    max_seconds: float = 30.0,
    split: str | None = None,
    pipeline_config: Any = None,
) -> list[ParalinGPTExample]:
    """Read the turns of a manifest.

    Args:
        manifest: CSV/TSV/JSONL manifest.
        labels: The model's emotion labels (every row's emotion must be one of them).
        max_seconds: Longest clip accepted (the encoder's window).
        split: Keep only rows whose ``split`` column equals this (``None`` keeps all).
        pipeline_config: The pipeline config whose strategies give the response emotions (``None``: the
            packaged default).

    Raises:
        ManifestError: a row lacks its emotion or reply, has an emotion outside ``labels``, or is too
            long; the message names the line.
    """
    from ...config import PipelineConfig

    strategies = PipelineConfig.coerce(pipeline_config)
    rows = rows_of_split(read_manifest(manifest), manifest, split)
    examples: list[ParalinGPTExample] = []
    for row in rows:
        where = f"{manifest} line {row.line}"
        reply = reply_of(row)
        if not reply:
            raise ManifestError(
                f"{where} has no reply. ParalinGPT learns to answer: add a 'reply' (or 'response') column, e.g. with "
                "`emotionlayer data generate`."
            )
        if not row.emotion:
            raise ManifestError(
                f"{where} has no emotion. ParalinGPT writes the turn's emotion first: fill the 'emotion' column "
                "(or leave the row out)."
            )
        if row.emotion not in labels:
            raise ManifestError(
                f"{where}: emotion {row.emotion!r} is not among the model's labels ({', '.join(labels)}). Add it to "
                "the model's labels or leave the row out."
            )
        given = str(row.extra.get(RESPONSE_EMOTION_COLUMN) or "").strip()
        try:
            response = canonical(given) if given else strategies.strategy_for(row.emotion).style.emotion
        except ConfigError as exc:
            raise ManifestError(f"{where}: {exc}") from exc
        seconds = clip_seconds(row, where, max_seconds)
        examples.append(
            ParalinGPTExample(clip_id(row), row.path, row.text or "", row.emotion, response, reply, seconds, row.line)
        )
    return examples


def data_fingerprint(examples: Sequence[ParalinGPTExample]) -> str:
    """A hash of the training turns (a resumed run must see the same ones)."""
    return common_fingerprint(examples, ("id", "transcript", "emotion", "response_emotion", "reply"))


class ParalinGPTDataset(torch.utils.data.Dataset):
    """Training items: prompt ids, target ids and weights, and cached states (or the waveform).

    Args:
        examples: The turns.
        model: The model whose tokenizer and config make the token ids.
        cache: Feature cache, or ``None`` to give waveforms (the encoder then runs in the model).
        keys: Clip id -> cache key (from :meth:`FeatureCache.prepare`).
    """

    def __init__(
        self,
        examples: Sequence[ParalinGPTExample],
        model: Any,
        cache: FeatureCache | None = None,
        keys: dict[str, str] | None = None,
    ) -> None:
        self.examples = list(examples)
        self.prompts = [model.prompt_ids(e.transcript) for e in self.examples]
        self.targets = [model.target_ids(e.emotion, e.response_emotion, e.reply) for e in self.examples]
        index = {label: i for i, label in enumerate(model.config.labels)}
        self.emotions = [index[e.emotion] for e in self.examples]
        self.cache = cache
        self.keys = keys or {}
        check_cache_keys(self.examples, cache, self.keys)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        example = self.examples[index]
        ids, weights = self.targets[index]
        return {
            "prompt_ids": self.prompts[index],
            "target_ids": ids,
            "target_weights": weights,
            "emotion": self.emotions[index],
            **clip_features(example, self.cache, self.keys),
        }


def feature_statistics(model: Any, dataset: ParalinGPTDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation ``(layers, 2d)`` of the pooled features over a dataset's clips.

    They standardise the features the adapter reads (:meth:`ParalinGPTModel.set_feature_stats`).
    """
    total = squares = None
    with torch.no_grad():
        for index in range(len(dataset)):
            item = dataset[index]
            if "states" in item:
                states = item["states"].to(model.device).unsqueeze(1)
                pooled = model.pooled_features(states, torch.tensor([states.shape[2]], device=model.device))
            else:
                pooled = model.pooled_features(waves=[item["wave"].to(model.device)])
            pooled = pooled[0].double()
            total = pooled if total is None else total + pooled
            squares = pooled**2 if squares is None else squares + pooled**2
    if total is None or squares is None:
        raise ConfigError("No clips to compute feature statistics from.")
    mean = total / len(dataset)
    std = (squares / len(dataset) - mean**2).clamp(min=0).sqrt()
    return mean.float(), std.float()


def collate(items: Sequence[dict[str, Any]]) -> ParalinGPTBatch:
    """Stack items into a :class:`~emotionlayer.models.paralingpt.model.ParalinGPTBatch` (states zero-padded)."""
    prompts = [item["prompt_ids"] for item in items]
    targets = [item["target_ids"] for item in items]
    weights = [item["target_weights"] for item in items]
    emotion = torch.tensor([item["emotion"] for item in items], dtype=torch.long)
    return ParalinGPTBatch(prompts, targets, weights, emotion, **audio_inputs(items))
