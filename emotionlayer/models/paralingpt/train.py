"""Train ParalinGPT's prefix adapter with Hugging Face accelerate (CPU, one GPU, or many).

Run it with ``emotionlayer paralingpt train`` (one process) or ``accelerate launch -m emotionlayer paralingpt
train ...`` (several GPUs). The loop follows E-chat's trainer and reuses its pieces (learning-rate
schedule, length-bucketed batches, feature cache, optimizer files), so a run is repeatable and resumable
the same way: the batch order of epoch ``e`` depends only on ``(seed, e)``, dropout is reseeded from
``(seed, step)`` before every optimizer step, and ``resume=True`` after a kill gives the same losses as a
run that was never stopped.

Example::

    from emotionlayer.models.paralingpt import ParalinGPTConfig, train_paralingpt

    train_paralingpt("stage2.jsonl", "paralingpt", ParalinGPTConfig(), split="train")
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Union

import torch

from ...errors import ConfigError, MissingDependencyError
from ..common.checkpoint import CONFIG_FILE, list_checkpoints, load_checkpoint, write_json_atomic
from ..common.config import TrainConfig
from ..common.features import FeatureCache, batches_per_epoch, bucketed_batches, shard_batches
from ..echat.train import SUMMARY_FILE, TrainResult, _mixed_precision, _step_seed, _trainable_groups, learning_rate
from .checkpoint import FOLDER, config_dict, read_config, save_model_folder
from .config import ParalinGPTConfig, default_train_config
from .data import ParalinGPTDataset, ParalinGPTExample, collate, data_fingerprint, feature_statistics, load_examples
from .model import ParalinGPTModel, build_model

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

__all__ = ["TrainResult", "train_paralingpt"]


def _check_resume(out: Path, model_config: ParalinGPTConfig, train_config: TrainConfig) -> None:
    saved_model, saved_train = read_config(out)
    if saved_model != model_config or saved_train != train_config:
        saved = config_dict(saved_model, saved_train)
        given = config_dict(model_config, train_config)
        changed = sorted(
            f"{section}.{key}"
            for section in ("model", "train")
            for key in set(saved.get(section, {})) | set(given.get(section, {}))
            if saved.get(section, {}).get(key) != given.get(section, {}).get(key)
        )
        raise ConfigError(
            f"--resume: the settings differ from the run in {out} ({', '.join(changed)}). Resume with the same "
            "options (the saved ones are in its config.json), or start a new run in another --out folder."
        )


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

    Returns:
        A :class:`~emotionlayer.models.echat.train.TrainResult`.

    Raises:
        ConfigError: bad settings, a changed run on ``resume``, or an ``out`` that already holds a run.
    """
    try:
        from accelerate import Accelerator
        from accelerate.utils import set_seed
    except ImportError as exc:
        raise MissingDependencyError("accelerate", "transformers", "ParalinGPT training") from exc
    from tqdm.auto import tqdm

    model_config = model_config or ParalinGPTConfig()
    train_config = train_config or default_train_config()
    out = Path(out)
    accelerator = Accelerator(mixed_precision=_mixed_precision(train_config.mixed_precision))
    main = accelerator.is_main_process
    rank, world = accelerator.process_index, accelerator.num_processes

    checkpoints = list_checkpoints(out)
    if (out / CONFIG_FILE).is_file() and not resume:
        raise ConfigError(
            f"{out} already holds a ParalinGPT run. Pass --resume to continue it, or choose another --out folder."
        )
    if resume and (out / CONFIG_FILE).is_file():
        _check_resume(out, model_config, train_config)

    device = str(accelerator.device)
    llm_dtype = train_config.llm_dtype
    if llm_dtype == "auto":
        llm_dtype = "bfloat16" if accelerator.device.type == "cuda" else "float32"
    set_seed(train_config.seed)
    model = build_model(model_config, device=device, llm_dtype=llm_dtype)
    if train_config.gradient_checkpointing:
        model.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    max_seconds = min(model_config.max_audio_seconds, model.encoder.max_seconds)
    if isinstance(manifest, (str, os.PathLike)):
        examples = load_examples(manifest, model_config.labels, max_seconds, split, pipeline_config)
    else:
        examples = list(manifest)
    if not examples:
        raise ConfigError("No training turns. Pass a manifest with at least one row.")

    cache = None
    keys: dict[str, str] = {}
    if train_config.cache_features:
        from ...assets import cache_dir

        folder = train_config.cache_dir or str(cache_dir() / "echat-features")
        cache = FeatureCache(folder, model.encoder)
        share = math.ceil(len(examples) / world)
        with tqdm(total=share, desc="encoder features", disable=not (progress and main), leave=False) as bar:
            keys = cache.prepare(examples, rank, world, progress=bar.update)  # type: ignore[arg-type]
        accelerator.wait_for_everyone()
    dataset = ParalinGPTDataset(examples, model, cache=cache, keys=keys)
    lengths = [e.seconds for e in examples]
    if model_config.standardise:
        model.set_feature_stats(*feature_statistics(model, dataset))  # a resumed run loads the same ones

    per_epoch = batches_per_epoch(len(examples), train_config.batch_size, train_config.bucket_size, world)
    if per_epoch == 0:
        raise ConfigError(f"{len(examples)} turns make no batch for {world} processes. Lower batch_size.")
    steps_per_epoch = max(1, per_epoch // train_config.grad_accum_steps)
    total_steps = train_config.max_steps or train_config.epochs * steps_per_epoch

    optimizer = torch.optim.AdamW(
        _trainable_groups(model, train_config.weight_decay),  # type: ignore[arg-type]
        lr=train_config.learning_rate,
        betas=(0.9, 0.98),
    )
    step = 0
    losses: list[float] = []
    fingerprint = data_fingerprint(examples)
    if resume and checkpoints:
        weights, optimizer_state, state = load_checkpoint(checkpoints[-1])
        if state.get("data") != fingerprint:
            raise ConfigError(
                f"--resume: the training turns differ from those of the run in {out}. Resume with the same manifest "
                "and --split, or start a new run in another --out folder."
            )
        model.load_trainable_state_dict(weights)
        optimizer.load_state_dict(optimizer_state)
        step, losses = int(state["step"]), [float(x) for x in state["losses"]]
        logger.info("Resumed %s at step %d.", out, step)
    resumed_from = step
    if main:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / CONFIG_FILE, config_dict(model_config, train_config))

    prepared, optimizer = accelerator.prepare(model, optimizer)
    unwrapped: ParalinGPTModel = accelerator.unwrap_model(prepared)
    params = [p for p in unwrapped.parameters() if p.requires_grad]

    def micro_batches(start: int) -> Iterator[Any]:
        """Micro-batches from global index ``start`` on, epoch after epoch."""
        epoch, offset = divmod(start, per_epoch)
        while True:
            plan = shard_batches(
                bucketed_batches(lengths, train_config.batch_size, train_config.seed, epoch, train_config.bucket_size),
                rank,
                world,
            )[:per_epoch]
            loader = torch.utils.data.DataLoader(
                dataset, batch_sampler=plan[offset:], collate_fn=collate, num_workers=train_config.num_workers
            )
            yield from loader
            epoch, offset = epoch + 1, 0

    def save(at_step: int) -> None:
        if main:
            state = {"step": at_step, "losses": losses, "data": fingerprint, "examples": len(examples)}
            FOLDER.save_checkpoint(
                out, at_step, unwrapped.trainable_state_dict(), optimizer.state_dict(), state, model_config, train_config
            )
        accelerator.wait_for_everyone()

    batches = micro_batches(step * train_config.grad_accum_steps)
    prepared.train()
    times: list[float] = []
    bar = tqdm(total=total_steps, initial=step, desc="ParalinGPT", disable=not (progress and main))
    try:
        while step < total_steps:
            started = time.perf_counter()
            set_seed(_step_seed(train_config.seed, step), device_specific=True)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total_steps, train_config)
            optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for k in range(train_config.grad_accum_steps):
                batch = next(batches).to(accelerator.device)
                sync = k == train_config.grad_accum_steps - 1
                with contextlib.nullcontext() if sync else accelerator.no_sync(prepared):
                    result = prepared(batch)
                    accelerator.backward(result.loss / train_config.grad_accum_steps)
                step_loss += float(result.loss.detach()) / train_config.grad_accum_steps
            if train_config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, train_config.max_grad_norm)
            optimizer.step()
            step += 1
            if world > 1:
                step_loss = float(accelerator.reduce(torch.tensor(step_loss, device=accelerator.device), "mean"))
            losses.append(step_loss)
            times.append(time.perf_counter() - started)
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}")
            if step % train_config.log_every == 0:
                recent = losses[-train_config.log_every :]
                logger.info("step %d/%d loss %.4f", step, total_steps, sum(recent) / len(recent))
            if train_config.save_every and step % train_config.save_every == 0 and step < total_steps:
                save(step)
            if callback is not None:
                callback(step, step_loss)
    finally:
        bar.close()
    save(step)
    if main:
        save_model_folder(out, unwrapped.trainable_state_dict(), model_config, train_config)
    seconds = sum(times[1:]) / len(times[1:]) if len(times) > 1 else (times[0] if times else float("nan"))
    result = TrainResult(
        out=out,
        steps=step,
        losses=losses,
        seconds_per_step=seconds,
        cache_hits=cache.hits if cache else 0,
        cache_misses=cache.misses if cache else 0,
        resumed_from=resumed_from,
    )
    if main:
        write_json_atomic(
            out / SUMMARY_FILE,
            {
                "steps": step,
                "final_loss": losses[-1] if losses else None,
                "losses": losses,
                "seconds_per_step": seconds,
                "examples": len(examples),
                "processes": world,
                "mixed_precision": accelerator.mixed_precision,
                "device": device,
            },
        )
    return result
