"""Warm up E-chat's emotion branch alone before stage 2 (no LLM: a few seconds on a CPU).

Stage 2 starts its emotion layer weights and emotion head from random weights, and its decoder loss
is what most of each (expensive) step pays for. :func:`warm_up_emotion` first trains the emotion layer
weights and the head on the emotion labels alone for ``EChatConfig.emotion_warmup_steps`` steps: the
connector and the LLM neither learn nor run. Each clip's normalised layers are averaged over time once
(exact: the pooled emotion embedding is linear in them), so a step costs about a millisecond. The stage-2
run then starts from a head that already separates the emotions.

It runs only at the start of a fresh run (a resumed run loads the warmed-up weights from its
checkpoint), from the run's seed, so it repeats exactly.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ...errors import ConfigError
from ..common.config import TrainConfig
from ..common.training import train_on_labels
from .data import EChatDataset
from .model import EChatModel

logger = logging.getLogger(__name__)


def warm_up_emotion(
    model: EChatModel,
    dataset: EChatDataset,
    config: TrainConfig,
    progress: Any | None = None,
    steps: int | None = None,
) -> list[float]:
    """Train the emotion layer weights and the emotion head on the labelled clips of ``dataset``.

    AdamW at ``config.learning_rate`` (constant) and ``config.weight_decay``, batches of
    ``config.batch_size * config.grad_accum_steps`` clips drawn at random (seeded by ``config.seed``),
    for ``steps`` steps (default: the model's ``emotion_warmup_steps``). Clips without a known emotion are
    skipped.

    Args:
        model: A stage-2 model (its emotion modules are trained in place).
        dataset: The run's dataset (cached states or waveforms).
        config: The run's settings.
        progress: Something with ``update(n)`` (a tqdm bar), or ``None``.
        steps: Warm-up steps instead of ``model.config.emotion_warmup_steps``.

    Returns:
        The cross-entropy of every warm-up step.

    Raises:
        ConfigError: a stage-1 model, or no clip has an emotion label the model knows.
    """
    if not model.config.uses_emotion:
        raise ConfigError("emotion_warmup_steps is for stage 2: stage 1 does not train the emotion head. Set it to 0.")
    steps = model.config.emotion_warmup_steps if steps is None else steps
    known = [i for i, e in enumerate(dataset.examples) if dataset.label_index.get(e.emotion or "") is not None]
    if not known:
        raise ConfigError(
            "emotion_warmup_steps needs clips with an 'emotion' label among the model's labels "
            f"({', '.join(model.config.labels)}); this manifest has none. Set it to 0 or add labels."
        )
    means, labels = clip_layer_means(model, dataset, known)
    layer_weights, head = model.emotion_weights, model.emotion_head
    losses = train_on_labels(
        model,
        [*layer_weights.parameters(), *head.parameters()],
        lambda pick: head(layer_weights.mix(means[pick].transpose(0, 1))),
        labels,
        steps,
        config,
        train_module=head,
        progress=progress,
    )
    logger.info(
        "Emotion warm-up: %d steps on %d labelled clips, loss %.4f -> %.4f.",
        len(losses),
        len(labels),
        losses[0],
        losses[-1],
    )
    return losses


def clip_layer_means(model: EChatModel, dataset: EChatDataset, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per clip, the time mean of each normalised hidden layer, and the clip's emotion index.

    The emotion embedding is the frame mean of a weighted sum of normalised layers, and both are linear,
    so it equals the weighted sum of these means: ``model.emotion_weights.mix(means.transpose(0, 1))``.

    Returns:
        ``(means, labels)``: ``(clips, layers, d)`` float32 and ``(clips,)`` long, on the model's device.
    """
    rows, labels = [], []
    with torch.no_grad():
        for index in indices:
            item = dataset[index]
            states = item.get("states")
            if states is None:
                wave = item["wave"].to(model.device)
                batch_states, lengths = model.encoder([wave])
                states = batch_states[:, 0, : int(lengths[0])]
            rows.append(model.emotion_weights.normed(states.to(model.device)).mean(dim=1))
            labels.append(int(item["emotion"]))
    return torch.stack(rows), torch.tensor(labels, dtype=torch.long, device=model.device)
