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
from typing import Any

import torch

from ..common.config import TrainConfig
from ..common.training import train_on_labels
from .data import ParalinGPTDataset
from .model import ParalinGPTModel

logger = logging.getLogger(__name__)


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
    model: ParalinGPTModel, dataset: ParalinGPTDataset, config: TrainConfig, progress: Any | None = None
) -> list[float]:
    """Train the layer weights, the projector and the emotion classifier of the prefix on the emotion labels.

    AdamW at ``config.learning_rate`` (constant) and ``config.weight_decay``, batches of
    ``config.batch_size * config.grad_accum_steps`` turns drawn at random (seeded by ``config.seed``), for
    ``model.config.prefix_warmup_steps`` steps.

    Returns:
        The cross-entropy of every warm-up step.
    """
    steps = model.config.prefix_warmup_steps
    pooled = clip_pooled_features(model, dataset)
    labels = torch.tensor(dataset.emotions, dtype=torch.long, device=model.device)
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
