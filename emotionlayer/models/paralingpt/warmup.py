"""Warm up ParalinGPT's prefix on the emotion labels alone before the first step (no LLM: seconds on a CPU).

Not in the paper. The language-model loss reaches the emotion through one label token per turn, among
some thirty target tokens, and a CPU affords a few hundred of its (expensive) steps: the packaged
checkpoint learned a prefix that hardly depends on the audio and wrote "sad" for most clips.
:func:`warm_up_prefix` first trains the layer weights, the projector and the auxiliary classifier of the
prefix (:meth:`ParalinGPTModel.emotion_logits`) on the emotion labels for
``ParalinGPTConfig.prefix_warmup_steps`` steps, so the language-model steps start from a prefix that
already tells the emotions apart. With ``standardise`` the prefix is a function of each clip's per-layer
pooled features, which are computed once, so a step costs milliseconds.

It runs only at the start of a fresh run (a resumed run loads the warmed-up weights from its checkpoint),
from the run's seed, so it repeats exactly.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Union

import torch

from ..common.config import TrainConfig
from ..common.training import train_on_labels
from .data import ParalinGPTDataset, ParalinGPTExample
from .model import ParalinGPTModel

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


def warmup_examples(manifest: PathLike, labels: Any, max_seconds: float = 30.0) -> list[ParalinGPTExample]:
    """The clips of an extra warm-up manifest (``path`` and ``emotion``; no reply needed), for the prefix
    warm-up only. Rows whose emotion is not among ``labels`` are left out (e.g. ESD has 5 of the 8)."""
    from ...data.manifest import read_manifest
    from ..common.features import clip_id, clip_seconds

    examples = []
    for row in read_manifest(manifest):
        if row.emotion not in labels:
            continue
        seconds = clip_seconds(row, f"{manifest} line {row.line}", max_seconds)
        examples.append(ParalinGPTExample(clip_id(row), row.path, "", row.emotion, row.emotion, "-", seconds, row.line))
    return examples


def extra_dataset(model: ParalinGPTModel, data: ParalinGPTDataset, manifest: PathLike) -> ParalinGPTDataset:
    """The clips of ``manifest`` as a dataset sharing ``data``'s feature cache (see :func:`warmup_examples`)."""
    examples = warmup_examples(manifest, model.config.labels, model.config.max_audio_seconds)
    keys = data.cache.prepare(examples) if data.cache is not None else None
    return ParalinGPTDataset(examples, model, cache=data.cache, keys=keys)


def clip_pooled_features(model: ParalinGPTModel, dataset: ParalinGPTDataset) -> torch.Tensor:
    """Per clip, the per-layer pooled features ``(clips, layers, 2d)`` (:meth:`ParalinGPTModel.pooled_features`)."""
    rows = []
    with torch.no_grad():
        for index in range(len(dataset)):
            item = dataset[index]
            if "states" in item:
                states = item["states"].to(model.device).unsqueeze(1)
                lengths = torch.tensor([states.shape[2]], device=model.device)
                rows.append(model.pooled_features(states, lengths)[0])
            else:
                rows.append(model.pooled_features(waves=[item["wave"].to(model.device)])[0])
    return torch.stack(rows)


def warm_up_prefix(
    model: ParalinGPTModel,
    dataset: ParalinGPTDataset,
    config: TrainConfig,
    progress: Any | None = None,
    extra: ParalinGPTDataset | None = None,
) -> list[float]:
    """Train the layer weights, the projector and the emotion classifier of the prefix on the emotion labels.

    AdamW at ``config.learning_rate`` (constant) and ``config.weight_decay``, batches of
    ``config.batch_size * config.grad_accum_steps`` turns drawn at random (seeded by ``config.seed``), for
    ``model.config.prefix_warmup_steps`` steps. ``extra`` (optional): more clips to warm up on besides the
    training turns (e.g. more emotional speech without replies; :func:`extra_dataset`).

    Returns:
        The cross-entropy of every warm-up step.
    """
    steps = model.config.prefix_warmup_steps
    pooled = clip_pooled_features(model, dataset)
    emotions = list(dataset.emotions)
    if extra is not None and len(extra):
        pooled = torch.cat([pooled, clip_pooled_features(model, extra)])
        emotions += extra.emotions
    labels = torch.tensor(emotions, dtype=torch.long, device=model.device)
    losses = train_on_labels(
        model,
        [p for p in model.parameters() if p.requires_grad],
        lambda pick: model.emotion_logits(model.prefix_of_pooled(pooled[pick])),
        labels,
        steps,
        config,
        progress=progress,
    )
    if losses:
        logger.info(
            "Prefix warm-up: %d steps on %d turns, loss %.4f -> %.4f.", steps, len(labels), losses[0], losses[-1]
        )
    return losses
