"""Train E-chat with Hugging Face accelerate: the same code on a CPU, one GPU, or many.

Run it with ``emotionlayer echat train`` (single process) or ``accelerate launch -m emotionlayer echat
train ...`` (several GPUs; each process takes every N-th batch, and gradients are averaged).

The loop is the shared one (:func:`emotionlayer.models.common.training.run_training`), so a run is
repeatable and resumable:

* The batch order of epoch ``e`` depends only on ``(seed, e)``; dropout is reseeded from ``(seed, step)``
  before every optimizer step; the learning rate is a function of the step. A checkpoint therefore needs
  only the trainable weights, the optimizer state and the step, and ``resume=True`` after a kill gives the
  same losses as a run that was never stopped.
* Checkpoints go to ``out/checkpoints/step-NNNNNNNN`` every ``save_every`` steps (atomically; the newest
  ``keep_checkpoints`` are kept), and the finished model to ``out/config.json`` + ``out/model.safetensors``.

Example::

    from emotionlayer.models.echat import EChatConfig, TrainConfig, train_echat

    result = train_echat("asr_manifest.csv", "echat-stage1", EChatConfig(stage=1), TrainConfig(max_steps=2000))
    train_echat("replies.jsonl", "echat-stage2", EChatConfig(stage=2), TrainConfig(), init="echat-stage1")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Union

from ...errors import ConfigError
from ..common.checkpoint import load_weights
from ..common.config import TrainConfig
from ..common.features import FeatureCache
from ..common.training import Recipe, TrainResult, run_training
from .checkpoint import FOLDER, read_config
from .config import EChatConfig
from .data import EChatDataset, EChatExample, collate, data_fingerprint, load_examples
from .model import CTC_VOCAB_KEY, EChatModel, build_model

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

__all__ = ["TrainResult", "stage_config", "train_echat"]


def train_echat(
    manifest: PathLike | Sequence[EChatExample],
    out: PathLike,
    model_config: EChatConfig,
    train_config: TrainConfig | None = None,
    init: PathLike | None = None,
    resume: bool = False,
    split: str | None = None,
    progress: bool = True,
    callback: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train one E-chat stage and save the model folder.

    Args:
        manifest: A manifest path (see :mod:`emotionlayer.models.echat.data`) or ready examples.
        out: Folder for checkpoints and the finished model.
        model_config: The model (its ``stage`` says what is trained).
        train_config: How to train (defaults: :class:`TrainConfig`).
        init: A model folder whose weights start this run (a stage-1 model starts stage 2). Its encoder
            and LLM must be the ones ``model_config`` names.
        resume: Continue the run in ``out`` from its newest checkpoint (a fresh start if it has none).
        split: Train only on manifest rows whose ``split`` column has this value.
        progress: Show progress bars (main process only).
        callback: Called as ``callback(step, loss)`` after every optimizer step.

    Returns:
        A :class:`~emotionlayer.models.common.training.TrainResult`.

    Raises:
        ConfigError: bad settings, a changed run on ``resume``, or an ``out`` that already holds a run.
    """
    recipe = echat_recipe(model_config, init, split)
    return run_training(recipe, manifest, out, model_config, train_config or TrainConfig(), resume, progress, callback)


def echat_recipe(model_config: EChatConfig, init: PathLike | None = None, split: str | None = None) -> Recipe:
    """E-chat's part of the shared training loop: its model (started from ``init``), examples (of ``split``),
    dataset, batches and the optional emotion warm-up before the first step."""
    return Recipe(
        name="E-chat",
        label=f"E-chat stage {model_config.stage}",
        unit="clips",
        folder=FOLDER,
        build=partial(build_from_init, model_config, init),
        load_examples=lambda path, seconds: load_examples(path, model_config.stage, max_seconds=seconds, split=split),
        dataset=partial(target_dataset, model_config),
        collate=collate,
        fingerprint=data_fingerprint,
        cache_features=not model_config.unfreeze_encoder,
        find_unused_parameters=model_config.unfreeze_encoder,
        before_first_step=partial(warm_up, model_config),
    )


def check_init(init: PathLike, model_config: EChatConfig) -> None:
    """Refuse an ``init`` model folder trained with another encoder or LLM than ``model_config`` names.

    Raises:
        ConfigError: the encoder or the LLM differs.
    """
    init_model, _ = read_config(init)
    if (init_model.encoder, init_model.llm) != (model_config.encoder, model_config.llm):
        raise ConfigError(
            f"--init {init} was trained with encoder={init_model.encoder!r}, llm={init_model.llm!r}, but "
            "this run uses "
            f"encoder={model_config.encoder!r}, llm={model_config.llm!r}. Use the same ones (or no --init)."
        )


def build_from_init(model_config: EChatConfig, init: PathLike | None, device: str, llm_dtype: str) -> EChatModel:
    """The model to train: built from ``model_config``, then started from ``init``'s weights (those it has; a
    stage-1 model starts stage 2) when given."""
    if init is not None:
        check_init(init, model_config)
    model = build_model(model_config, device=device, llm_dtype=llm_dtype)
    if init is not None:
        weights = load_weights(init)
        if model.ctc_head is not None and "ctc_head.blank" not in weights:
            raise ConfigError(
                f"--init {init} has no CTC head: speech_tokens 'ctc' needs a model pre-aligned with --alignment "
                "ctc (or one trained from such a model with speech_tokens 'ctc')."
            )
        keep = {*dict(model.named_parameters()), CTC_VOCAB_KEY}  # the CTC classes go on with a CTC head
        loaded = model.load_trainable_state_dict({k: v for k, v in weights.items() if k in keep}, partial=True)
        logger.info("Started from %s (%d tensors).", init, len(loaded))
    return model


def target_dataset(
    model_config: EChatConfig,
    model: EChatModel,
    examples: list[EChatExample],
    cache: FeatureCache | None,
    keys: dict[str, str],
) -> EChatDataset:
    """The training set: each example with its target's token ids (with ``alignment="ctc"``, their tokens
    become the CTC objective's classes)."""
    targets = [model.target_ids(e.target) for e in examples]
    if model_config.alignment == "ctc":
        model.set_ctc_vocab([t for ids in targets for t in ids])
    return EChatDataset(examples, targets, model_config.labels, cache=cache, keys=keys)


def warm_up(model_config: EChatConfig, model: EChatModel, data: EChatDataset, config: TrainConfig, show: bool) -> None:
    """Train the emotion head alone for ``model_config.emotion_warmup_steps`` before the first step (none: 0)."""
    if not model_config.emotion_warmup_steps:
        return
    from tqdm.auto import tqdm

    from .warmup import warm_up_emotion

    with tqdm(total=model_config.emotion_warmup_steps, desc="emotion warm-up", disable=not show) as bar:
        warm_up_emotion(model, data, config, progress=bar)


def stage_config(
    stage: int,
    base: EChatConfig | None = None,
    overrides: dict[str, Any] | None = None,
) -> EChatConfig:
    """A model config for ``stage``: ``base`` (e.g. the ``--init`` model's) with ``overrides`` applied (the emotion
    warm-up is the run's own: 0 unless ``overrides`` sets it)."""
    data = (base or EChatConfig()).to_dict()
    data["emotion_warmup_steps"] = 0
    data["alignment"] = "lm"  # a CTC pre-alignment run is followed by the LLM's own loss unless asked again
    data.update(overrides or {})
    data["stage"] = stage
    if stage == 2:
        data["unfreeze_encoder"] = False
    return EChatConfig.from_dict(data)
