"""Model pieces the speech LLMs share: layer-weighted sums, frame masks, the LLM's special tokens, the
encoder step of cached states or waves, and the checked copy of checkpoint weights.

E-chat mixes the encoder's hidden layers twice (speech and emotion), ParalinGPT once (its prefix); both
read every layer through :class:`LayerWeightedSum`, feed a frozen causal LM whose inputs start with
:func:`special_ids`' BOS, and decode with
:func:`emotionlayer.components.llm.decoding.sample_token` (shared with the ``transformers`` LLM backend).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Collection, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError

#: Label of a position the loss ignores (PyTorch's cross-entropy default).
IGNORE_INDEX = -100


class LayerWeightedSum(nn.Module):
    """A learned softmax-weighted sum of hidden layers (each layer normalised first, as in SUPERB).

    Args:
        num_layers: Hidden states combined.
    """

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_layers))

    @property
    def weights(self) -> torch.Tensor:
        """The layer weights (they sum to 1)."""
        return torch.softmax(self.logits, dim=0)

    def normed(self, states: torch.Tensor) -> torch.Tensor:
        """Each layer normalised (float32), shape unchanged: ``(layers, ..., d)``."""
        if states.shape[0] != self.logits.shape[0]:
            raise ConfigError(
                f"Expected {self.logits.shape[0]} hidden states, got {states.shape[0]}: the encoder does not match "
                "the one this model was built for."
            )
        return F.layer_norm(states.float(), states.shape[-1:])

    def mix(self, normed: torch.Tensor) -> torch.Tensor:
        """The weighted sum over the first (layer) axis of already normalised states: ``(layers, ...)`` -> ``(...)``."""
        return torch.einsum("l,l...->...", self.weights, normed)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """``(layers, batch, frames, d)`` -> ``(batch, frames, d)``."""
        return self.mix(self.normed(states))


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``(batch, frames)`` True where a frame is inside its clip."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def special_ids(tokenizer: Any, llm: Any) -> tuple[int, list[int]]:
    """The BOS id the input starts with (EOS when the tokenizer has none) and the ids that end a reply."""
    eos: list[int] = []
    for value in (tokenizer.eos_token_id, getattr(llm.generation_config, "eos_token_id", None)):
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, int) and item not in eos:
                eos.append(item)
    vocab = tokenizer.get_vocab()
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        if token in vocab and vocab[token] not in eos:
            eos.append(vocab[token])
    if not eos:
        raise ConfigError(
            "The LLM's tokenizer has no EOS token; the model needs one to end its targets. Set tokenizer.eos_token."
        )
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos[0]
    return int(bos), eos


def cache_argument(llm: Any) -> str:
    """The keyword of ``llm.forward`` that takes the key/value cache (transformers 5.2x renamed
    ``past_key_values`` to ``cache``; the old name warns, then goes away)."""
    return "cache" if "cache" in inspect.signature(llm.forward).parameters else "past_key_values"


def embed_ids(llm: Any, ids: Any, device: torch.device) -> torch.Tensor:
    """The LLM's input embeddings ``(len(ids), d)`` of token ids."""
    table = llm.get_input_embeddings()
    return table(torch.tensor(list(ids), dtype=torch.long, device=device))


def copy_weights(params: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """Copy checkpoint tensors into a model's parameters (and buffers) by name; the names loaded, sorted.

    Raises:
        ConfigError: a tensor's shape differs from its parameter's (the checkpoint was made with another config).
    """
    with torch.no_grad():
        for name, tensor in state.items():
            if params[name].shape != tensor.shape:
                raise ConfigError(
                    f"Checkpoint weight {name} has shape {tuple(tensor.shape)}, the model {tuple(params[name].shape)}; "
                    "the checkpoint was made with another config."
                )
            params[name].copy_(tensor.to(params[name].dtype))
    return sorted(state)


def load_checked_weights(
    params: dict[str, torch.Tensor],
    state: dict[str, torch.Tensor],
    needed: Collection[str],
    *,
    allowed: Collection[str] | None = None,
    partial: bool = False,
    made_for: str,
    missing_advice: str,
) -> list[str]:
    """Check a checkpoint's weight names, then copy its tensors (:func:`copy_weights`); the names loaded, sorted.

    Args:
        params: Name -> tensor of the model's weights (parameters and buffers) a checkpoint can fill.
        state: The checkpoint's weights.
        needed: Names the checkpoint must hold (the weights that train).
        allowed: Names the checkpoint may hold (default: exactly ``needed``).
        partial: Allow names of ``needed`` to be missing.
        made_for: What a checkpoint with other names was made for, in the message ("another encoder or shape").
        missing_advice: What to do when needed weights are missing, in the message.

    Raises:
        ConfigError: the checkpoint holds a name outside ``allowed``, lacks one of ``needed`` (unless
            ``partial``), or a shape differs.
    """
    unknown = sorted(set(state) - set(needed if allowed is None else allowed))
    if unknown:
        raise ConfigError(
            f"The checkpoint has weights this model lacks ({', '.join(unknown[:4])}...). It was made for "
            f"{made_for}; use the config.json saved beside it."
        )
    missing = sorted(set(needed) - set(state))
    if missing and not partial:
        raise ConfigError(
            f"The checkpoint lacks weights this model needs ({', '.join(missing[:4])}...). {missing_advice}"
        )
    return copy_weights(params, state)


def encoder_states(
    encoder: nn.Module,
    states: torch.Tensor | None,
    lengths: torch.Tensor | None,
    waves: Sequence[torch.Tensor] | None,
    *,
    caller: str,
    with_grad: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states and their lengths: the cached ``states`` given, or the encoder run on ``waves``.

    Args:
        encoder: The speech encoder (waves -> ``(states, lengths)``).
        states: Cached hidden states, or ``None`` to encode ``waves``.
        lengths: Frames per row of the cached ``states``.
        waves: Raw waveforms, used when ``states`` is ``None``.
        caller: Who needs them, in the message when neither is given.
        with_grad: Run the encoder with gradients (an encoder that trains); else without.

    Raises:
        ConfigError: neither ``states`` nor ``waves`` was given.
    """
    if states is None:
        if waves is None:
            raise ConfigError(f"{caller} needs hidden states or waveforms.")
        with contextlib.nullcontext() if with_grad else torch.no_grad():
            states, lengths = encoder(waves)
    assert lengths is not None
    return states, lengths


def target_labels(length: int, target: Sequence[int], device: torch.device) -> torch.Tensor:
    """Labels of one decoder-input row ``length`` long that ends with ``target``: its tokens there, ``-100`` before."""
    label = torch.full((length,), IGNORE_INDEX, dtype=torch.long, device=device)
    if target:
        label[-len(target) :] = torch.tensor(list(target), device=device)
    return label


def pad_rows(
    rows: Sequence[torch.Tensor],
    labels: Sequence[torch.Tensor],
    device: torch.device,
    weights: Sequence[torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A batch of decoder-input rows ``(positions, d)``, right-padded: ``(inputs_embeds, attention_mask, labels,
    label_weights)``; padding is masked out, labelled ``-100`` and weighs 0 (``label_weights`` is ``None``
    without ``weights``)."""
    width = max(r.shape[0] for r in rows)
    embeds = torch.zeros(len(rows), width, rows[0].shape[1], dtype=rows[0].dtype, device=device)
    mask = torch.zeros(len(rows), width, dtype=torch.long, device=device)
    label_out = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long, device=device)
    weight_out = torch.zeros(len(rows), width, device=device) if weights is not None else None
    for b, row in enumerate(rows):
        n = row.shape[0]
        embeds[b, :n], mask[b, :n], label_out[b, :n] = row, 1, labels[b]
        if weight_out is not None and weights is not None:
            weight_out[b, :n] = weights[b]
    return embeds, mask, label_out, weight_out


def next_token(values: torch.Tensor, fill: float) -> torch.Tensor:
    """``values`` of the next position at each position (logits at ``p`` predict the token at ``p + 1``); the
    last position gets ``fill``."""
    out = torch.full_like(values, fill)
    out[:, :-1] = values[:, 1:]
    return out
