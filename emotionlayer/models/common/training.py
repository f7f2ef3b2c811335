"""The training loop the speech LLMs share, on Hugging Face accelerate: the same code on a CPU, one GPU,
or many (``accelerate launch``: each process takes every N-th batch, and gradients are averaged).

A model hands :func:`run_training` a :class:`Recipe` (how to build it, read its manifest, make its
dataset and batches, and write its folders); the loop does the rest, identically for every model:

* The batch order of epoch ``e`` depends only on ``(seed, e)``; dropout is reseeded from ``(seed, step)``
  before every optimizer step; the learning rate is a function of the step. A checkpoint therefore needs
  only the trainable weights, the optimizer state and the step, and ``resume=True`` after a kill gives the
  same losses as a run that was never stopped.
* Checkpoints go to ``out/checkpoints/step-NNNNNNNN`` every ``save_every`` steps (atomically; the newest
  ``keep_checkpoints`` are kept), the finished model to ``out/config.json`` + ``out/model.safetensors``,
  and a summary (losses, timing) to ``out/training.json``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch

from ...errors import ConfigError, MissingDependencyError
from .checkpoint import CONFIG_FILE, ModelFolder, list_checkpoints, load_checkpoint, write_json_atomic
from .config import TrainConfig
from .features import FeatureCache, batches_per_epoch, bucketed_batches, shard_batches

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: Written into ``--out`` when a run ends: losses, steps and timing.
SUMMARY_FILE = "training.json"


@dataclass
class TrainResult:
    """What a training run did.

    Attributes:
        out: The model folder.
        steps: Optimizer steps taken in total (also those before a resume).
        losses: Mean loss of every optimizer step, from step 1.
        seconds_per_step: Mean wall time of the steps this process ran (the first one excluded).
        cache_hits: Clips whose features were already cached.
        cache_misses: Clips whose features were computed.
        resumed_from: The step the run resumed from (0: a fresh run).
    """

    out: Path
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds_per_step: float = float("nan")
    cache_hits: int = 0
    cache_misses: int = 0
    resumed_from: int = 0


def learning_rate(step: int, total: int, config: TrainConfig) -> float:
    """Rate of optimizer step ``step`` (0-based): linear warm-up, then a cosine down to 10% of the peak."""
    peak = config.learning_rate
    if config.warmup_steps and step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    span = max(1, total - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def step_seed(seed: int, step: int) -> int:
    """The seed everything random is reset to before optimizer step ``step`` of a run seeded ``seed``."""
    return (int(seed) * 1_000_003 + int(step)) % (2**31 - 1)


def mixed_precision(setting: str) -> str:
    """accelerate's mixed precision for a :attr:`TrainConfig.mixed_precision` setting (``auto``: bf16 on a GPU
    that has it, else none)."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def trainable_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups of the parameters that train: matrices decay, biases and gains do not."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def check_resume(out: Path, folder: ModelFolder, model_config: Any, train_config: TrainConfig) -> None:
    """Refuse to resume the run in ``out`` with other settings than the saved ones (naming those that differ).

    Raises:
        ConfigError: a model or train setting differs from ``out/config.json``.
    """
    saved_model, saved_train = folder.read_config(out)
    if saved_model != model_config or saved_train != train_config:
        saved = folder.config_dict(saved_model, saved_train)
        given = folder.config_dict(model_config, train_config)
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


@dataclass(frozen=True)
class Recipe:
    """What one model gives :func:`run_training`.

    Attributes:
        name: The model's name in messages (``E-chat``).
        label: The progress bar's label.
        unit: What a training example is called in messages (``clips``, ``turns``).
        folder: How the model's folders are written and read.
        build: ``build(device, llm_dtype)``: a fresh model on ``device`` (torch is seeded just before);
            it may also load starting weights.
        load_examples: ``load_examples(manifest, max_seconds)``: the training examples of a manifest
            (each with ``id``, ``path`` and ``seconds``).
        dataset: ``dataset(model, examples, cache, keys)``: the ``torch.utils.data.Dataset`` of the examples.
        collate: Stacks dataset items into a batch (with ``.to(device)``; the model's forward returns an
            object with ``.loss``).
        fingerprint: A hash of the examples (a resumed run must see the same ones).
        cache_features: Cache the frozen encoder's hidden states (off when the encoder trains).
        find_unused_parameters: Tell distributed data parallel that some parameters may get no gradient.
        prepare: ``prepare(model, dataset)``, run once the dataset exists and before the optimizer (e.g.
            feature statistics); ``None`` for none.
        before_first_step: ``before_first_step(model, dataset, train_config, progress)``, run once at the
            start of a fresh run (never on resume, so a resumed run repeats an unbroken one), before the
            first optimizer step (e.g. E-chat's emotion warm-up); ``progress`` says whether to show a bar.
    """

    name: str
    label: str
    unit: str
    folder: ModelFolder
    build: Callable[[str, str], Any]
    load_examples: Callable[[PathLike, float], list[Any]]
    dataset: Callable[[Any, list[Any], FeatureCache | None, dict[str, str]], Any]
    collate: Callable[[Sequence[dict[str, Any]]], Any]
    fingerprint: Callable[[Sequence[Any]], str]
    cache_features: bool = True
    find_unused_parameters: bool = False
    prepare: Callable[[Any, Any], None] | None = None
    before_first_step: Callable[[Any, Any, TrainConfig, bool], None] | None = None


def run_training(
    recipe: Recipe,
    manifest: PathLike | Sequence[Any],
    out: PathLike,
    model_config: Any,
    train_config: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a model by its recipe and save the model folder (the loop of the module docstring).

    Args:
        recipe: The model's part.
        manifest: A manifest path (read by ``recipe.load_examples``) or ready examples.
        out: Folder for checkpoints and the finished model.
        model_config: The model's config (saved in ``config.json``; it has ``max_audio_seconds``).
        train_config: How to train.
        resume: Continue the run in ``out`` from its newest checkpoint (a fresh start if it has none).
        progress: Show progress bars (main process only).
        callback: Called as ``callback(step, loss)`` after every optimizer step.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError: bad settings, a changed run on ``resume``, or an ``out`` that already holds a run.
    """
    try:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed
    except ImportError as exc:
        raise MissingDependencyError("accelerate", "transformers", f"{recipe.name} training") from exc
    from tqdm.auto import tqdm

    out = Path(out)
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if recipe.find_unused_parameters else []
    accelerator = Accelerator(mixed_precision=mixed_precision(train_config.mixed_precision), kwargs_handlers=handlers)
    main = accelerator.is_main_process
    rank, world = accelerator.process_index, accelerator.num_processes

    checkpoints = list_checkpoints(out)
    if (out / CONFIG_FILE).is_file() and not resume:
        raise ConfigError(
            f"{out} already holds {recipe.folder.name} run. Pass --resume to continue it, or choose another --out folder."
        )
    if resume and (out / CONFIG_FILE).is_file():
        check_resume(out, recipe.folder, model_config, train_config)

    device = str(accelerator.device)
    llm_dtype = train_config.llm_dtype
    if llm_dtype == "auto":
        llm_dtype = "bfloat16" if accelerator.device.type == "cuda" else "float32"
    set_seed(train_config.seed)
    model = recipe.build(device, llm_dtype)
    if train_config.gradient_checkpointing:
        model.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    max_seconds = min(model_config.max_audio_seconds, model.encoder.max_seconds)
    if isinstance(manifest, (str, os.PathLike)):
        examples = recipe.load_examples(manifest, max_seconds)
    else:
        examples = list(manifest)
    if not examples:
        raise ConfigError(f"No training {recipe.unit}. Pass a manifest with at least one row.")

    cache = None
    keys: dict[str, str] = {}
    if train_config.cache_features and recipe.cache_features:
        from ...assets import cache_dir

        folder = train_config.cache_dir or str(cache_dir() / "echat-features")
        cache = FeatureCache(folder, model.encoder)
        share = math.ceil(len(examples) / world)
        with tqdm(total=share, desc="encoder features", disable=not (progress and main), leave=False) as bar:
            keys = cache.prepare(examples, rank, world, progress=bar.update)
        accelerator.wait_for_everyone()
    dataset = recipe.dataset(model, examples, cache, keys)
    lengths = [e.seconds for e in examples]
    if recipe.prepare is not None:
        recipe.prepare(model, dataset)

    per_epoch = batches_per_epoch(len(examples), train_config.batch_size, train_config.bucket_size, world)
    if per_epoch == 0:
        raise ConfigError(f"{len(examples)} {recipe.unit} make no batch for {world} processes. Lower batch_size.")
    steps_per_epoch = max(1, per_epoch // train_config.grad_accum_steps)
    total_steps = train_config.max_steps or train_config.epochs * steps_per_epoch

    optimizer = torch.optim.AdamW(
        trainable_groups(model, train_config.weight_decay), lr=train_config.learning_rate, betas=(0.9, 0.98)
    )
    step = 0
    losses: list[float] = []
    fingerprint = recipe.fingerprint(examples)
    if resume and checkpoints:
        weights, optimizer_state, state = load_checkpoint(checkpoints[-1])
        if state.get("data") != fingerprint:
            raise ConfigError(
                f"--resume: the training {recipe.unit} differ from those of the run in {out}. Resume with the same "
                "manifest and --split, or start a new run in another --out folder."
            )
        model.load_trainable_state_dict(weights)
        optimizer.load_state_dict(optimizer_state)
        step, losses = int(state["step"]), [float(x) for x in state["losses"]]
        logger.info("Resumed %s at step %d.", out, step)
    resumed_from = step
    if recipe.before_first_step is not None and step == 0:
        recipe.before_first_step(model, dataset, train_config, progress and main)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / CONFIG_FILE, recipe.folder.config_dict(model_config, train_config))

    prepared, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(prepared)
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
                dataset, batch_sampler=plan[offset:], collate_fn=recipe.collate, num_workers=train_config.num_workers
            )
            yield from loader
            epoch, offset = epoch + 1, 0

    def save(at_step: int) -> None:
        if main:
            state = {"step": at_step, "losses": losses, "data": fingerprint, "examples": len(examples)}
            recipe.folder.save_checkpoint(
                out, at_step, unwrapped.trainable_state_dict(), optimizer.state_dict(), state, model_config, train_config
            )
        accelerator.wait_for_everyone()

    batches = micro_batches(step * train_config.grad_accum_steps)
    prepared.train()
    times: list[float] = []
    bar = tqdm(total=total_steps, initial=step, desc=recipe.label, disable=not (progress and main))
    try:
        while step < total_steps:
            started = time.perf_counter()
            set_seed(step_seed(train_config.seed, step), device_specific=True)
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
        recipe.folder.save_model_folder(out, unwrapped.trainable_state_dict(), model_config, train_config)
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
