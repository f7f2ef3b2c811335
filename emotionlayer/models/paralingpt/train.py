"""Train ParalinGPT's prefix adapter with Hugging Face accelerate (CPU, one GPU, or many).

Run it with ``emotionlayer paralingpt train`` (one process) or ``accelerate launch -m emotionlayer paralingpt
train ...`` (several GPUs). The loop is the one E-chat's trainer uses too
(:func:`emotionlayer.models.common.training.run_training`: learning-rate schedule, length-bucketed
batches, feature cache, optimizer files), so a run is repeatable and resumable the same way: the batch
order of epoch ``e`` depends only on ``(seed, e)``, dropout is reseeded from ``(seed, step)`` before every
optimizer step, and ``resume=True`` after a kill gives the same losses as a run that was never stopped.

Example::

    from emotionlayer.models.paralingpt import ParalinGPTConfig, train_paralingpt

    train_paralingpt("stage2.jsonl", "paralingpt", ParalinGPTConfig(), split="train")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Union

from ..common.config import TrainConfig
from ..common.features import FeatureCache
from ..common.training import Recipe, TrainResult, run_training
from .checkpoint import FOLDER
from .config import ParalinGPTConfig, default_train_config
from .data import ParalinGPTDataset, ParalinGPTExample, collate, data_fingerprint, feature_statistics, load_examples
from .model import ParalinGPTModel, build_model

PathLike = Union[str, os.PathLike]

__all__ = ["TrainResult", "paralingpt_recipe", "train_paralingpt"]


def train_paralingpt(
    manifest: PathLike | Sequence[ParalinGPTExample],
    out: PathLike,
    model_config: ParalinGPTConfig | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    split: str | None = None,
    pipeline_config: Any = None,
    progress: bool = True,
    callback: Callable[[int, float], None] | None = None,
    warmup_manifest: PathLike | None = None,
) -> TrainResult:
    """Train the prefix adapter (layer weights + projector) on a manifest and save the model folder.

    Args:
        manifest: A manifest path (see :mod:`emotionlayer.models.paralingpt.data`) or ready examples.
        out: Folder for checkpoints and the finished model.
        model_config: The model (defaults: :class:`ParalinGPTConfig`).
        train_config: How to train (defaults: :func:`~emotionlayer.models.paralingpt.config.default_train_config`).
        resume: Continue the run in ``out`` from its newest checkpoint (a fresh start if it has none).
        split: Train only on manifest rows whose ``split`` column has this value.
        pipeline_config: The pipeline config whose empathy strategies give the response emotions
            (``None``: the packaged default).
        progress: Show progress bars (main process only).
        callback: Called as ``callback(step, loss)`` after every optimizer step.
        warmup_manifest: A manifest of more clips (``path``, ``emotion``; no reply needed) that the prefix
            warm-up trains on besides the training turns (rows with other labels are left out). Only with
            ``prefix_warmup_steps``; the language-model steps never read it.

    Returns:
        A :class:`~emotionlayer.models.common.training.TrainResult`.

    Raises:
        ConfigError: bad settings, a changed run on ``resume``, or an ``out`` that already holds a run.
    """
    config = model_config or ParalinGPTConfig()
    if warmup_manifest is not None and not config.prefix_warmup_steps:
        from ...errors import ConfigError

        raise ConfigError("A warm-up manifest needs the prefix warm-up: set prefix_warmup_steps (--prefix-warmup).")
    recipe = paralingpt_recipe(config, split, pipeline_config, warmup_manifest)
    return run_training(
        recipe, manifest, out, config, train_config or default_train_config(), resume, progress, callback
    )


def paralingpt_recipe(
    config: ParalinGPTConfig,
    split: str | None = None,
    pipeline_config: Any = None,
    warmup_manifest: PathLike | None = None,
) -> Recipe:
    """ParalinGPT's part of the shared training loop: its model, turns (of ``split``), dataset and batches
    (and the extra clips of ``warmup_manifest`` for the prefix warm-up)."""

    def dataset(
        model: ParalinGPTModel, examples: list[ParalinGPTExample], cache: FeatureCache | None, keys: dict[str, str]
    ) -> ParalinGPTDataset:
        return ParalinGPTDataset(examples, model, cache=cache, keys=keys)

    def prepare(model: ParalinGPTModel, data: ParalinGPTDataset) -> None:
        if config.standardise:
            model.set_feature_stats(*feature_statistics(model, data))  # a resumed run loads the same ones

    return Recipe(
        name="ParalinGPT",
        label="ParalinGPT",
        unit="turns",
        folder=FOLDER,
        build=lambda device, llm_dtype: build_model(config, device=device, llm_dtype=llm_dtype),
        load_examples=lambda path, seconds: load_examples(path, config.labels, seconds, split, pipeline_config),
        dataset=dataset,
        collate=collate,
        fingerprint=data_fingerprint,
        prepare=prepare,
        before_first_step=lambda model, data, train, show: warm_up(model, data, train, show, warmup_manifest),
    )


def warm_up(
    model: ParalinGPTModel,
    data: ParalinGPTDataset,
    config: TrainConfig,
    show: bool,
    warmup_manifest: PathLike | None = None,
) -> None:
    """Train the prefix on the emotion labels alone for ``prefix_warmup_steps`` before the first step (none: 0),
    on the training turns and the clips of ``warmup_manifest``."""
    if not model.config.prefix_warmup_steps:
        return
    from tqdm.auto import tqdm

    from .warmup import extra_dataset, warm_up_prefix

    extra = extra_dataset(model, data, warmup_manifest) if warmup_manifest is not None else None
    with tqdm(total=model.config.prefix_warmup_steps, desc="prefix warm-up", disable=not show) as bar:
        warm_up_prefix(model, data, config, progress=bar, extra=extra)
