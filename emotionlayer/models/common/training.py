"""The training loop the speech LLMs share, on Hugging Face accelerate: the same code on a CPU, one GPU,
or many (``accelerate launch``: each process takes every N-th batch, and gradients are averaged).

A model hands a :class:`Trainer` (or :func:`run_training`) a :class:`Recipe` (how to build it, read its
manifest, make its dataset and batches, and write its folders); the trainer does the rest, identically for
every model, in named steps: set up, resume, step, save, finish.

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
from .features import FeatureCache, batches_per_epoch, bucketed_batches, feature_cache_dir, shard_batches

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


def train_on_labels(
    model: torch.nn.Module,
    params: Sequence[torch.nn.Parameter],
    logits: Callable[[torch.Tensor], torch.Tensor],
    labels: torch.Tensor,
    steps: int,
    config: TrainConfig,
    train_module: torch.nn.Module | None = None,
    progress: Any | None = None,
) -> list[float]:
    """Train ``params`` on the labels alone: the emotion warm-ups of E-chat and ParalinGPT.

    Each step draws ``config.batch_size * config.grad_accum_steps`` indices at random (seeded by
    ``config.seed``, as is dropout) and minimises the cross-entropy of ``logits(indices)`` against
    ``labels[indices]`` with AdamW at ``config.learning_rate`` (constant) and ``config.weight_decay``.
    ``train_module`` (default ``model``) is in training mode meanwhile and restored after; ``model``'s
    gradients are cleared at the end. ``progress`` (a tqdm bar, or ``None``) advances once a step.

    Returns:
        The cross-entropy of every step.
    """
    train_module = model if train_module is None else train_module
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay, betas=(0.9, 0.98))
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # dropout
    batch_size = config.batch_size * config.grad_accum_steps
    was_training = train_module.training
    train_module.train()
    losses: list[float] = []
    try:
        for _ in range(steps):
            pick = torch.randint(len(labels), (batch_size,), generator=generator).to(labels.device)
            loss = torch.nn.functional.cross_entropy(logits(pick).float(), labels[pick])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress.update(1)
    finally:
        train_module.train(was_training)
        model.zero_grad(set_to_none=True)
    return losses


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
    """What one model gives the :class:`Trainer`.

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


class Trainer:
    """One training run of a model by its :class:`Recipe`, as named steps a reader can follow from the top.

    ``run(manifest)`` is :meth:`set_up` -> :meth:`resume` -> :meth:`step` until ``total_steps`` (with
    :meth:`save` every ``save_every`` steps) -> :meth:`finish`. Each step can also be called alone (tests
    do), as long as the order is kept.

    Args:
        recipe: The model's part.
        out: Folder for checkpoints and the finished model.
        model_config: The model's config (saved in ``config.json``; it has ``max_audio_seconds``).
        train_config: How to train.
        resume: Continue the run in ``out`` from its newest checkpoint (a fresh start if it has none).
        progress: Show progress bars (main process only).
        callback: Called as ``callback(step, loss)`` after every optimizer step.
    """

    def __init__(
        self,
        recipe: Recipe,
        out: PathLike,
        model_config: Any,
        train_config: TrainConfig,
        resume: bool = False,
        progress: bool = True,
        callback: Callable[[int, float], None] | None = None,
    ) -> None:
        self.recipe = recipe
        self.out = Path(out)
        self.model_config = model_config
        self.config = train_config
        self.resuming = resume
        self.progress = progress
        self.callback = callback
        self.step_count = 0
        self.resumed_from = 0
        self.total_steps = 0
        self.losses: list[float] = []
        self.times: list[float] = []

    def run(self, manifest: PathLike | Sequence[Any]) -> TrainResult:
        """Train on ``manifest`` (a path read by ``recipe.load_examples``, or ready examples) and save the model."""
        self.set_up(manifest)
        self.resume()
        bar = self._bar(total=self.total_steps, initial=self.step_count, desc=self.recipe.label)
        try:
            while self.step_count < self.total_steps:
                loss = self.step()
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}")
                self._log()
                if self.config.save_every and self.step_count % self.config.save_every == 0:
                    if self.step_count < self.total_steps:
                        self.save()
                if self.callback is not None:
                    self.callback(self.step_count, loss)
        finally:
            bar.close()
        return self.finish()

    # -- set-up ---------------------------------------------------------------------------------------

    def set_up(self, manifest: PathLike | Sequence[Any]) -> None:
        """Start accelerate, check ``out``, build the model, read the examples, cache the encoder's
        features, and make the dataset, the batch plan and the optimizer.

        Raises:
            ConfigError: an ``out`` that already holds a run (without ``resume``), a changed run on
                ``resume``, no examples, or too few for one batch.
        """
        self._start_accelerator()
        self._check_out()
        self.model = self._build_model()
        self.examples = self._read_examples(manifest)
        self.cache, keys = self._cache_features()
        self.dataset = self.recipe.dataset(self.model, self.examples, self.cache, keys)
        if self.recipe.prepare is not None:
            self.recipe.prepare(self.model, self.dataset)
        self._plan_steps()
        self.optimizer = torch.optim.AdamW(
            trainable_groups(self.model, self.config.weight_decay), lr=self.config.learning_rate, betas=(0.9, 0.98)
        )
        self.fingerprint = self.recipe.fingerprint(self.examples)

    def _start_accelerator(self) -> None:
        try:
            from accelerate import Accelerator
            from accelerate.utils import DistributedDataParallelKwargs
        except ImportError as exc:
            raise MissingDependencyError("accelerate", "transformers", f"{self.recipe.name} training") from exc
        find_unused = self.recipe.find_unused_parameters
        handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused else []
        self.accelerator = Accelerator(
            mixed_precision=mixed_precision(self.config.mixed_precision), kwargs_handlers=handlers
        )
        self.main = self.accelerator.is_main_process
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.device = str(self.accelerator.device)

    def _check_out(self) -> None:
        self.checkpoints = list_checkpoints(self.out)
        holds_run = (self.out / CONFIG_FILE).is_file()
        if holds_run and not self.resuming:
            raise ConfigError(
                f"{self.out} already holds {self.recipe.folder.name} run. Pass --resume to continue it, or choose "
                "another --out folder."
            )
        if holds_run:
            check_resume(self.out, self.recipe.folder, self.model_config, self.config)

    def _build_model(self) -> Any:
        from accelerate.utils import set_seed

        llm_dtype = self.config.llm_dtype
        if llm_dtype == "auto":
            llm_dtype = "bfloat16" if self.accelerator.device.type == "cuda" else "float32"
        set_seed(self.config.seed)
        model = self.recipe.build(self.device, llm_dtype)
        if self.config.gradient_checkpointing:
            model.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return model

    def _read_examples(self, manifest: PathLike | Sequence[Any]) -> list[Any]:
        max_seconds = min(self.model_config.max_audio_seconds, self.model.encoder.max_seconds)
        if isinstance(manifest, (str, os.PathLike)):
            examples = self.recipe.load_examples(manifest, max_seconds)
        else:
            examples = list(manifest)
        if not examples:
            raise ConfigError(f"No training {self.recipe.unit}. Pass a manifest with at least one row.")
        return examples

    def _cache_features(self) -> tuple[FeatureCache | None, dict[str, str]]:
        """The frozen encoder's features, each process computing its share of the missing ones."""
        if not (self.config.cache_features and self.recipe.cache_features):
            return None, {}
        cache = FeatureCache(feature_cache_dir(self.config.cache_dir), self.model.encoder)
        share = math.ceil(len(self.examples) / self.world)
        with self._bar(total=share, desc="encoder features", leave=False) as bar:
            keys = cache.prepare(self.examples, self.rank, self.world, progress=bar.update)
        self.accelerator.wait_for_everyone()
        return cache, keys

    def _plan_steps(self) -> None:
        config = self.config
        self.per_epoch = batches_per_epoch(len(self.examples), config.batch_size, config.bucket_size, self.world)
        if self.per_epoch == 0:
            raise ConfigError(
                f"{len(self.examples)} {self.recipe.unit} make no batch for {self.world} processes. Lower batch_size."
            )
        steps_per_epoch = max(1, self.per_epoch // config.grad_accum_steps)
        self.total_steps = config.max_steps or config.epochs * steps_per_epoch

    # -- resume ---------------------------------------------------------------------------------------

    def resume(self) -> None:
        """Load the newest checkpoint when resuming (else run the recipe's ``before_first_step``), write
        ``config.json``, and get the model and optimizer ready for the loop.

        Raises:
            ConfigError: the checkpoint was trained on other examples.
        """
        if self.resuming and self.checkpoints:
            self._load_checkpoint(self.checkpoints[-1])
        self.resumed_from = self.step_count
        if self.recipe.before_first_step is not None and self.step_count == 0:
            self.recipe.before_first_step(self.model, self.dataset, self.config, self.progress and self.main)
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.out / CONFIG_FILE, self.recipe.folder.config_dict(self.model_config, self.config))
        self.prepared, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        self.unwrapped = self.accelerator.unwrap_model(self.prepared)
        self.params = [p for p in self.unwrapped.parameters() if p.requires_grad]
        self.batches = self._micro_batches(self.step_count * self.config.grad_accum_steps)
        self.prepared.train()

    def _load_checkpoint(self, folder: Path) -> None:
        weights, optimizer_state, state = load_checkpoint(folder)
        if state.get("data") != self.fingerprint:
            raise ConfigError(
                f"--resume: the training {self.recipe.unit} differ from those of the run in {self.out}. Resume with "
                "the same manifest and --split, or start a new run in another --out folder."
            )
        self.model.load_trainable_state_dict(weights)
        self.optimizer.load_state_dict(optimizer_state)
        self.step_count, self.losses = int(state["step"]), [float(x) for x in state["losses"]]
        logger.info("Resumed %s at step %d.", self.out, self.step_count)

    def _micro_batches(self, start: int) -> Iterator[Any]:
        """Micro-batches from global index ``start`` on, epoch after epoch (the order depends only on
        ``(seed, epoch)``)."""
        config = self.config
        lengths = [e.seconds for e in self.examples]
        epoch, offset = divmod(start, self.per_epoch)
        while True:
            batches = bucketed_batches(lengths, config.batch_size, config.seed, epoch, config.bucket_size)
            plan = shard_batches(batches, self.rank, self.world)[: self.per_epoch]
            loader = torch.utils.data.DataLoader(
                self.dataset,
                batch_sampler=plan[offset:],
                collate_fn=self.recipe.collate,
                num_workers=config.num_workers,
            )
            yield from loader
            epoch, offset = epoch + 1, 0

    # -- step -----------------------------------------------------------------------------------------

    def step(self) -> float:
        """One optimizer step (``grad_accum_steps`` micro-batches); returns its mean loss."""
        from accelerate.utils import set_seed

        config, accelerator = self.config, self.accelerator
        started = time.perf_counter()
        set_seed(step_seed(config.seed, self.step_count), device_specific=True)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step_count, self.total_steps, config)
        self.optimizer.zero_grad(set_to_none=True)
        loss = 0.0
        for k in range(config.grad_accum_steps):
            batch = next(self.batches).to(accelerator.device)
            sync = k == config.grad_accum_steps - 1
            with contextlib.nullcontext() if sync else accelerator.no_sync(self.prepared):
                result = self.prepared(batch)
                accelerator.backward(result.loss / config.grad_accum_steps)
            loss += float(result.loss.detach()) / config.grad_accum_steps
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(self.params, config.max_grad_norm)
        self.optimizer.step()
        self.step_count += 1
        if self.world > 1:
            loss = float(accelerator.reduce(torch.tensor(loss, device=accelerator.device), "mean"))
        self.losses.append(loss)
        self.times.append(time.perf_counter() - started)
        return loss

    def _log(self) -> None:
        if self.step_count % self.config.log_every == 0:
            recent = self.losses[-self.config.log_every :]
            logger.info("step %d/%d loss %.4f", self.step_count, self.total_steps, sum(recent) / len(recent))

    # -- save and finish ------------------------------------------------------------------------------

    def save(self) -> None:
        """Write a resumable checkpoint of the current step (main process; the others wait)."""
        if self.main:
            state = {
                "step": self.step_count,
                "losses": self.losses,
                "data": self.fingerprint,
                "examples": len(self.examples),
            }
            self.recipe.folder.save_checkpoint(
                self.out,
                self.step_count,
                self.unwrapped.trainable_state_dict(),
                self.optimizer.state_dict(),
                state,
                self.model_config,
                self.config,
            )
        self.accelerator.wait_for_everyone()

    def finish(self) -> TrainResult:
        """Save the last checkpoint, the model folder and the summary; return what the run did."""
        self.save()
        times = self.times
        seconds = sum(times[1:]) / len(times[1:]) if len(times) > 1 else (times[0] if times else float("nan"))
        if self.main:
            self.recipe.folder.save_model_folder(
                self.out, self.unwrapped.trainable_state_dict(), self.model_config, self.config
            )
            write_json_atomic(self.out / SUMMARY_FILE, self._summary(seconds))
        return TrainResult(
            out=self.out,
            steps=self.step_count,
            losses=self.losses,
            seconds_per_step=seconds,
            cache_hits=self.cache.hits if self.cache else 0,
            cache_misses=self.cache.misses if self.cache else 0,
            resumed_from=self.resumed_from,
        )

    def _summary(self, seconds_per_step: float) -> dict[str, Any]:
        return {
            "steps": self.step_count,
            "final_loss": self.losses[-1] if self.losses else None,
            "losses": self.losses,
            "seconds_per_step": seconds_per_step,
            "examples": len(self.examples),
            "processes": self.world,
            "mixed_precision": self.accelerator.mixed_precision,
            "device": self.device,
        }

    def _bar(self, **options: Any) -> Any:
        from tqdm.auto import tqdm

        return tqdm(disable=not (self.progress and self.main), **options)


def run_training(recipe: Recipe, manifest: PathLike | Sequence[Any], *args: Any, **kwargs: Any) -> TrainResult:
    """Train a model by its recipe and save the model folder: ``Trainer(recipe, *args, **kwargs).run(manifest)``.

    Args:
        recipe: The model's part.
        manifest: A manifest path (read by ``recipe.load_examples``) or ready examples.
        *args: :class:`Trainer`'s other arguments: ``out``, ``model_config``, ``train_config``, ``resume``...
        **kwargs: The same, by name.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError: bad settings, a changed run on ``resume``, or an ``out`` that already holds a run.
    """
    return Trainer(recipe, *args, **kwargs).run(manifest)
