"""Fine-tune the reply writer: low-rank adapters (peft) on the packaged LLM, trained on the prompts the
pipeline renders, on a CPU.

Each training example is one turn as the pipeline would see it: the prompt template (``empathetic.j2`` by
default) renders the conversation so far, the user's words and how they were said (with the strategy of
that emotion and its example), and the target is the reply a person wrote for it (StyleTalk). The loss is
on the reply's tokens only.

Why it fits on two cores: the adapters sit on the top ``train_layers`` decoder layers only. The layers
below are frozen and see no adapter, so their output for a prompt never changes during training; it is
computed once and cached on disk (:class:`HiddenStateCache`), and every step runs only the top layers,
forward and backward, and the output head on the reply's positions. With 10 of SmolLM2-135M's 30 layers
this is about 4x less work per step than training through the whole model.

Runs save checkpoints (adapter, optimizer, step) every ``save_every`` steps and ``resume=True`` carries on
from the newest; a killed run loses at most ``save_every`` steps. The result is written in two forms that
the packaged backends load (:mod:`emotionlayer.components.llm.adapters`): a peft folder for transformers
and a GGUF LoRA for llama.cpp.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

from ...errors import ConfigError, MissingDependencyError, TrainingError
from ...files import write_text_atomic

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: The linear layers of a Llama-style decoder layer that get adapters.
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TuneConfig:
    """How to fine-tune the reply writer.

    Attributes:
        rank: LoRA rank.
        alpha: LoRA alpha (the update is scaled by ``alpha / rank``).
        dropout: Dropout on the adapters' input.
        train_layers: Adapters on this many top decoder layers; the rest is frozen and its output cached.
        steps: Optimizer steps.
        batch_size: Examples per step.
        learning_rate: Peak learning rate (linear warm-up over ``warmup`` steps, then cosine to 10%).
        warmup: Warm-up steps.
        weight_decay: AdamW weight decay on the adapters.
        max_tokens: Examples longer than this (prompt + reply) are left out.
        seed: Seed of the batch order, the adapters' initialisation and dropout.
        save_every: Steps between checkpoints.
        threads: torch threads (``None``: torch's default).
    """

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    train_layers: int = 10
    steps: int = 200
    batch_size: int = 8
    learning_rate: float = 3e-4
    warmup: int = 10
    weight_decay: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    save_every: int = 20
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("rank", "alpha", "train_layers", "steps", "batch_size", "save_every", "max_tokens"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"Fine-tuning option {name} must be at least 1, not {getattr(self, name)}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"Fine-tuning dropout must be in [0, 1), not {self.dropout}.")

    def learning_rate_at(self, step: int) -> float:
        """Learning rate of optimizer step ``step`` (0-based)."""
        if step < self.warmup:
            return self.learning_rate * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


@dataclass(frozen=True)
class ReplyExample:
    """One turn to learn from: the chat messages the pipeline renders and the reply to write."""

    id: str
    messages: tuple[dict[str, str], ...]
    reply: str


@dataclass
class TuneResult:
    """What a fine-tuning run did: steps, losses, timing, and where the adapter was written."""

    out: Path
    steps: int
    examples: int
    losses: list[float] = field(default_factory=list)
    seconds_per_step: float | None = None
    cache_seconds: float | None = None
    resumed_from: int = 0


def examples_from_styletalk(rows: Sequence[Any], config: Any = None) -> list[ReplyExample]:
    """Render StyleTalk rows into the pipeline's prompts (``config``'s template, strategies and history)."""
    from ...config import PipelineConfig
    from ...prompting import PromptRenderer

    config = PipelineConfig.coerce(config)
    renderer = PromptRenderer.from_config(config)
    out = []
    for row in rows:
        prosody = row.prosody() if config.prompt.prosody else None
        rendered = renderer.render(row.text, row.emotion_prediction(), row.history(), prosody=prosody)
        out.append(ReplyExample(id=row.id, messages=tuple(rendered.messages), reply=row.reply))
    return out


def tokenize_example(tokenizer: Any, example: ReplyExample) -> tuple[list[int], int]:
    """Token ids of prompt + reply + end of turn, and how many of them are the prompt.

    The prompt is the chat template with the generation prompt (what the backends send); the reply follows
    it and ends with the template's end-of-turn token, so the model learns to stop.
    """
    prompt = tokenizer.apply_chat_template(list(example.messages), tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(
        [*example.messages, {"role": "assistant", "content": example.reply}], tokenize=False
    ).rstrip()
    if not full.startswith(prompt):
        raise ConfigError("The chat template renders the reply's turn differently from the generation prompt.")
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    reply_ids = tokenizer(full[len(prompt) :], add_special_tokens=False).input_ids
    return prompt_ids + reply_ids, len(prompt_ids)


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a base dependency
        raise MissingDependencyError("torch", purpose="fine-tuning") from exc
    return torch


def load_base(model_path: PathLike | None = None, gguf_file: str | None = None) -> tuple[Any, Any, str]:
    """The base LLM in float32 for training, its tokenizer, and an id of its weights (for caches).

    ``model_path`` is a transformers folder or a ``.gguf`` file; ``None`` is the packaged SmolLM2 GGUF.
    """
    torch = _torch()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("transformers", "transformers", purpose="fine-tuning") from exc
    from ...components.llm.packaged import packaged_gguf

    path = Path(model_path) if model_path is not None else packaged_gguf()
    if path.is_file() and path.suffix == ".gguf":
        path, gguf_file = path.parent, path.name
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kwargs)
    model.eval()
    weights = path / gguf_file if gguf_file else path / "config.json"
    identity = hashlib.sha256(f"{weights.resolve()}:{weights.stat().st_size}".encode()).hexdigest()[:16]
    return model, tokenizer, identity


class HiddenStateCache:
    """The frozen lower layers' output for each example, on disk (one safetensors file per example).

    The key is a hash of the base model id, the split layer and the example's token ids: a changed prompt
    template or model gets new entries, never stale ones. Files are written atomically.
    """

    def __init__(self, folder: PathLike, model_id: str, split: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.model_id, self.split = model_id, split

    def path(self, ids: Sequence[int]) -> Path:
        digest = hashlib.sha256(f"{self.model_id}:{self.split}:{list(ids)}".encode()).hexdigest()[:32]
        return self.folder / f"{digest}.safetensors"

    def get(self, ids: Sequence[int]) -> Any | None:
        from safetensors.torch import load_file

        path = self.path(ids)
        if not path.is_file():
            return None
        hidden = load_file(str(path))["hidden"]
        # states written before they were checked for float16 overflow are recomputed, not trained on
        return hidden if bool(_torch().isfinite(hidden).all()) else None

    def has(self, ids: Sequence[int]) -> bool:
        """Whether usable states are cached for ``ids`` (a file with overflowed values does not count)."""
        return self.get(ids) is not None

    def put(self, ids: Sequence[int], hidden: Any) -> None:
        from safetensors.torch import save_file

        path = self.path(ids)
        tmp = path.with_suffix(".tmp")
        save_file({"hidden": hidden.contiguous()}, str(tmp))
        os.replace(tmp, path)


class swapped_layers:
    """Run a decoder on a slice of its layers: ``with swapped_layers(model, 0, 20, norm=False): ...``.

    Inside, ``model.model`` runs layers ``[start, stop)`` only (and its final norm only when ``norm``), so
    it computes the frozen lower part (input ids in, hidden states out) or the trained upper part (hidden
    states in as ``inputs_embeds``). The full model is restored on exit.
    """

    def __init__(self, model: Any, start: int, stop: int | None = None, norm: bool = True) -> None:
        self.inner = _decoder(model)
        self.start, self.stop, self.norm = start, stop, norm

    def __enter__(self) -> Any:
        torch = _torch()
        self.layers, self.final_norm = self.inner.layers, self.inner.norm
        self.inner.layers = torch.nn.ModuleList(list(self.layers)[self.start : self.stop])
        if not self.norm:
            self.inner.norm = torch.nn.Identity()
        return self.inner

    def __exit__(self, *exc: object) -> None:
        self.inner.layers, self.inner.norm = self.layers, self.final_norm


def _decoder(model: Any) -> Any:
    inner = model
    while not hasattr(inner, "layers"):
        nxt = getattr(inner, "model", None) or getattr(inner, "base_model", None)
        if nxt is None or nxt is inner:
            raise ConfigError(f"{type(model).__name__} has no decoder layers: only Llama-style decoders can be tuned.")
        inner = nxt
    return inner


def lower_hidden_states(model: Any, batch: Sequence[Sequence[int]], split: int) -> list[Any]:
    """Output of decoder layers ``[0, split)`` for a batch of examples (one ``(tokens, hidden)`` each).

    Each is stored as float16, or as bfloat16 when its values overflow float16 (Gemma's residual stream holds
    values past 65,504). The batch is padded on the right under an attention mask, so each example's states
    are those it has alone.
    """
    torch = _torch()
    length = max(len(ids) for ids in batch)
    ids = torch.zeros(len(batch), length, dtype=torch.long)
    mask = torch.zeros(len(batch), length, dtype=torch.long)
    for row, tokens in enumerate(batch):
        ids[row, : len(tokens)] = torch.tensor(list(tokens))
        mask[row, : len(tokens)] = 1
    with torch.no_grad(), swapped_layers(model, 0, split, norm=False) as lower:
        out = lower(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    return [_compact(out[row, : len(tokens)]) for row, tokens in enumerate(batch)]


def _compact(hidden: Any) -> Any:
    """``hidden`` as float16 when it fits (finite), else bfloat16 (float16's size, float32's range)."""
    torch = _torch()
    half = hidden.to(torch.float16)
    return half if bool(torch.isfinite(half).all()) else hidden.to(torch.bfloat16)


def add_adapters(model: Any, config: TuneConfig) -> Any:
    """Wrap ``model`` with LoRA adapters on the top ``config.train_layers`` layers (peft)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise MissingDependencyError("peft", "transformers", purpose="fine-tuning") from exc
    total = len(_decoder(model).layers)
    if config.train_layers > total:
        raise ConfigError(f"train_layers={config.train_layers}, but the model has only {total} decoder layers.")
    _torch().manual_seed(config.seed)
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(TARGET_MODULES),
        layers_to_transform=list(range(total - config.train_layers, total)),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


@dataclass
class _Prepared:
    ids: list[list[int]]
    prompt_lengths: list[int]
    example_ids: list[str]


class ReplyTuner:
    """Fine-tunes LoRA adapters of the reply writer; :meth:`run` does everything, step by step.

    Args:
        out: Output folder: ``checkpoints/``, the finished adapter (the layout of
            :mod:`emotionlayer.components.llm.adapters`) and ``training.json``.
        config: Hyper-parameters.
        cache: Folder of the cached lower-layer states (default: ``out/hidden-cache``).
        model_path: Base model (transformers folder or ``.gguf``; default the packaged SmolLM2).
        resume: Carry on from the newest checkpoint in ``out`` (same config required).
        progress: Show progress bars.
    """

    def __init__(
        self,
        out: PathLike,
        config: TuneConfig | None = None,
        cache: PathLike | None = None,
        model_path: PathLike | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> None:
        self.out = Path(out)
        self.config = config or TuneConfig()
        self.cache_folder = Path(cache) if cache else self.out / "hidden-cache"
        self.model_path, self.resume, self.progress = model_path, resume, progress
        self.losses: list[float] = []
        self.start_step = 0

    def run(self, examples: Sequence[ReplyExample]) -> TuneResult:
        """Prepare (tokenise, cache the frozen layers), train, and write the adapter."""
        torch = _torch()
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        self._check_out()
        base, self.tokenizer, model_id = load_base(self.model_path)
        self.split = len(_decoder(base).layers) - self.config.train_layers
        data = self.prepare(base, model_id, examples)
        self.model = add_adapters(base, self.config)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=self.config.learning_rate, weight_decay=self.config.weight_decay)
        if self.resume:
            self._load_newest()
        started = time.perf_counter()
        self.train(data)
        ran = self.config.steps - self.start_step
        seconds = (time.perf_counter() - started) / ran if ran else None
        from ...components.llm.adapters import save_adapter
        from ...components.llm.packaged import PACKAGED_LLM_NAME

        base_name = Path(self.model_path).name if self.model_path is not None else PACKAGED_LLM_NAME
        save_adapter(self.model, self.out, base_model=base_name, alpha=self.config.alpha)
        result = TuneResult(
            out=self.out, steps=self.config.steps, examples=len(data.ids), losses=self.losses,
            seconds_per_step=seconds, cache_seconds=self.cache_seconds, resumed_from=self.start_step,
        )  # fmt: skip
        summary = {**asdict(result), "out": str(self.out), "config": asdict(self.config)}
        write_text_atomic(self.out / "training.json", json.dumps(summary, indent=1) + "\n")
        return result

    def _check_out(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        saved = self.out / "tune-config.json"
        mine = json.dumps(asdict(self.config), sort_keys=True)
        if saved.is_file() and saved.read_text() != mine and self.resume:
            raise ConfigError(
                f"{self.out} holds a run with other options ({saved.read_text()}); resume with the same "
                "options, or pass another --out."
            )
        if not self.resume and any(self.checkpoints()):
            raise ConfigError(f"{self.out} already has checkpoints: pass --resume to carry on, or another --out.")
        write_text_atomic(saved, mine)

    def prepare(self, model: Any, model_id: str, examples: Sequence[ReplyExample]) -> _Prepared:
        """Tokenise the examples (leaving out those over ``max_tokens``) and cache the frozen layers' output."""
        from ...parallel import Progress, with_progress

        data = _Prepared([], [], [])
        for example in examples:
            ids, prompt = tokenize_example(self.tokenizer, example)
            if len(ids) <= self.config.max_tokens and len(ids) > prompt:
                data.ids.append(ids)
                data.prompt_lengths.append(prompt)
                data.example_ids.append(example.id)
        if not data.ids:
            raise ConfigError(f"No example fits in max_tokens={self.config.max_tokens}.")
        self.cache = HiddenStateCache(self.cache_folder, model_id, self.split)
        todo = sorted({tuple(ids) for ids in data.ids if not self.cache.has(ids)}, key=len)
        chunks = [todo[i : i + self.config.batch_size] for i in range(0, len(todo), self.config.batch_size)]
        started = time.perf_counter()
        done = iter(chunks)
        if self.progress and chunks:
            done = with_progress(done, Progress(total=len(chunks), desc="caching frozen layers", unit="batch"))
        for chunk in done:
            for ids, hidden in zip(chunk, lower_hidden_states(model, chunk, self.split), strict=False):
                self.cache.put(ids, hidden)
        self.cache_seconds = time.perf_counter() - started
        logger.info("%d examples; %d cached now in %.0f s", len(data.ids), len(todo), self.cache_seconds)
        return data

    def batches(self, n: int, step: int) -> list[int]:
        """Example indices of optimizer step ``step``: epoch ``e``'s order depends only on ``(seed, e)``."""
        size = self.config.batch_size
        per_epoch = max(1, n // size)
        epoch, position = divmod(step, per_epoch)
        order = list(range(n))
        random.Random(self.config.seed * 100_003 + epoch).shuffle(order)
        return order[position * size : (position + 1) * size]

    def loss(self, data: _Prepared, indices: Sequence[int]) -> Any:
        """Mean cross-entropy over the reply tokens of a batch, running only the adapted top layers."""
        torch = _torch()
        states = [self.cache.get(data.ids[i]) for i in indices]
        length = max(s.shape[0] for s in states)
        hidden = torch.zeros(len(states), length, states[0].shape[1])
        mask = torch.zeros(len(states), length, dtype=torch.long)
        rows, cols, targets = [], [], []
        for b, (i, state) in enumerate(zip(indices, states, strict=False)):
            hidden[b, : state.shape[0]] = state.float()
            mask[b, : state.shape[0]] = 1
            ids, prompt = data.ids[i], data.prompt_lengths[i]
            for position in range(prompt - 1, len(ids) - 1):
                rows.append(b)
                cols.append(position)
                targets.append(ids[position + 1])
        with swapped_layers(self.model, self.split) as upper:
            out = upper(inputs_embeds=hidden, attention_mask=mask, use_cache=False).last_hidden_state
        logits = self.model.get_output_embeddings()(out[torch.tensor(rows), torch.tensor(cols)])
        return torch.nn.functional.cross_entropy(logits.float(), torch.tensor(targets))

    def train(self, data: _Prepared) -> None:
        """Optimizer steps from ``start_step`` to ``config.steps``, with checkpoints."""
        from ...parallel import Progress, with_progress

        torch = _torch()
        self.model.train()
        steps = iter(range(self.start_step, self.config.steps))
        if self.progress:
            steps = with_progress(
                steps, Progress(total=self.config.steps, initial=self.start_step, desc="fine-tuning", unit="step")
            )
        params = [p for p in self.model.parameters() if p.requires_grad]
        for step in steps:
            torch.manual_seed(self.config.seed * 1_000_003 + step)
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.learning_rate_at(step)
            loss = self.loss(data, self.batches(len(data.ids), step))
            if not bool(torch.isfinite(loss)):
                raise TrainingError(
                    f"The loss is {loss.item()} at step {step + 1}: training stopped before it could spoil the "
                    f"adapter. Lower --lr, or check that the base model runs in float32 on this prompt; the "
                    f"last good checkpoint in {self.out} can be resumed with --resume."
                )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.losses.append(round(loss.item(), 5))
            if (step + 1) % self.config.save_every == 0 and step + 1 < self.config.steps:
                self.save_checkpoint(step + 1)
        self.model.eval()

    def checkpoints(self) -> list[Path]:
        folder = self.out / "checkpoints"
        return sorted(folder.glob("step-*")) if folder.is_dir() else []

    def save_checkpoint(self, step: int) -> None:
        """Adapter weights, optimizer state and losses at ``step`` (safetensors + JSON), atomically."""
        import shutil

        from safetensors.torch import save_file

        from ..common.checkpoint import optimizer_to_files

        folder = self.out / "checkpoints" / f"step-{step:08d}"
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        trainable = {k: v.detach().contiguous() for k, v in self.model.named_parameters() if v.requires_grad}
        save_file(trainable, str(tmp / "adapter.safetensors"))
        tensors, plain = optimizer_to_files(self.optimizer.state_dict())
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps({"step": step, "optimizer": plain, "losses": self.losses}))
        os.replace(tmp, folder)
        for old in self.checkpoints()[:-2]:
            shutil.rmtree(old, ignore_errors=True)

    def _load_newest(self) -> None:
        from safetensors.torch import load_file

        from ..common.checkpoint import optimizer_from_files

        found = [c for c in self.checkpoints() if not c.name.endswith(".tmp")]
        if not found:
            return
        folder = found[-1]
        weights = load_file(str(folder / "adapter.safetensors"))
        missing = set(weights) - {k for k, _ in self.model.named_parameters()}
        if missing:
            raise ConfigError(f"Checkpoint {folder} does not match this model (e.g. {sorted(missing)[0]}).")
        self.model.load_state_dict(weights, strict=False)
        state = json.loads((folder / "state.json").read_text())
        tensors = load_file(str(folder / "optimizer.safetensors"))
        self.optimizer.load_state_dict(optimizer_from_files(tensors, state["optimizer"]))
        self.start_step, self.losses = int(state["step"]), list(state["losses"])
        logger.info("Resumed from %s (step %d).", folder, self.start_step)


#: StyleTalk styles kept whole by :func:`sample_rows` (the rarer ones; the common two are sampled).
COMMON_STYLES = ("neutral", "friendly")


def sample_rows(rows: Sequence[Any], limit: int, seed: int = 0) -> list[Any]:
    """At most ``limit`` rows: every row of the rarer styles, then a seeded sample of the common ones.

    The rarer styles (sad, cheerful, unfriendly) are where a reply must change with how a sentence was said,
    and each is under 10% of StyleTalk; a plain sample would keep only a few dozen of them.
    """
    rare = [r for r in rows if r.style not in COMMON_STYLES]
    common = [r for r in rows if r.style in COMMON_STYLES]
    random.Random(seed).shuffle(common)
    chosen = set(id(r) for r in rare[:limit] + common[: max(0, limit - len(rare))])
    return [r for r in rows if id(r) in chosen]
